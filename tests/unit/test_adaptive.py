"""Learned restart times and ineffective-scaling detection (Flink's habits), through the loop.

Driven like :mod:`tests.unit.test_pipeline`: a fake clock, scripted samples, a recording
cluster; what is checked is what the operator wrote, said and remembered.
"""

from __future__ import annotations

import json

import pytest
from prometheus_client import generate_latest

from hrl_autoscaler.config import SimParams, load_operator_settings
from hrl_autoscaler.runtime.core.annotations import PREFIX, TARGET_ANNOTATION, AppSettings
from hrl_autoscaler.runtime.core.appstate import AppState
from hrl_autoscaler.runtime.core.effectiveness import (
    EffectivenessDetector,
    EffectivenessSettings,
    contention_gain,
)
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.reporting import Reason, parse_message
from hrl_autoscaler.runtime.core.restarttime import RestartTimer, learned_seconds
from hrl_autoscaler.runtime.service.telemetry import OperatorMetrics
from hrl_autoscaler.tools.devenv.emulator.app import EMULATOR_PREFIX, EmulatedApp

from .test_pipeline import KEY, Harness, MemoryStore, make, sample

IN_PLACE = {PREFIX + "actuation": "in-place"}
LATE_GUARD = load_operator_settings(guardrails={"slo_guard_latency_factor": 3.0})
"""For the ineffective-scaling scripts (saturated executors at 1.5 x SLO): the SLO guard acts
only at 3 x SLO, so the scale-up judged is the policy's, not the guard's."""


def _set_state(h: Harness, state: str) -> None:
    h.cluster.edit(KEY, lambda b: b["status"]["applicationState"].update(state=state))


def _restart(h: Harness, cycles_down: int, running: int) -> None:
    """The Spark Operator resubmits for ``cycles_down`` cycles, then the run is back."""
    _set_state(h, "SUBMITTED")
    for _ in range(cycles_down):
        h.cycle()
    _set_state(h, "RUNNING")
    h.source.samples[KEY] = sample(running=running, active=running * 0.7, cores=running)
    h.cycle()


def _stored(h: Harness) -> AppState:
    return AppState.from_json(h.store.states[KEY])


# -- restart and start-up times --------------------------------------------------------------


def test_a_restart_is_timed_kept_in_the_state_and_reported() -> None:
    h = make()
    h.cycle()  # 2 -> 6, a restart
    assert h.cluster.spec_patches() == [6]
    _restart(h, cycles_down=3, running=6)  # back 4 cycles after the patch
    assert _stored(h).restart_s == [120.0]
    [event] = h.events.of(Reason.RESTART_TIME_LEARNED)
    assert event.type == "Normal"
    fields = parse_message(event.message)
    assert fields["kind"] == "restart"
    assert fields["seconds"] == "120"
    assert fields["previous_s"] == "none"
    assert fields["used_for"] == "restart cooldown, DS2 catch-up"
    runtime = h.autoscaler.runtime(KEY)
    assert runtime is not None
    assert runtime.decision_step.ds2.ctx.restart_downtime_s == 120.0


def test_the_cooldown_grows_by_what_a_restart_takes_beyond_the_assumed_one() -> None:
    """Learned 120 s against the assumed 90 s: the 300 s cooldown becomes 330 s."""
    h = make()
    h.cycle()
    _restart(h, cycles_down=3, running=6)
    h.policy.wanted = 9
    for _ in range(6):  # up to 300 s after the change: the default cooldown would let go here
        h.cycle()
    assert h.cluster.spec_patches() == [6]
    h.cycle()  # 330 s
    assert h.cluster.spec_patches() == [6, 9]


def test_a_restart_not_back_within_the_limit_is_not_learned() -> None:
    settings = load_operator_settings(guardrails={"restart_time_limit_s": 60.0})
    h = make(settings=settings)
    h.cycle()
    _restart(h, cycles_down=3, running=6)
    assert _stored(h).restart_s == []
    assert h.events.of(Reason.RESTART_TIME_LEARNED) == []


def test_the_learned_time_never_exceeds_the_limit() -> None:
    """A state written under a higher limit is planned with at most the current one."""
    store = MemoryStore()
    store.states[KEY] = AppState(restart_s=[2000.0, 100.0]).to_json()
    h = make(store=store)
    h.cycle()
    runtime = h.autoscaler.runtime(KEY)
    assert runtime is not None
    assert runtime.decision_step.ds2.ctx.restart_downtime_s == 900.0
    assert runtime.decision_step.guardrails.settings.cooldown_s == 300.0 + 900.0 - 90.0
    assert learned_seconds([], 900.0) is None
    assert learned_seconds([30.0, 50.0], 40.0) == 40.0


def test_the_restart_history_is_bounded() -> None:
    settings = load_operator_settings(
        guardrails={"restart_time_history": 3, "restart_cooldown_s": 0.0}
    )
    h = make(settings=settings)
    for n in range(5):
        h.policy.wanted = 3 + n
        h.cycle()
        _restart(h, cycles_down=n + 1, running=3 + n)
    assert _stored(h).restart_s == [120.0, 150.0, 180.0]  # of 60, 90, ..., 180


def test_an_in_place_scale_up_times_the_executors_start() -> None:
    h = make(IN_PLACE)
    h.cycle()  # target 6
    h.source.samples[KEY] = sample(running=2)
    h.cycle()  # still starting
    h.source.samples[KEY] = sample(running=6, active=4.0, cores=6.0)
    h.cycle()
    assert _stored(h).startup_s == [60.0]
    assert _stored(h).restart_s == []
    [event] = h.events.of(Reason.RESTART_TIME_LEARNED)
    assert parse_message(event.message)["kind"] == "startup"


def test_restart_time_tracking_can_be_switched_off_per_application() -> None:
    h = make({PREFIX + "restart-time-tracking": "false"})
    h.cycle()
    _restart(h, cycles_down=3, running=6)
    assert _stored(h).restart_s == []
    runtime = h.autoscaler.runtime(KEY)
    assert runtime is not None
    assert runtime.decision_step.ds2.ctx.restart_downtime_s == 90.0


def test_a_bad_tracking_annotation_is_rejected_by_name() -> None:
    h = make({PREFIX + "restart-time-tracking": "yes"})
    h.cycle()
    [event] = h.events.of(Reason.INVALID_ANNOTATION)
    assert parse_message(event.message)["accepted"] == "true or false"


def test_an_old_state_without_the_new_fields_loads() -> None:
    """States written before times were kept (and their last good settings) still load."""
    old = {
        "schema": 1,
        "app_uid": "uid-hospital",
        "last_change_at": 1_700_000_000.0,
        "last_target": 6,
        "decisions": [],
        "meta": [],
        "executor_rate_eps": 1100.0,
        "last_good_settings": {
            "weight_policy": "meta",
            "objective": "slo",
            "min_executors": 1,
            "max_executors": 20,
            "mode": "auto",
            "actuation": "restart",
            "latency_slo_ms": 2000.0,
            "cost_per_executor_hour": 0.49,
        },
    }
    state = AppState.from_json(json.dumps(old))
    assert state.restart_s == []
    assert state.startup_s == []
    assert state.last_good_settings is not None
    settings = AppSettings.model_validate(state.last_good_settings)
    assert settings.restart_time_tracking
    assert settings.ineffective_scaling_detection
    again = AppState.from_json(state.to_json())
    assert again.restart_s == []
    with pytest.raises(ValueError, match="not seconds"):
        AppState.from_json(json.dumps({**old, "restart_s": [-1]}))


def test_a_new_scaling_write_replaces_the_measurement_in_progress() -> None:
    timer = RestartTimer()
    timer.started("startup", 0.0, 6)
    timer.started(None, 10.0, 4)  # an in-place scale-down: nothing to time
    assert timer.observe(40.0, 6, 900.0) is None
    timer.started("startup", 50.0, 8)
    assert timer.observe(80.0, 7, 900.0) is None
    measured = timer.observe(110.0, 8, 900.0)
    assert measured is not None
    assert measured.seconds == 60.0


# -- ineffective scaling ---------------------------------------------------------------------


def _steady(h: Harness, running: int, processing: float, cycles: int, **kw: float) -> None:
    """Saturated executors (every slot busy) processing ``processing`` events/s."""
    backlog = kw.pop("backlog", 60_000.0)
    h.source.samples[KEY] = sample(
        input_eps=kw.pop("input_eps", 5000.0),
        processing_eps=processing,
        active=float(running),
        cores=float(running),
        running=running,
        latency_ms=3000.0,
        backlog=backlog,
    )
    for _ in range(cycles):
        h.cycle()


def _targets(h: Harness) -> list[str]:
    return [a[TARGET_ANNOTATION] for a in h.cluster.annotation_patches() if TARGET_ANNOTATION in a]


def _scale_up_4_to_8(h: Harness, processing_after: float, **kw: float) -> None:
    _steady(h, 4, 4000.0, 4)  # 3 capacity measurements at 4 executors
    h.policy.wanted = 8
    _steady(h, 4, 4000.0, 1)  # writes 8
    assert _targets(h) == ["8"]
    _steady(h, 8, processing_after, 5, **kw)  # up, then 3 whole intervals measured


def test_a_scale_up_that_adds_no_capacity_is_reported_and_further_ones_held() -> None:
    h = make(IN_PLACE, instances=4, wanted=4, settings=LATE_GUARD)
    _scale_up_4_to_8(h, processing_after=4100.0)
    [event] = h.events.of(Reason.INEFFECTIVE_SCALING)
    assert event.type == "Warning"
    fields = parse_message(event.message)
    assert fields["executors"] == "4->8"
    assert fields["observed_eps"] == "100"
    assert float(fields["expected_eps"]) > 3000  # 4000 x the contention law's 4 -> 8 gain
    assert fields["threshold"] == "0.1"
    assert fields["input_eps"] == "5000"
    assert "held" in fields["action"]
    h.policy.wanted = 12
    _steady(h, 8, 4100.0, 3)
    assert _targets(h) == ["8"]
    assert h.telemetry.decisions[-1].proposed == 8
    assert h.telemetry.decisions[-1].target == 8


def test_the_hold_is_released_when_the_load_changes_materially() -> None:
    h = make(IN_PLACE, instances=4, wanted=4, settings=LATE_GUARD)
    _scale_up_4_to_8(h, processing_after=4100.0)
    h.policy.wanted = 12
    _steady(h, 8, 4100.0, 2, input_eps=5900.0)  # +18%: still held
    assert _targets(h) == ["8"]
    _steady(h, 8, 4100.0, 1, input_eps=6500.0)  # +30%
    assert _targets(h) == ["8", "12"]
    [cleared] = h.events.of(Reason.INEFFECTIVE_SCALING_CLEARED)
    assert parse_message(cleared.message)["executors"] == "8"


def test_a_scale_up_that_helped_is_not_reported() -> None:
    h = make(IN_PLACE, instances=4, wanted=4, settings=LATE_GUARD)
    _scale_up_4_to_8(h, processing_after=7000.0)
    assert h.events.of(Reason.INEFFECTIVE_SCALING) == []
    h.policy.wanted = 12
    _steady(h, 8, 7000.0, 1)
    assert _targets(h) == ["8", "12"]


def test_a_scale_up_followed_by_a_lower_load_is_not_judged() -> None:
    """Idle new executors say nothing about what they could add."""
    h = make(IN_PLACE, instances=4, wanted=4, settings=LATE_GUARD)
    _steady(h, 4, 4000.0, 4)
    h.policy.wanted = 8
    _steady(h, 4, 4000.0, 1)
    h.source.samples[KEY] = sample(
        input_eps=2000.0,
        processing_eps=2000.0,
        active=2.0,
        cores=8.0,
        running=8,
        latency_ms=500.0,
        backlog=0.0,
    )
    for _ in range(6):
        h.cycle()
    assert h.events.of(Reason.INEFFECTIVE_SCALING) == []


def test_detection_can_be_switched_off_per_application() -> None:
    h = make(
        {**IN_PLACE, PREFIX + "ineffective-scaling-detection": "false"},
        4,
        wanted=4,
        settings=LATE_GUARD,
    )
    _scale_up_4_to_8(h, processing_after=4100.0)
    assert h.events.of(Reason.INEFFECTIVE_SCALING) == []


def test_the_threshold_is_an_annotation() -> None:
    """Gained 700 of an expected ~3200 eps: effective at 0.1, ineffective at 0.5."""
    lenient = make(IN_PLACE, instances=4, wanted=4, settings=LATE_GUARD)
    _scale_up_4_to_8(lenient, processing_after=4700.0)
    assert lenient.events.of(Reason.INEFFECTIVE_SCALING) == []
    strict = make(
        {**IN_PLACE, PREFIX + "ineffective-scaling-threshold": "0.5"},
        4,
        wanted=4,
        settings=LATE_GUARD,
    )
    _scale_up_4_to_8(strict, processing_after=4700.0)
    [event] = strict.events.of(Reason.INEFFECTIVE_SCALING)
    assert parse_message(event.message)["threshold"] == "0.5"


# -- metrics and the emulator ----------------------------------------------------------------


def test_the_adaptive_metrics_are_exported_and_forgotten() -> None:
    metrics = OperatorMetrics()
    metrics.adaptive.learned_time(KEY, "restart", 120.0)
    metrics.adaptive.learned_time(KEY, "startup", 40.0)
    metrics.adaptive.ineffective_scaling(KEY, blocked=True, detected=True)
    text = generate_latest(metrics.registry).decode()
    labels = 'application="hospital",namespace="iot"'
    assert f"hrl_autoscaler_restart_seconds{{{labels}}} 120.0" in text
    assert f"hrl_autoscaler_executor_startup_seconds{{{labels}}} 40.0" in text
    assert f"hrl_autoscaler_scale_up_blocked{{{labels}}} 1.0" in text
    assert f"hrl_autoscaler_ineffective_scalings_total{{{labels}}} 1.0" in text
    metrics.forget(KEY)
    assert 'application="hospital"' not in generate_latest(metrics.registry).decode()


def test_the_pipeline_feeds_the_adaptive_metrics() -> None:
    h = make(IN_PLACE, instances=4, wanted=4, settings=LATE_GUARD)
    h.autoscaler.telemetry = h.autoscaler.ctx.telemetry = OperatorMetrics()
    _scale_up_4_to_8(h, processing_after=4100.0)
    text = generate_latest(h.autoscaler.ctx.telemetry.registry).decode()
    assert 'hrl_autoscaler_scale_up_blocked{application="hospital",namespace="iot"} 1.0' in text
    assert "hrl_autoscaler_executor_startup_seconds{" in text


def test_the_emulator_takes_per_application_parameters() -> None:
    annotations = {EMULATOR_PREFIX + "contention": "1", EMULATOR_PREFIX + "restart-downtime-s": "x"}
    app = EmulatedApp("ns", "a", {"executor": {"instances": 2}}, annotations, SimParams(), 0.0, 1)
    assert app.params.scaling_contention == 1.0
    assert app.params.restart_downtime_s == SimParams().restart_downtime_s  # "x" is ignored
    assert app.params.capacity_eps(8) == pytest.approx(app.params.capacity_eps(1))


def test_the_detector_needs_a_measured_before_and_lifts_its_block_when_switched_off() -> None:
    detector = EffectivenessDetector(EffectivenessSettings(samples=2), contention=0.03)

    def at(t: float, count: int, running: int, processing: float) -> SystemMetrics:
        return SystemMetrics(
            5000.0, processing, 50_000.0, 1.0, 0.5, 3000.0, count, running, time_s=t
        )

    assert contention_gain(4, 8, 0.0) == pytest.approx(2.0)
    detector.observe(at(0, 4, 4, 4000.0), 2000.0)
    detector.observe(at(30, 8, 4, 4000.0), 2000.0)  # scaled after one sample: no 'before'
    for t in (60, 90, 120, 150):
        found, _ = detector.observe(at(t, 8, 8, 4000.0), 2000.0)
        assert found is None
    for t in (180, 210, 240, 270, 300):  # two samples at 8, then 8 -> 12 judged
        found, _ = detector.observe(
            at(t, 12 if t >= 210 else 8, 12 if t >= 240 else 8, 4050.0), 2000.0
        )
    assert found is not None
    assert (found.before, found.after) == (8, 12)
    assert detector.ceiling() == 12
    detector.reconfigure(EffectivenessSettings(enabled=False))
    assert detector.ceiling() is None
