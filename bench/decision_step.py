"""Latency of the whole decision step (policy, fallback, SLO guard, anticipation, guardrails),
with the anticipation on and off, side by side in one run.

``hrl-autoscaler bench policy`` times the policy alone (observation -> count); this times
``DecisionStep.decide`` with the committed policy on four hours of smart-metering load (a
period the anticipation finds, so every fifth decision runs its autocorrelation), and
reports p50 / p99 / max per configuration and the ratio of the p99s. Alternating the two
configurations decision by decision keeps the machine's noise out of the ratio.

    .venv/bin/python bench/decision_step.py --decisions 20000
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.research.sim.workloads import load_profile
from hrl_autoscaler.runtime.core.anticipation import AnticipationSettings
from hrl_autoscaler.runtime.core.controller import ControlContext
from hrl_autoscaler.runtime.core.decision import DecisionOptions, DecisionStep
from hrl_autoscaler.runtime.core.guardrails import GuardrailSettings
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.sizing import RateEstimate
from hrl_autoscaler.runtime.core.weights import FIXED_BASELINE
from hrl_autoscaler.runtime.policies.artifacts import default_policies_dir
from hrl_autoscaler.runtime.policies.ppo import NumpyPPOPolicy


def _step(policy: NumpyPPOPolicy, enabled: bool) -> DecisionStep:
    params = SimParams()
    return DecisionStep(
        policy,
        GuardrailSettings(),
        ControlContext(1, 20, 30.0, "in-place"),
        RateEstimate(params.executor_rate_eps, 0.2, params),
        DecisionOptions(anticipation=AnticipationSettings(enabled=enabled)),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=20_000)
    args = parser.parse_args()
    policy = NumpyPPOPolicy.load(default_policies_dir() / "ppo")
    load = load_profile("smart-metering", 480, 30.0, np.random.default_rng(0))
    steps = {"on": _step(policy, True), "off": _step(policy, False)}
    timings: dict[str, list[float]] = {name: [] for name in steps}
    periods = 0
    for i in range(args.decisions):
        rate = float(load[i % load.size])
        executors = 1 + i % 20
        m = SystemMetrics(rate, rate, 0.0, min(1.0, rate / (1000.0 * executors)), 0.3,
                          1200.0, executors, executors, time_s=30.0 * i)  # fmt: skip
        for name, step in steps.items():
            start = time.perf_counter_ns()
            step.decide(m, FIXED_BASELINE, 5000.0)
            timings[name].append((time.perf_counter_ns() - start) / 1e6)
        periods += steps["on"].anticipation.period is not None
    p99 = {}
    for name, values in timings.items():
        t = np.asarray(values[200:])  # after a warm-up
        p99[name] = float(np.percentile(t, 99))
        print(
            f"anticipation {name:3s}: p50 {np.percentile(t, 50):.4f} ms, p99 {p99[name]:.4f} ms,"
            f" max {t.max():.3f} ms over {t.size} decisions"
        )
    print(f"p99 ratio on/off: {p99['on'] / p99['off']:.2f}; a period was known at "
          f"{periods / args.decisions:.0%} of the decisions")  # fmt: skip


if __name__ == "__main__":
    main()
