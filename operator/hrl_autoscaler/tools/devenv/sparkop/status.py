"""A submitted application's status from its pods, as the Spark Operator writes it.

Pure: pods in (as the API returns them, dicts), ``status`` out. The Spark Operator reads the
application id from the driver pod's ``spark-app-selector`` label (Spark sets it to
``spark.app.id``), the state from the driver pod's phase, and one ``executorState`` entry per
executor pod; this module does the same so the autoscaler's matching of metrics
(``application_id`` label = ``status.sparkApplicationId``) works as it would with the real one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

APP_ID_LABEL = "spark-app-selector"
ROLE_LABEL = "spark-role"

#: Driver pod phase -> ``status.applicationState.state``.
DRIVER_STATES = {
    "Pending": "SUBMITTED",
    "Running": "RUNNING",
    "Succeeded": "COMPLETED",
    "Failed": "FAILED",
    "Unknown": "UNKNOWN",
}
#: Executor pod phase -> ``executorState`` value.
EXECUTOR_STATES = {
    "Pending": "PENDING",
    "Running": "RUNNING",
    "Succeeded": "COMPLETED",
    "Failed": "FAILED",
    "Unknown": "UNKNOWN",
}


def _phase(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def _labels(pod: Mapping[str, Any]) -> Mapping[str, str]:
    return (pod.get("metadata") or {}).get("labels") or {}


def application_status(
    *,
    driver: Mapping[str, Any] | None,
    executors: Iterable[Mapping[str, Any]],
    attempts: int,
    submitted: bool,
    error: str | None = None,
) -> dict[str, Any]:
    """``status`` of one application.

    ``submitted``: ``spark-submit`` has created the driver (or is running); ``error``: the last
    submission failed with this message (``SUBMISSION_FAILED``, as the Spark Operator reports).
    """
    # driverInfo is the one field the CRD's status requires
    status: dict[str, Any] = {
        "submissionAttempts": attempts,
        "executionAttempts": attempts,
        "driverInfo": {},
    }
    if error is not None:
        status["applicationState"] = {"state": "SUBMISSION_FAILED", "errorMessage": error[-1000:]}
        return status
    if driver is None:
        status["applicationState"] = {"state": "SUBMITTED" if submitted else ""}
        return status
    meta = driver.get("metadata") or {}
    state = DRIVER_STATES.get(_phase(driver), "UNKNOWN")
    if meta.get("deletionTimestamp"):
        state = "INVALIDATING"
    status["applicationState"] = {"state": state}
    app_id = _labels(driver).get(APP_ID_LABEL)
    if app_id:
        status["sparkApplicationId"] = app_id
    status["driverInfo"] = {"podName": meta.get("name", "")}
    pod_ip = (driver.get("status") or {}).get("podIP")
    if pod_ip:
        status["driverInfo"]["podIP"] = pod_ip
    status["executorState"] = {
        str((pod.get("metadata") or {}).get("name")): EXECUTOR_STATES.get(_phase(pod), "UNKNOWN")
        for pod in executors
        if not app_id or _labels(pod).get(APP_ID_LABEL) == app_id
    }
    return status


__all__ = ["APP_ID_LABEL", "DRIVER_STATES", "EXECUTOR_STATES", "ROLE_LABEL", "application_status"]
