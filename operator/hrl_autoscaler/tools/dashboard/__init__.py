"""The Grafana dashboard without Grafana: read its JSON model, run its queries, draw it.

No Grafana server runs where this project is tested, yet the dashboard shipped in the Helm
chart (``charts/hrl-autoscaler/dashboards/hrl-autoscaler.json``) must show data. This package
does what Grafana does with that file, as far as the dashboard uses it: resolve the template
variables from Prometheus (``label_values``), substitute them and Grafana's built-in intervals
into every panel query and annotation query (:mod:`.templating`), run them as range queries
against a real Prometheus (:mod:`.prometheus`), report which return data (:mod:`.check`) and
render the panels on their grid to a PNG (:mod:`.render`). ``hrl-autoscaler dashboard
check|render`` is the command (:mod:`.command`).
"""

from __future__ import annotations

from pathlib import Path

from hrl_autoscaler.tools.dashboard.model import Dashboard
from hrl_autoscaler.tools.dashboard.parsing import load_dashboard

DASHBOARD_RELATIVE = Path("charts/hrl-autoscaler/dashboards/hrl-autoscaler.json")


def default_dashboard_path() -> Path:
    """The chart's dashboard in this checkout (the package lives in ``operator/``)."""
    return Path(__file__).resolve().parents[4] / DASHBOARD_RELATIVE


__all__ = ["DASHBOARD_RELATIVE", "Dashboard", "default_dashboard_path", "load_dashboard"]
