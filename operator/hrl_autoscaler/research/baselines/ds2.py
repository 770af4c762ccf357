"""DS2 (Kalavri et al., OSDI'18) as the Flink Kubernetes Operator's autoscaler applies it.

The rule itself lives in :mod:`hrl_autoscaler.runtime.core.sizing`, where the operator's DS2
fallback and SLO guard use the same code; this is its controller face for ``evaluate``.
"""

from __future__ import annotations

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.runtime.core.controller import ControlContext
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.sizing import DS2Settings, DS2Sizer, RateEstimate
from hrl_autoscaler.runtime.core.weights import Weights


class DS2Controller:
    """Rate-based sizing from the true processing rate of an executor, with Flink's
    utilisation band and stabilisation interval (see :class:`DS2Settings`)."""

    name = "ds2"

    def __init__(self, settings: DS2Settings | None = None) -> None:
        self.settings = settings or DS2Settings()
        self._sizer: DS2Sizer | None = None

    def reset(self, ctx: ControlContext) -> None:
        params = SimParams()
        # DS2 sizes with the newest measurement only; the smoothed rate is not used here.
        rate = RateEstimate(params.executor_rate_eps, 1.0, params)
        self._sizer = DS2Sizer(ctx, rate, self.settings)

    def decide(self, metrics: SystemMetrics, weights: Weights) -> int:
        assert self._sizer is not None, "reset() first"
        self._sizer.rate.observe(metrics)
        return self._sizer.decide(metrics)
