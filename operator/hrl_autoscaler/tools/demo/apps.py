"""The demo's SparkApplications (the generic building and reading live in
:mod:`hrl_autoscaler.tools.devenv.sparkapps`)."""

from __future__ import annotations

from typing import Any

from hrl_autoscaler.tools.demo.scenario import DemoApp, traffic_rate
from hrl_autoscaler.tools.devenv.sparkapps import spark_application


def demo_application(app: DemoApp) -> dict[str, Any]:
    """The SparkApplication of one of the demo's applications, as the demo creates it (a
    driven one starts at the traffic day's first rate; the demo sets it from then on)."""
    return spark_application(
        app.name,
        app.executors,
        app.annotations(),
        rate_eps=traffic_rate(0.0) if app.driven else None,
        scenario=None if app.driven else app.scenario,
        seed=app.seed,
    )
