"""The Spark Operator's submission role, for real: ``spark-submit`` to the local node.

For every SparkApplication annotated ``emulator.hrl-autoscaler.io/mode: spark-submit`` this
controller does what the Spark Operator does with one: submit it (``spark-submit --master
k8s://... --deploy-mode cluster``, the command from :mod:`.spec`), follow its driver and
executor pods into ``status`` (:mod:`.status`), and on a spec change delete the driver, wait for
it to go and submit again (a new application id) - the restart actuation. Deleting the
application deletes its pods. Other applications stay with the emulator's simulation.

It polls (every ``poll_s``) rather than watches: a handful of applications, and a poll has no
watch to re-establish after the API server restarts.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from hrl_autoscaler.tools.devenv.emulator.app import EMULATOR_PREFIX, spec_fingerprint
from hrl_autoscaler.tools.devenv.sparkop.spec import (
    APP_NAME_LABEL,
    SUBMISSION_LABEL,
    SubmissionSpecError,
    submit_command,
)
from hrl_autoscaler.tools.devenv.sparkop.status import ROLE_LABEL, application_status

log = logging.getLogger("hrl_autoscaler.sparkop")

GROUP, VERSION, PLURAL = "sparkoperator.k8s.io", "v1beta2", "sparkapplications"
MODE_ANNOTATION = EMULATOR_PREFIX + "mode"
#: The value of :data:`MODE_ANNOTATION` that hands an application to this controller.
SUBMIT_MODE = "spark-submit"
#: spark-submit with ``waitAppCompletion=false`` returns once the driver pod exists (a JVM start
#: and a few API calls: about 5-10 s here); longer means it is stuck.
SUBMIT_TIMEOUT_S = 180.0


def wants_submission(app: Mapping[str, Any]) -> bool:
    annotations = (app.get("metadata") or {}).get("annotations") or {}
    return annotations.get(MODE_ANNOTATION) == SUBMIT_MODE


@dataclass
class _Submission:
    """What the controller knows of one application."""

    fingerprint: str
    attempts: int = 0
    submission_id: str = ""
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    error: str | None = None
    #: The spec changed: the old driver is being deleted before the next submission.
    invalidating: bool = False
    last_status: dict[str, Any] = field(default_factory=dict)


class SparkSubmitController:
    """Submits and follows the applications that ask for ``spark-submit``."""

    def __init__(
        self,
        api: k8s_client.ApiClient,
        *,
        master: str,
        spark_submit: Path,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        client_conf: Callable[[], Mapping[str, str]] | None = None,
        poll_s: float = 1.0,
    ) -> None:
        """``client_conf``: called before each submission for the submission client's
        credentials (a fresh token: :func:`hrl_autoscaler.tools.spark.k8s_auth.mint_auth`)."""
        self.objects = k8s_client.CustomObjectsApi(api)
        self.core = k8s_client.CoreV1Api(api)
        self.master = master
        self.spark_submit = spark_submit
        self.log_dir = log_dir
        self.env = dict(env if env is not None else os.environ)
        self.client_conf = client_conf
        self.poll_s = poll_s
        self.apps: dict[tuple[str, str], _Submission] = {}
        self.stop_event = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one pass ------------------------------------------------------------------------------
    def sync(self) -> None:
        """Reconcile every annotated application once (and forget the deleted ones)."""
        listing = cast(
            dict[str, Any], self.objects.list_cluster_custom_object(GROUP, VERSION, PLURAL)
        )
        seen: set[tuple[str, str]] = set()
        for app in listing.get("items", []):
            if not wants_submission(app):
                continue
            meta = app["metadata"]
            key = (meta["namespace"], meta["name"])
            seen.add(key)
            try:
                self._reconcile(key, app)
            except ApiException as exc:
                log.warning("%s/%s: API error (%s), next pass again", *key, exc.reason)
        for key in [k for k in self.apps if k not in seen]:
            log.info("%s/%s deleted: deleting its pods", *key)
            self._delete_pods(*key)
            self._reap(self.apps.pop(key))

    def _reconcile(self, key: tuple[str, str], app: Mapping[str, Any]) -> None:
        namespace, name = key
        fingerprint = spec_fingerprint(dict(app.get("spec") or {}))
        record = self.apps.get(key)
        if record is None:
            record = self.apps[key] = _Submission(fingerprint=fingerprint)
            self._submit(key, app, record)
        elif fingerprint != record.fingerprint:
            log.info("%s/%s: spec changed, deleting the driver to resubmit", namespace, name)
            record.fingerprint = fingerprint
            record.invalidating = True
            self._reap(record)
            self._delete_pods(namespace, name)
        driver, executors = self._pods(namespace, name, record)
        if record.invalidating:
            if self._any_driver(namespace, name):
                self._write_status(key, record, {"applicationState": {"state": "INVALIDATING"}})
                return
            record.invalidating = False
            self._write_status(key, record, {"applicationState": {"state": "PENDING_RERUN"}})
            self._submit(key, app, record)
            driver, executors = None, []
        self._check_process(key, record)
        status = application_status(
            driver=driver,
            executors=executors,
            attempts=record.attempts,
            submitted=record.process is not None or driver is not None,
            error=record.error,
        )
        self._write_status(key, record, status)

    # -- submission ----------------------------------------------------------------------------
    def _submit(self, key: tuple[str, str], app: Mapping[str, Any], record: _Submission) -> None:
        record.attempts += 1
        record.error = None
        record.submission_id = uuid.uuid4().hex[:16]
        try:
            command = submit_command(
                app,
                master=self.master,
                spark_submit=self.spark_submit,
                submission_id=record.submission_id,
                client_conf=self.client_conf() if self.client_conf is not None else None,
            )
        except SubmissionSpecError as exc:
            record.error = f"invalid spec: {exc}"
            log.error("%s/%s: not submitted: %s", *key, exc)
            return
        except (ApiException, OSError, ValueError) as exc:
            record.error = f"no credentials for spark-submit: {exc}"
            log.error("%s/%s: not submitted: %s", *key, record.error)
            return
        self.log_dir.mkdir(parents=True, exist_ok=True)
        record.log_path = self.log_dir / f"{key[0]}.{key[1]}.{record.attempts}.submit.log"
        with record.log_path.open("wb") as out:
            record.process = subprocess.Popen(
                list(command.argv), stdout=out, stderr=subprocess.STDOUT, env=self.env
            )
        log.info(
            "%s/%s: spark-submit (attempt %d, submission %s, driver pod %s), log %s",
            *key,
            record.attempts,
            record.submission_id,
            command.driver_pod,
            record.log_path,
        )

    def _check_process(self, key: tuple[str, str], record: _Submission) -> None:
        process = record.process
        if process is None or process.poll() is None:
            return
        record.process = None
        if process.returncode != 0:
            tail = self._log_tail(record.log_path)
            record.error = f"spark-submit exited {process.returncode}: {tail}"
            log.error("%s/%s: %s", *key, record.error)

    @staticmethod
    def _log_tail(path: Path | None, lines: int = 15) -> str:
        if path is None or not path.is_file():
            return ""
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(text[-lines:])

    @staticmethod
    def _reap(record: _Submission) -> None:
        if record.process is not None and record.process.poll() is None:
            record.process.kill()
            record.process.wait(timeout=10)
        record.process = None

    # -- pods ----------------------------------------------------------------------------------
    def _pods(
        self, namespace: str, name: str, record: _Submission
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        selector = f"{SUBMISSION_LABEL}={record.submission_id}"
        pods = self.core.list_namespaced_pod(namespace, label_selector=selector)
        items = [self.core.api_client.sanitize_for_serialization(p) for p in pods.items]
        drivers = [p for p in items if p["metadata"].get("labels", {}).get(ROLE_LABEL) == "driver"]
        executors = [
            p for p in items if p["metadata"].get("labels", {}).get(ROLE_LABEL) == "executor"
        ]
        return (drivers[0] if drivers else None), executors

    def _any_driver(self, namespace: str, name: str) -> bool:
        selector = f"{APP_NAME_LABEL}={name},{ROLE_LABEL}=driver"
        return bool(self.core.list_namespaced_pod(namespace, label_selector=selector).items)

    def _delete_pods(self, namespace: str, name: str) -> None:
        """The driver first (its executors, services and config maps are its dependents), then
        any executor left, so nothing of the old run keeps reading the source."""
        for role in ("driver", "executor"):
            try:
                self.core.delete_collection_namespaced_pod(
                    namespace,
                    label_selector=f"{APP_NAME_LABEL}={name},{ROLE_LABEL}={role}",
                    grace_period_seconds=5,
                )
            except ApiException as exc:
                if exc.status != 404:
                    raise

    # -- status --------------------------------------------------------------------------------
    def _write_status(
        self, key: tuple[str, str], record: _Submission, status: dict[str, Any]
    ) -> None:
        if status == record.last_status:
            return
        state = (status.get("applicationState") or {}).get("state")
        if state != (record.last_status.get("applicationState") or {}).get("state"):
            log.info("%s/%s: %s (app id %s)", *key, state, status.get("sparkApplicationId"))
        # A merge patch keeps map keys it does not name: executors that are gone are nulled.
        gone = set(record.last_status.get("executorState") or {}) - set(
            status.get("executorState") or {}
        )
        patch = dict(status)
        if gone:
            patch["executorState"] = {**dict.fromkeys(gone), **(status.get("executorState") or {})}
        self.objects.patch_namespaced_custom_object_status(
            GROUP, VERSION, key[0], PLURAL, key[1], {"status": patch}
        )
        record.last_status = status

    # -- lifecycle -----------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.sync()
            except Exception as exc:  # the API server restarting: keep the role alive
                log.warning("submission pass failed (%s); retrying", exc)
            self.stop_event.wait(self.poll_s)

    def start(self) -> SparkSubmitController:
        self._thread = threading.Thread(target=self._loop, name="sparkop", daemon=True)
        self._thread.start()
        log.info("Spark Operator role: spark-submit to %s for annotated applications", self.master)
        return self

    def stop(self) -> None:
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for record in self.apps.values():
            self._reap(record)


__all__ = ["MODE_ANNOTATION", "SUBMIT_MODE", "SparkSubmitController", "wants_submission"]
