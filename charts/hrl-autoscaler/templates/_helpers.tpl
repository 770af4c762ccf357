{{/*
Names, labels and the operator's config.yaml.
*/}}

{{- define "hrl-autoscaler.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The full name: <release>-<chart>, or just the release name when it already contains the chart
name (a release called hrl-autoscaler gives hrl-autoscaler, not hrl-autoscaler-hrl-autoscaler).
*/}}
{{- define "hrl-autoscaler.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "hrl-autoscaler.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "hrl-autoscaler.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hrl-autoscaler.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "hrl-autoscaler.labels" -}}
helm.sh/chart: {{ include "hrl-autoscaler.chart" . }}
{{ include "hrl-autoscaler.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: spark-hrl-autoscaler
{{- end -}}

{{- define "hrl-autoscaler.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "hrl-autoscaler.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "hrl-autoscaler.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* Where Secrets and ConfigMaps are mounted in the operator container. */}}
{{- define "hrl-autoscaler.tokenDir" -}}/var/run/secrets/hrl-autoscaler/prometheus-token{{- end -}}
{{- define "hrl-autoscaler.caDir" -}}/etc/hrl-autoscaler/prometheus-ca{{- end -}}
{{- define "hrl-autoscaler.configDir" -}}/etc/hrl-autoscaler{{- end -}}

{{/*
Values that cannot be checked by values.schema.json alone: fail with a message naming them.
*/}}
{{- define "hrl-autoscaler.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.peering.enabled) -}}
{{- fail (printf "replicaCount=%d needs peering.enabled=true: without peering every replica would act on the same applications" (int .Values.replicaCount)) -}}
{{- end -}}
{{- if gt (int .Values.defaults.minExecutors) (int .Values.defaults.maxExecutors) -}}
{{- fail (printf "defaults.minExecutors (%d) must not exceed defaults.maxExecutors (%d)" (int .Values.defaults.minExecutors) (int .Values.defaults.maxExecutors)) -}}
{{- end -}}
{{- $auth := .Values.prometheus.auth -}}
{{- if and $auth.bearerToken.secretName $auth.basicAuth.secretName -}}
{{- fail "prometheus.auth: set bearerToken.secretName or basicAuth.secretName, not both" -}}
{{- end -}}
{{- $ca := .Values.prometheus.tls.ca -}}
{{- if and $ca.secretName $ca.configMapName -}}
{{- fail "prometheus.tls.ca: set secretName or configMapName, not both" -}}
{{- end -}}
{{- $chartKeys := fromYaml (include "hrl-autoscaler.chartConfig" .) -}}
{{- range $key, $_ := .Values.extraConfig -}}
{{- if hasKey $chartKeys $key -}}
{{- fail (printf "extraConfig.%s: set by the chart from its own values; use those instead" $key) -}}
{{- end -}}
{{- if has $key (list "kubeconfig" "prometheus_bearer_token" "prometheus_password") -}}
{{- fail (printf "extraConfig.%s: not allowed (credentials go in Secrets, see prometheus.auth; in a cluster the service account is used)" $key) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The settings the chart derives from its values, as YAML (keys = OperatorSettings fields).
*/}}
{{- define "hrl-autoscaler.chartConfig" -}}
{{- $v := .Values -}}
{{- $config := dict
  "prometheus_url" $v.prometheus.url
  "prometheus_timeout_s" $v.prometheus.timeoutSeconds
  "prometheus_verify_tls" (not $v.prometheus.tls.insecureSkipVerify)
  "namespaces" $v.watchNamespaces
  "decision_interval_s" $v.decisionIntervalSeconds
  "meta_interval_s" $v.metaIntervalSeconds
  "max_metric_age_s" $v.maxMetricAgeSeconds
  "first_batch_grace_s" $v.firstBatchGraceSeconds
  "resync_interval_s" $v.resyncIntervalSeconds
  "http_host" "0.0.0.0"
  "http_port" 8080
  "log_level" $v.logLevel
  "peering" $v.peering.enabled
  "peering_name" $v.peering.name
  "peering_lifetime_s" $v.peering.lifetimeSeconds
  "defaults" (dict
    "weight_policy" $v.defaults.weightPolicy
    "objective" $v.defaults.objective
    "mode" $v.defaults.mode
    "actuation" $v.defaults.actuation
    "min_executors" $v.defaults.minExecutors
    "max_executors" $v.defaults.maxExecutors
    "latency_slo_ms" $v.defaults.latencySloMs
    "cost_per_executor_hour" $v.defaults.costPerExecutorHour
    "excluded_periods" $v.defaults.excludedPeriods
    "restart_time_tracking" $v.defaults.restartTimeTracking
    "ineffective_scaling_detection" $v.defaults.ineffectiveScalingDetection
    "ineffective_scaling_threshold" $v.defaults.ineffectiveScalingThreshold)
  "guardrails" (dict
    "restart_cooldown_s" $v.guardrails.restartCooldownSeconds
    "in_place_cooldown_s" $v.guardrails.inPlaceCooldownSeconds
    "max_step" $v.guardrails.maxStep
    "scale_down_max_step" $v.guardrails.scaleDownMaxStep
    "scale_down_max_factor" $v.guardrails.scaleDownMaxFactor
    "scale_down_confirmations" $v.guardrails.scaleDownConfirmations
    "deadband" $v.guardrails.deadband
    "slo_guard" $v.guardrails.sloGuard
    "slo_guard_latency_factor" $v.guardrails.sloGuardLatencyFactor
    "slo_guard_cycles" $v.guardrails.sloGuardCycles
    "slo_guard_min_gain" $v.guardrails.sloGuardMinGain
    "slo_guard_target_utilisation" $v.guardrails.sloGuardTargetUtilisation
    "slo_guard_catch_up_s" $v.guardrails.sloGuardCatchUpSeconds
    "slo_guard_calm_target_utilisation" $v.guardrails.sloGuardCalmTargetUtilisation
    "calm_rule" (dict "enabled" $v.guardrails.calmRule)
    "margin_trim" (dict "enabled" $v.guardrails.marginTrim)
    "raise_cap" (dict "enabled" $v.guardrails.raiseCap)
    "breach_floor" (dict "enabled" $v.guardrails.breachFloor)
    "surge" (dict "enabled" $v.guardrails.surge)
    "fall_release" (dict "enabled" $v.guardrails.fallRelease)
    "restart_hold" (dict "enabled" $v.guardrails.restartHold)
    "headroom" (dict "enabled" $v.guardrails.headroom)
    "anticipation" (dict "enabled" $v.guardrails.anticipation)
    "restart_time_limit_s" $v.guardrails.restartTimeLimitSeconds
    "ineffective_scaling_release" $v.guardrails.ineffectiveScalingRelease)
-}}
{{- if not (kindIs "invalid" $v.metricsWindowSeconds) -}}
{{- $_ := set $config "metrics_window_s" $v.metricsWindowSeconds -}}
{{- end -}}
{{- if $v.prometheus.queries -}}
{{- $_ := set $config "queries" $v.prometheus.queries -}}
{{- end -}}
{{- if $v.prometheus.auth.bearerToken.secretName -}}
{{- $_ := set $config "prometheus_bearer_token_file" (printf "%s/%s" (include "hrl-autoscaler.tokenDir" .) $v.prometheus.auth.bearerToken.key) -}}
{{- end -}}
{{- if or $v.prometheus.tls.ca.secretName $v.prometheus.tls.ca.configMapName -}}
{{- $_ := set $config "prometheus_ca_file" (printf "%s/%s" (include "hrl-autoscaler.caDir" .) $v.prometheus.tls.ca.key) -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}

{{/* config.yaml: the chart's settings plus extraConfig. */}}
{{- define "hrl-autoscaler.config" -}}
{{- $config := fromYaml (include "hrl-autoscaler.chartConfig" .) -}}
{{- toYaml (merge $config .Values.extraConfig) -}}
{{- end -}}

{{/*
The rules the operator needs wherever it watches (ClusterRole or one Role per namespace).
*/}}
{{- define "hrl-autoscaler.rules" -}}
# Watch the SparkApplications; read one before patching it; patch spec.executor.instances
# (restart actuation) or annotations (in-place target, meta weights). Never create or delete.
- apiGroups: ["sparkoperator.k8s.io"]
  resources: ["sparkapplications"]
  verbs: ["get", "list", "watch", "patch"]
# One Event per decision on the SparkApplication, and on an ExecutorBudget when its caps
# change or it is rejected.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
# The state ConfigMap hrl-autoscaler-state-<app> beside each application: listed at start
# (label selector), then patched, or created the first time.
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["list", "create", "patch"]
# ExecutorBudgets: listed at start and watched; only their status is written (a merge patch of
# the caps, usage and Ready condition). Their spec is the user's.
- apiGroups: ["hrl-autoscaler.io"]
  resources: ["executorbudgets"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["hrl-autoscaler.io"]
  resources: ["executorbudgets/status"]
  verbs: ["get", "patch"]
{{- end -}}
