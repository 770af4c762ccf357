"""The operator's settings: defaults, YAML file, environment and flags, and their errors."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest
from pydantic import ValidationError

from hrl_autoscaler.config import (
    CONFIG_FILE_ENV,
    MAX_EXECUTORS,
    MIN_EXECUTORS,
    QUERY_NAMES,
    WEIGHT_PRESETS,
    GuardrailDefaults,
    OperatorSettings,
    load_operator_settings,
)
from hrl_autoscaler.config.stages import (
    AnticipationDefaults,
    BreachFloorDefaults,
    CalmRuleDefaults,
    FallReleaseDefaults,
    HeadroomDefaults,
    MarginTrimDefaults,
    RaiseCapDefaults,
    RestartHoldDefaults,
    SurgeDefaults,
)
from hrl_autoscaler.runtime.core.anticipation import AnticipationSettings
from hrl_autoscaler.runtime.core.breachfloor import BreachFloorSettings
from hrl_autoscaler.runtime.core.calmrule import CalmRuleSettings
from hrl_autoscaler.runtime.core.fallrelease import FallReleaseSettings
from hrl_autoscaler.runtime.core.guardrails import GuardrailSettings
from hrl_autoscaler.runtime.core.headroom import HeadroomSettings
from hrl_autoscaler.runtime.core.margintrim import MarginTrimSettings
from hrl_autoscaler.runtime.core.raisecap import RaiseCapSettings
from hrl_autoscaler.runtime.core.restarthold import RestartHoldSettings
from hrl_autoscaler.runtime.core.sloguard import SloGuardSettings
from hrl_autoscaler.runtime.core.surge import SurgeSettings
from hrl_autoscaler.runtime.core.weights import PRESETS


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("HRL_AUTOSCALER_"):
            monkeypatch.delenv(name)


def test_defaults_are_the_documented_ones() -> None:
    s = load_operator_settings()
    assert (s.decision_interval_s, s.meta_interval_s) == (30.0, 600.0)
    assert s.window_s == 30.0
    assert s.guardrails.restart_cooldown_s == 300.0
    assert s.guardrails.scale_down_confirmations == GuardrailSettings().scale_down_confirmations
    assert s.defaults.weight_policy == "meta"
    assert s.defaults.mode == "auto"
    assert not s.peering
    assert s.namespaces == ()
    assert tuple(s.queries.templates()) == QUERY_NAMES


def test_the_operators_guardrails_default_to_the_evaluations() -> None:
    """config writes the numbers of core.guardrails.GuardrailSettings (it may not import core):
    the operator must do what the evaluation measured."""
    operator, evaluation = GuardrailDefaults(), GuardrailSettings()
    assert operator.max_step == evaluation.max_step
    assert operator.scale_down_confirmations == evaluation.scale_down_confirmations
    assert operator.deadband == evaluation.deadband
    assert operator.in_place_cooldown_s == evaluation.cooldown_s
    assert (evaluation.min_executors, evaluation.max_executors) == (MIN_EXECUTORS, MAX_EXECUTORS)


def test_the_operators_slo_guard_defaults_to_the_evaluations() -> None:
    g, guard = GuardrailDefaults(), SloGuardSettings()
    assert (g.slo_guard, g.slo_guard_latency_factor) == (guard.enabled, guard.latency_factor)
    assert (g.slo_guard_cycles, g.slo_guard_min_gain) == (guard.breach_cycles, guard.min_gain)
    assert g.slo_guard_target_utilisation == guard.target_utilisation
    assert g.slo_guard_catch_up_s == guard.catch_up_s
    assert g.slo_guard_calm_target_utilisation == guard.calm_target_utilisation
    assert g.slo_guard_calm_input_rise == guard.calm_input_rise


@pytest.mark.parametrize(
    ("operator", "runtime"),
    [
        (MarginTrimDefaults, MarginTrimSettings),
        (RaiseCapDefaults, RaiseCapSettings),
        (BreachFloorDefaults, BreachFloorSettings),
        (SurgeDefaults, SurgeSettings),
        (FallReleaseDefaults, FallReleaseSettings),
        (AnticipationDefaults, AnticipationSettings),
        (CalmRuleDefaults, CalmRuleSettings),
        (RestartHoldDefaults, RestartHoldSettings),
        (HeadroomDefaults, HeadroomSettings),
    ],
)
def test_the_optional_stages_settings_are_the_runtimes(operator: type, runtime: type) -> None:
    """The operator builds each stage from ``model_dump()``: same fields, same defaults."""
    assert operator().model_dump() == asdict(runtime())


def test_an_optional_stage_is_set_in_the_config_file_and_checked(tmp_path: Path) -> None:
    config = tmp_path / "operator.yaml"
    config.write_text("guardrails:\n  anticipation:\n    enabled: false\n    seasons: 3\n")
    s = load_operator_settings(config_file=config)
    assert not s.guardrails.anticipation.enabled
    assert s.guardrails.anticipation.seasons == 3
    assert s.guardrails.margin_trim.enabled
    config.write_text("guardrails:\n  anticipation:\n    correlation: 2\n")
    with pytest.raises(ValidationError, match=r"anticipation\.correlation"):
        load_operator_settings(config_file=config)


def test_the_weight_preset_names_are_the_presets() -> None:
    assert tuple(sorted(PRESETS)) == WEIGHT_PRESETS


def test_every_default_query_is_batched_across_applications() -> None:
    for name, promql in load_operator_settings().queries.templates().items():
        assert promql.startswith(("sum by (", "max by (", "count by (")), name
        assert "application_name" in promql or "group" in promql, name


def test_yaml_then_environment_then_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "operator.yaml"
    config.write_text(
        "decision_interval_s: 10\n"
        "meta_interval_s: 120\n"
        "prometheus_url: http://from-yaml:9090\n"
        "defaults:\n  mode: recommend\n"
        "queries:\n  latency: 'max by (namespace, application_name) (my_latency)'\n"
    )
    monkeypatch.setenv("HRL_AUTOSCALER_META_INTERVAL_S", "300")
    monkeypatch.setenv("HRL_AUTOSCALER_DEFAULTS__ACTUATION", "in-place")
    monkeypatch.setenv("HRL_AUTOSCALER_NAMESPACES", "iot, billing")
    s = load_operator_settings(config, prometheus_url="http://flag:9090", decision_interval_s=None)
    assert s.decision_interval_s == 10.0  # YAML (flag not given)
    assert s.meta_interval_s == 300.0  # environment over YAML
    assert s.prometheus_url == "http://flag:9090"  # flag over YAML
    assert (s.defaults.mode, s.defaults.actuation) == ("recommend", "in-place")
    assert s.queries.latency == "max by (namespace, application_name) (my_latency)"
    assert s.queries.backlog == OperatorSettings().queries.backlog
    assert s.namespaces == ("iot", "billing")


def test_config_file_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("decision_interval_s: 7\n")
    monkeypatch.setenv(CONFIG_FILE_ENV, str(config))
    assert load_operator_settings().decision_interval_s == 7.0


def test_a_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"config file .*absent\.yaml does not exist"):
        load_operator_settings(tmp_path / "absent.yaml")


def test_unknown_keys_and_bad_values_are_named(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("decision_intervall_s: 10\n")
    with pytest.raises(ValidationError, match="decision_intervall_s"):
        load_operator_settings(config)
    with pytest.raises(ValidationError, match="decision_interval_s"):
        load_operator_settings(decision_interval_s=0)
    with pytest.raises(ValidationError, match="weight_policy 'cheap' is not one of meta, fixed"):
        load_operator_settings(defaults={"weight_policy": "cheap"})
    with pytest.raises(ValidationError, match=r"min_executors \(5\) > max_executors \(2\)"):
        load_operator_settings(defaults={"min_executors": 5, "max_executors": 2})


def test_prometheus_auth_is_one_kind_and_secrets_stay_hidden() -> None:
    with pytest.raises(ValidationError, match="go together"):
        load_operator_settings(prometheus_username="u")
    with pytest.raises(ValidationError, match="not both"):
        load_operator_settings(
            prometheus_bearer_token="t", prometheus_username="u", prometheus_password="p"
        )
    s = load_operator_settings(prometheus_bearer_token="s3cret")
    assert "s3cret" not in repr(s)
    assert "s3cret" not in s.model_dump_json()
