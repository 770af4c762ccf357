"""Guardrails: bounds, step limits, cooldown and scale-down hysteresis."""

from __future__ import annotations

from hrl_autoscaler.runtime.core.guardrails import Guardrails, GuardrailSettings


def test_scale_up_passes_at_once_and_is_clamped() -> None:
    g = Guardrails(GuardrailSettings(max_executors=12))
    decision = g.apply(proposed=30, current=4, now_s=0.0)
    assert decision.target == 12
    assert "clamped" in decision.reasons[0]


def test_scale_down_needs_consecutive_confirmations_and_takes_the_highest() -> None:
    g = Guardrails(GuardrailSettings(scale_down_confirmations=3))
    assert g.apply(5, 10, 0.0).target == 10
    assert g.apply(7, 10, 30.0).target == 10
    assert g.apply(6, 10, 60.0).target == 7


def test_a_higher_proposal_resets_the_scale_down_count() -> None:
    g = Guardrails(GuardrailSettings(scale_down_confirmations=2))
    assert g.apply(5, 10, 0.0).target == 10
    assert g.apply(10, 10, 30.0).target == 10
    assert g.apply(5, 10, 60.0).target == 10
    assert g.apply(5, 10, 90.0).target == 5


def test_cooldown_blocks_changes_after_a_change() -> None:
    g = Guardrails(GuardrailSettings(cooldown_s=300.0))
    assert g.apply(8, 4, 0.0).target == 8
    held = g.apply(12, 8, 120.0)
    assert held.target == 8
    assert any("cooldown" in r for r in held.reasons)
    assert g.apply(12, 8, 301.0).target == 12


def test_step_limit_and_deadband() -> None:
    g = Guardrails(GuardrailSettings(max_step=3, deadband=1))
    assert g.apply(15, 5, 0.0).target == 8
    assert g.apply(9, 8, 30.0).target == 8


def test_cooldown_origin_survives_a_rebuild() -> None:
    settings = GuardrailSettings(cooldown_s=300.0, scale_down_confirmations=2)
    old = Guardrails(settings)
    assert old.apply(8, 4, 0.0).target == 8
    assert old.apply(5, 8, 30.0).target == 8  # one confirmation pending
    new = Guardrails(settings)
    new.carry_over(old)
    assert new.last_change_s == 0.0
    assert new.apply(12, 8, 100.0).target == 8  # still cooling down
    restored = Guardrails(settings)
    restored.last_change_s = 0.0
    assert restored.apply(12, 8, 301.0).target == 12
