"""A SparkApplication's spec as the ``spark-submit`` command the Spark Operator would run.

The real Spark Operator cannot be built here (its Go module is refused), so on the local node the
emulator plays its submission role for the applications that ask for it. This module is the
pure half: spec in, argv out, no process and no client, so every field mapping is unit-tested.

Honoured fields (everything else is refused or ignored as listed in :data:`IGNORED_FIELDS`):

==============================================  =================================================
spec field                                      becomes
==============================================  =================================================
``type`` (Python, Scala, Java)                  Python: the main file is a ``.py``; others need
                                                ``mainClass`` (``--class``)
``mode`` (cluster only)                         ``--deploy-mode cluster``
``image``, ``imagePullPolicy``                  ``spark.kubernetes.container.image[.pullPolicy]``
``mainApplicationFile``, ``mainClass``,         the primary resource, ``--class``, its arguments
``arguments``
``sparkConf``                                   ``--conf`` each (after ours, so a user's wins,
                                                except the names the operator owns)
``driver.cores`` / ``executor.cores``           ``spark.driver.cores`` / ``spark.executor.cores``
``*.coreRequest``, ``*.coreLimit``              ``spark.kubernetes.{driver,executor}.{request,
                                                limit}.cores``
``*.memory``, ``*.memoryOverhead``              ``spark.{driver,executor}.memory[Overhead]``
``*.labels``, ``*.annotations``                 ``spark.kubernetes.{driver,executor}.{label,
                                                annotation}.K``
``*.env`` (``name``/``value`` only), ``envVars``  ``spark.kubernetes.driverEnv.K``,
                                                ``spark.executorEnv.K``
``*.javaOptions``                               ``spark.{driver,executor}.extraJavaOptions``
``driver.serviceAccount``                       ``spark.kubernetes.authenticate.driver.
                                                serviceAccountName``
``driver.podName``                              ``spark.kubernetes.driver.pod.name`` (default
                                                ``<name>-driver``, as the operator does)
``executor.instances``                          ``spark.executor.instances``
``executor.deleteOnTermination``                ``spark.kubernetes.executor.deleteOnTermination``
``dynamicAllocation``                           ``spark.dynamicAllocation.{enabled,
                                                initialExecutors, minExecutors, maxExecutors,
                                                shuffleTracking.enabled, shuffleTracking.timeout}``
``volumes`` (hostPath, emptyDir) +              ``spark.kubernetes.{driver,executor}.volumes.
``*.volumeMounts``                              <type>.<name>.mount.path`` and ``.options.*``
==============================================  =================================================

As the Spark Operator does, the submission labels both pod kinds with
``sparkoperator.k8s.io/app-name`` and ``sparkoperator.k8s.io/submission-id`` (how the status is
found again) and does not wait for the application (``waitAppCompletion=false``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

APP_NAME_LABEL = "sparkoperator.k8s.io/app-name"
SUBMISSION_LABEL = "sparkoperator.k8s.io/submission-id"
LAUNCHED_LABEL = "sparkoperator.k8s.io/launched-by-spark-operator"

#: Fields the submission ignores, with the reason (documented for users; not an error).
IGNORED_FIELDS: dict[str, str] = {
    "sparkVersion": "the image decides the Spark version",
    "pythonVersion": "the image's PYSPARK_PYTHON decides",
    "restartPolicy": "a failed application stays FAILED (no retries)",
    "suspend": "not emulated",
    "timeToLiveSeconds": "not emulated",
    "monitoring": "Spark 4's built-in Prometheus endpoints are used instead",
}
#: Fields the submission cannot honour: an application using them is refused, not run wrongly.
UNSUPPORTED_FIELDS = (
    "deps",
    "hadoopConf",
    "hadoopConfigMap",
    "sparkConfigMap",
    "proxyUser",
    "batchScheduler",
    "imagePullSecrets",
)
#: What a ``driver`` / ``executor`` section may hold here; anything else (sidecars, init
#: containers, security contexts, affinity, ...) would need the operator's pod templates or
#: webhook, so it is refused rather than dropped.
POD_FIELDS = frozenset(
    {
        "cores",
        "coreRequest",
        "coreLimit",
        "memory",
        "memoryOverhead",
        "javaOptions",
        "labels",
        "annotations",
        "env",
        "envVars",
        "volumeMounts",
        "image",
        "serviceAccount",
        "podName",
        "instances",
        "deleteOnTermination",
    }
)
TYPES = ("Python", "Scala", "Java")
#: Spark settings, labels, annotations, environment names: no space and no '=' (``--conf K=V``);
#: Spark's own keys use '*' (``spark.metrics.conf.*.sink...``).
_KEY = re.compile(r"^[^\s=]+$")


class SubmissionSpecError(ValueError):
    """The spec cannot be submitted; the message names the field and what is accepted."""


@dataclass(frozen=True)
class SubmitCommand:
    """The ``spark-submit`` argv (the binary first) for one submission."""

    argv: tuple[str, ...]
    driver_pod: str
    submission_id: str


def _text(value: Any, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise SubmissionSpecError(f"{field}: expected a string or number, got {value!r}")
    return str(value)


def _mapping(value: Any, field: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SubmissionSpecError(f"{field}: expected a mapping, got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str) or not _KEY.match(key):
            raise SubmissionSpecError(
                f"{field}: key {key!r} must be non-empty, without spaces or '='"
            )
    return value


def _pod_confs(role: str, pod: Mapping[str, Any], volumes: Mapping[str, Any]) -> dict[str, str]:
    """The ``--conf`` settings of ``spec.driver`` or ``spec.executor``."""
    spark = "driver" if role == "driver" else "executor"
    field = f"spec.{role}"
    unknown = sorted(set(pod) - POD_FIELDS)
    if unknown:
        raise SubmissionSpecError(
            f"{field}.{unknown[0]}: not supported by the local Spark Operator role (a {role} "
            f"may set {', '.join(sorted(POD_FIELDS))})"
        )
    conf: dict[str, str] = {}
    if "cores" in pod:
        conf[f"spark.{spark}.cores"] = _text(pod["cores"], f"{field}.cores")
    for key, name in (("coreRequest", "request"), ("coreLimit", "limit")):
        if key in pod:
            conf[f"spark.kubernetes.{spark}.{name}.cores"] = _text(pod[key], f"{field}.{key}")
    for key, name in (("memory", "memory"), ("memoryOverhead", "memoryOverhead")):
        if key in pod:
            conf[f"spark.{spark}.{name}"] = _text(pod[key], f"{field}.{key}")
    if "javaOptions" in pod:
        conf[f"spark.{spark}.extraJavaOptions"] = _text(pod["javaOptions"], f"{field}.javaOptions")
    for key, value in _mapping(pod.get("labels"), f"{field}.labels").items():
        conf[f"spark.kubernetes.{spark}.label.{key}"] = _text(value, f"{field}.labels.{key}")
    for key, value in _mapping(pod.get("annotations"), f"{field}.annotations").items():
        conf[f"spark.kubernetes.{spark}.annotation.{key}"] = _text(
            value, f"{field}.annotations.{key}"
        )
    env_prefix = "spark.kubernetes.driverEnv." if role == "driver" else "spark.executorEnv."
    for key, value in _mapping(pod.get("envVars"), f"{field}.envVars").items():
        conf[env_prefix + key] = _text(value, f"{field}.envVars.{key}")
    for i, item in enumerate(pod.get("env") or []):
        where = f"{field}.env[{i}]"
        if not isinstance(item, Mapping) or "name" not in item:
            raise SubmissionSpecError(f"{where}: expected {{name, value}}")
        if "valueFrom" in item:
            raise SubmissionSpecError(
                f"{where}.valueFrom: not supported by this submission (only name/value pairs)"
            )
        conf[env_prefix + _text(item["name"], f"{where}.name")] = _text(
            item.get("value", ""), f"{where}.value"
        )
    for i, mount in enumerate(pod.get("volumeMounts") or []):
        where = f"{field}.volumeMounts[{i}]"
        name = _text(mount.get("name"), f"{where}.name")
        if name not in volumes:
            raise SubmissionSpecError(f"{where}.name: no spec.volumes entry named {name!r}")
        kind, options = volumes[name]
        base = f"spark.kubernetes.{spark}.volumes.{kind}.{name}"
        conf[f"{base}.mount.path"] = _text(mount.get("mountPath"), f"{where}.mountPath")
        if mount.get("readOnly"):
            conf[f"{base}.mount.readOnly"] = "true"
        for option, value in options.items():
            conf[f"{base}.options.{option}"] = value
    return conf


def _volumes(spec: Mapping[str, Any]) -> dict[str, tuple[str, dict[str, str]]]:
    """``spec.volumes`` by name: Spark's volume type and its options."""
    found: dict[str, tuple[str, dict[str, str]]] = {}
    for i, volume in enumerate(spec.get("volumes") or []):
        where = f"spec.volumes[{i}]"
        name = _text(volume.get("name"), f"{where}.name")
        if "hostPath" in volume:
            host = volume["hostPath"] or {}
            options = {"path": _text(host.get("path"), f"{where}.hostPath.path")}
            if host.get("type"):
                options["type"] = _text(host["type"], f"{where}.hostPath.type")
            found[name] = ("hostPath", options)
        elif "emptyDir" in volume:
            empty = volume["emptyDir"] or {}
            options = {}
            if empty.get("medium"):
                options["medium"] = _text(empty["medium"], f"{where}.emptyDir.medium")
            if empty.get("sizeLimit"):
                options["sizeLimit"] = _text(empty["sizeLimit"], f"{where}.emptyDir.sizeLimit")
            found[name] = ("emptyDir", options)
        else:
            raise SubmissionSpecError(
                f"{where}: only hostPath and emptyDir volumes are supported, got "
                f"{sorted(k for k in volume if k != 'name')}"
            )
    return found


def _dynamic_allocation(spec: Mapping[str, Any]) -> dict[str, str]:
    dyn = _mapping(spec.get("dynamicAllocation"), "spec.dynamicAllocation")
    if not dyn.get("enabled"):
        return {}
    conf = {"spark.dynamicAllocation.enabled": "true"}
    where = "spec.dynamicAllocation"
    for key in ("initialExecutors", "minExecutors", "maxExecutors"):
        if key in dyn:
            conf[f"spark.dynamicAllocation.{key}"] = _text(dyn[key], f"{where}.{key}")
    tracking = dyn.get("shuffleTrackingEnabled", True)
    conf["spark.dynamicAllocation.shuffleTracking.enabled"] = str(bool(tracking)).lower()
    if "shuffleTrackingTimeout" in dyn:
        timeout = _text(dyn["shuffleTrackingTimeout"], f"{where}.shuffleTrackingTimeout")
        conf["spark.dynamicAllocation.shuffleTracking.timeout"] = f"{timeout}ms"
    return conf


def submit_command(
    app: Mapping[str, Any],
    *,
    master: str,
    spark_submit: Path,
    submission_id: str,
    client_conf: Mapping[str, str] | None = None,
) -> SubmitCommand:
    """The ``spark-submit`` command for ``app`` (a SparkApplication object as a dict).

    ``master``: the API server as Spark wants it (``k8s://https://host:port``);
    ``client_conf``: the submission client's credentials (``spark.kubernetes.authenticate.
    submission.*``), which no spec may override.
    """
    meta = app.get("metadata") or {}
    name, namespace = meta.get("name"), meta.get("namespace") or "default"
    if not name:
        raise SubmissionSpecError("metadata.name: required")
    spec = app.get("spec") or {}
    for field in UNSUPPORTED_FIELDS:
        if spec.get(field):
            raise SubmissionSpecError(
                f"spec.{field}: not supported by the local Spark Operator role (supported: the "
                "fields listed in hrl_autoscaler.tools.devenv.sparkop.spec)"
            )
    kind = spec.get("type")
    if kind not in TYPES:
        raise SubmissionSpecError(f"spec.type: expected one of {', '.join(TYPES)}, got {kind!r}")
    mode = spec.get("mode", "cluster")
    if mode != "cluster":
        raise SubmissionSpecError(f"spec.mode: only 'cluster' is supported, got {mode!r}")
    main_file = spec.get("mainApplicationFile")
    if not main_file:
        raise SubmissionSpecError("spec.mainApplicationFile: required (e.g. local:///app/job.py)")
    main_file = _text(main_file, "spec.mainApplicationFile")
    image = spec.get("image") or (spec.get("driver") or {}).get("image")
    if not image:
        raise SubmissionSpecError("spec.image: required (the driver and executor image)")
    driver = _mapping(spec.get("driver"), "spec.driver")
    executor = _mapping(spec.get("executor"), "spec.executor")
    volumes = _volumes(spec)
    driver_pod = _text(driver.get("podName") or f"{name}-driver", "spec.driver.podName")
    labels = {APP_NAME_LABEL: name, SUBMISSION_LABEL: submission_id, LAUNCHED_LABEL: "true"}

    conf: dict[str, str] = {
        "spark.app.name": name,
        "spark.kubernetes.namespace": namespace,
        "spark.kubernetes.container.image": _text(image, "spec.image"),
        "spark.kubernetes.submission.waitAppCompletion": "false",
    }
    if spec.get("imagePullPolicy"):
        conf["spark.kubernetes.container.image.pullPolicy"] = _text(
            spec["imagePullPolicy"], "spec.imagePullPolicy"
        )
    if driver.get("serviceAccount"):
        conf["spark.kubernetes.authenticate.driver.serviceAccountName"] = _text(
            driver["serviceAccount"], "spec.driver.serviceAccount"
        )
    if "instances" in executor:
        conf["spark.executor.instances"] = _text(executor["instances"], "spec.executor.instances")
    if "deleteOnTermination" in executor:
        conf["spark.kubernetes.executor.deleteOnTermination"] = str(
            bool(executor["deleteOnTermination"])
        ).lower()
    conf.update(_pod_confs("driver", driver, volumes))
    conf.update(_pod_confs("executor", executor, volumes))
    conf.update(_dynamic_allocation(spec))
    for key, value in _mapping(spec.get("sparkConf"), "spec.sparkConf").items():
        conf[key] = _text(value, f"spec.sparkConf.{key}")
    # Owned by the operator role: the status is found again by these, so a user cannot move them.
    conf.update(client_conf or {})
    conf["spark.kubernetes.driver.pod.name"] = driver_pod
    for role in ("driver", "executor"):
        for key, value in labels.items():
            conf[f"spark.kubernetes.{role}.label.{key}"] = value

    argv = [str(spark_submit), "--master", master, "--deploy-mode", "cluster"]
    if spec.get("mainClass"):
        argv += ["--class", _text(spec["mainClass"], "spec.mainClass")]
    elif kind != "Python":
        raise SubmissionSpecError(f"spec.mainClass: required for type {kind}")
    argv += ["--name", name]
    for key, value in conf.items():
        argv += ["--conf", f"{key}={value}"]
    argv.append(main_file)
    argv += [_text(a, f"spec.arguments[{i}]") for i, a in enumerate(spec.get("arguments") or [])]
    return SubmitCommand(argv=tuple(argv), driver_pod=driver_pod, submission_id=submission_id)


__all__ = [
    "APP_NAME_LABEL",
    "IGNORED_FIELDS",
    "LAUNCHED_LABEL",
    "SUBMISSION_LABEL",
    "UNSUPPORTED_FIELDS",
    "SubmissionSpecError",
    "SubmitCommand",
    "submit_command",
]
