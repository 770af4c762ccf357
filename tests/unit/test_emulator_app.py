"""The emulated driver's cold start: what Spark shows before a run's first micro-batch."""

from __future__ import annotations

from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.tools.devenv.emulator.app import FIRST_BATCH_ANNOTATION, EmulatedApp
from hrl_autoscaler.tools.devenv.emulator.exposition import registries

SPEC = {"executor": {"instances": 2}}
RATE = "emulator.hrl-autoscaler.io/rate"


def _values(app: EmulatedApp) -> dict[str, float]:
    """Streaming gauges and busy slots as Prometheus would scrape them."""
    out: dict[str, float] = {}
    for registry in registries(lambda: [app]).values():
        for family in text_string_to_metric_families(generate_latest(registry).decode()):
            for sample in family.samples:
                if sample.name.endswith(("inputRate_total_Value", "latency_Value")):
                    out[sample.name.rsplit("_iot_", 1)[1]] = sample.value
                elif sample.name == "metrics_executor_activeTasks":
                    out["active"] = out.get("active", 0.0) + sample.value
    return out


def test_a_run_reports_zeros_with_busy_slots_until_its_first_batch() -> None:
    annotations = {RATE: "300", FIRST_BATCH_ANNOTATION: "20"}
    app = EmulatedApp("ns", "app", SPEC, annotations, SimParams(), 0.0, 1)
    app.advance(6.0)  # past the submit delay: RUNNING, 1 s into the run
    assert app.state == "RUNNING"
    assert app.first_batch_pending
    cold = _values(app)
    assert cold["inputRate_total_Value"] == cold["latency_Value"] == 0.0
    assert cold["active"] == 2.0
    app.advance(30.0)  # 25 s into the run
    assert not app.first_batch_pending
    warm = _values(app)
    assert warm["inputRate_total_Value"] > 0
    assert warm["latency_Value"] > 0
    assert warm["active"] < 2.0
    # a spec change restarts the run: a new application id, and a new cold start
    app.apply_spec({"executor": {"instances": 3}}, 30.0)
    app.advance(31.0)  # INVALIDATING -> PENDING_RERUN
    app.advance(30.0 + SimParams().restart_downtime_s + 1.0)
    assert app.state == "RUNNING"
    assert app.first_batch_pending


def test_without_the_annotation_there_is_no_cold_start() -> None:
    app = EmulatedApp("ns", "app", SPEC, {RATE: "300"}, SimParams(), 0.0, 1)
    app.advance(6.0)
    assert not app.first_batch_pending
    assert _values(app)["latency_Value"] > 0
