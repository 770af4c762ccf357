"""Controller names accepted by ``evaluate --controllers`` and how each is built."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from hrl_autoscaler.research.baselines.ds2 import DS2Controller
from hrl_autoscaler.research.baselines.flink import FlinkAutoscalerController
from hrl_autoscaler.research.baselines.hpa import HPAController
from hrl_autoscaler.research.baselines.oracle import OracleController
from hrl_autoscaler.research.baselines.spark_da import SparkDynamicAllocationController
from hrl_autoscaler.research.baselines.spark_streaming_da import SparkStreamingAllocationController
from hrl_autoscaler.research.baselines.static import StaticController
from hrl_autoscaler.research.baselines.tuned import TunedController
from hrl_autoscaler.runtime.core.controller import Controller

#: Factories take (objective, latency_slo_ms): the oracle plans with them, the RL controllers
#: guard the SLO with them, ``tuned`` compares latency with the SLO.
Factory = Callable[[str, float], Controller]

_FIXED: dict[str, Factory] = {
    "static-max": lambda _o, _s: StaticController(None),
    "hpa": lambda _o, _s: HPAController(),
    "spark-da": lambda _o, _s: SparkDynamicAllocationController(),
    "spark-streaming-da": lambda _o, _s: SparkStreamingAllocationController(),
    "ds2": lambda _o, _s: DS2Controller(),
    "flink": lambda _o, _s: FlinkAutoscalerController(),
    "tuned": lambda _o, s: TunedController(s),
    "oracle": lambda o, s: OracleController(o, s),
    "ppo-fixed": lambda o, s: _pipeline().pipeline_controller("ppo-fixed", o, s),
    "hrl": lambda o, s: _pipeline().pipeline_controller("hrl", o, s),
}
ERAS = (
    "reactive",
    "unstaged",
    "uncapped",
    "unfloored",
    "unsurged",
    "unruled",
    "lagged",
    "unreleased",
    "unheld",
    "unpadded",
)
"""The decision step's earlier defaults (and today's with one stage off), each as ``ppo-<era>`` and
``hrl-<era>`` (``pipeline_controller.ERAS`` says what each is)."""
_EXTRA: dict[str, Factory] = {}

STATIC_PATTERN = re.compile(r"^static-(\d+)$")


def _pipeline() -> Any:
    """The operator's pipeline on the simulator, imported on first use (it reads the
    artifacts in ``policies/``)."""
    from hrl_autoscaler.research.evaluation import pipeline_controller

    return pipeline_controller


def _staged(kind: str, era: str) -> Factory:
    """``kind`` (``hrl`` or ``ppo-fixed``) under an earlier era's decision-step defaults,
    named ``hrl-<era>`` / ``ppo-<era>``, the rest at the operator's defaults."""
    name = f"{'ppo' if kind == 'ppo-fixed' else kind}-{era}"

    def build(objective: str, latency_slo_ms: float) -> Controller:
        module = _pipeline()
        settings = module.with_stages(**module.ERAS[era])
        controller: Controller = module.pipeline_controller(
            kind, objective, latency_slo_ms, settings=settings, name=name
        )
        return controller

    return build


for _era in ERAS:
    _FIXED[f"ppo-{_era}"] = _staged("ppo-fixed", _era)
    _FIXED[f"hrl-{_era}"] = _staged("hrl", _era)


def register_controller(name: str, factory: Factory) -> None:
    """Add a controller (the RL agents register themselves when their extra is installed)."""
    _EXTRA[name] = factory


def accepted_names() -> list[str]:
    return ["static-N", *_FIXED, *_EXTRA]


def build_controller(name: str, objective: str, latency_slo_ms: float) -> Controller:
    """Build a controller by name, with an error listing the accepted names."""
    name = name.strip()
    if name in _FIXED:
        return _FIXED[name](objective, latency_slo_ms)
    if name in _EXTRA:
        return _EXTRA[name](objective, latency_slo_ms)
    match = STATIC_PATTERN.match(name)
    if match:
        return StaticController(int(match.group(1)))
    raise ValueError(f"unknown controller {name!r}; accepted values: {', '.join(accepted_names())}")


def parse_controllers(spec: str) -> list[str]:
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        raise ValueError(
            "--controllers is empty; give a comma-separated list such as hpa,ds2,oracle"
        )
    for n in names:
        build_controller(n, "slo", 1000.0)  # validate early, before any work starts
    if len(set(names)) != len(names):
        raise ValueError(f"--controllers lists a name twice: {spec!r}")
    return names
