"""bench/stage_grid.py: variants of the decision step's settings, written on the command line."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from hrl_autoscaler.config import OperatorSettings

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def grid_module() -> ModuleType:
    sys.path.insert(0, str(BENCH))  # the script imports its sibling bench/validation.py
    try:
        spec = importlib.util.spec_from_file_location("stage_grid", BENCH / "stage_grid.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def test_overrides_reach_the_nested_stage_settings(grid_module: ModuleType) -> None:
    overrides = grid_module.parse_overrides(
        "breach_floor.enabled=false; slo_guard_calm_target_utilisation=null;"
        "raise_cap.target_utilisation=0.85; restart_hold.min_drop=0.35"
    )
    settings = grid_module.apply_overrides(OperatorSettings.built_in(), overrides)
    g = settings.guardrails
    assert not g.breach_floor.enabled
    assert g.slo_guard_calm_target_utilisation is None
    assert g.raise_cap.target_utilisation == 0.85
    assert g.restart_hold.min_drop == 0.35
    assert g.margin_trim == OperatorSettings.built_in().guardrails.margin_trim
    name = grid_module.variant_name("hrl", overrides)
    assert name.startswith("hrl(breach_floor.enabled=false,")


def test_a_grid_is_every_combination(grid_module: ModuleType) -> None:
    combos = grid_module.grid("breach_floor.hold_s=1800,7200;breach_floor.margin=1,2")
    assert len(combos) == 4
    assert {"breach_floor.hold_s": 7200, "breach_floor.margin": 2} in combos


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("breach_floor.holds=1", "unknown guardrails setting 'breach_floor.holds'"),
        ("nothing.here=1", "unknown guardrails setting 'nothing.here'"),
        ("raise_cap.target_utilisation", "expected key=value"),
        ("raise_cap.target_utilisation=high", "expected JSON"),
    ],
)
def test_a_bad_override_names_the_term(grid_module: ModuleType, text: str, message: str) -> None:
    def parse_and_apply() -> None:
        overrides = grid_module.parse_overrides(text)
        grid_module.apply_overrides(OperatorSettings.built_in(), overrides)

    with pytest.raises(SystemExit, match=message):
        parse_and_apply()


def test_a_value_out_of_range_is_refused_by_the_settings(grid_module: ModuleType) -> None:
    overrides = grid_module.parse_overrides("breach_floor.hold_s=0")
    with pytest.raises(ValueError, match="hold_s"):
        grid_module.apply_overrides(OperatorSettings.built_in(), overrides)
