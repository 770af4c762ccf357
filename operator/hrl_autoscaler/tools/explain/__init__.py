"""``hrl-autoscaler explain``: why one SparkApplication runs as it does.

Users coming from Flink's autoscaler and KEDA ask "which setting is in force, and where does it
come from?" and "why did it scale?". The answers are spread over the application's annotations,
the operator's settings (chart ConfigMap, file or environment), the state ConfigMap
``hrl-autoscaler-state-<app>``, the application's Events and an ExecutorBudget's status. This
package reads them (:mod:`.gather`, the only module that talks to the API server), works out the
provenance of each setting (:mod:`.opconfig`, :mod:`.provenance`), the history (:mod:`.history`),
assembles one :class:`~.model.Explanation` (:mod:`.assemble`) and renders it (:mod:`.render`).
"""
