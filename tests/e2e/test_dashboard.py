"""The Grafana dashboard against a real Prometheus after a demo-like run.

The demo's three applications (smart-hospital in-place with latency-first weights,
smart-metering with restart actuation, traffic-sensors under the meta-controller) run on the
emulated data plane at 30x with the operator as its own process (``hrl-autoscaler run``) and a
4 s meta interval, while Prometheus scrapes the emulator and the operator's /metrics, as in a
cluster, and one roomy ExecutorBudget covers the three (the Budget row's data). Once a scaling
action and a weight update have happened, the dashboard's variables are resolved from
Prometheus (label_values, as Grafana does) and every panel query and annotation query must
return at least one series with data; the PNG is rendered and checked; and ``hrl-autoscaler
dashboard check`` must pass on the same data and fail for an application that does not exist.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from hrl_autoscaler.tools.dashboard import default_dashboard_path, load_dashboard
from hrl_autoscaler.tools.dashboard.model import Dashboard, expand_layout
from hrl_autoscaler.tools.dashboard.runner import TimeRange
from hrl_autoscaler.tools.dashboard.snapshot import Snapshot, snapshot
from hrl_autoscaler.tools.dashboard.units import NAMED_COLORS
from hrl_autoscaler.tools.demo.apps import demo_application
from hrl_autoscaler.tools.demo.scenario import DEMO_APPS, traffic_rate
from hrl_autoscaler.tools.devenv.budgets import Budgets, executor_budget
from hrl_autoscaler.tools.devenv.components import OperatorProcess
from hrl_autoscaler.tools.devenv.prometheus import query
from hrl_autoscaler.tools.devenv.sparkapps import Cluster, wait_for
from hrl_autoscaler.tools.devenv.stack import LocalStack, StackOptions
from hrl_autoscaler.tools.devenv.testing import DevEnvHandle

pytestmark = pytest.mark.e2e

NAMESPACE = "dash-e2e"
SPEED = 30.0
META_INTERVAL_S = 4.0
APPS = sorted(a.name for a in DEMO_APPS)


@dataclass
class Run:
    """What the module's run left behind: where, since when, and its Prometheus."""

    prometheus_url: str
    started: float
    work: Path
    operator: OperatorProcess


def _count(url: str, promql: str) -> float:
    return sum(float(r["value"][1]) for r in query(url, promql))


@pytest.fixture(scope="module")
def run(devenv: DevEnvHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    work: Path = tmp_path_factory.mktemp("dashboard-e2e")
    started = time.time()
    options = StackOptions(
        work_dir=work,
        env=devenv.env,
        namespaces=(NAMESPACE,),
        speed=SPEED,
        emulator_tick_s=0.2,
        job_prefix="dash-",
        operator_overrides={"meta_interval_s": META_INTERVAL_S},
        operator_scrape_job="operator",
    )
    with LocalStack(options) as stack:  # exit fails unless the operator exits 0 on SIGTERM
        assert stack.operator is not None
        cluster = Cluster(devenv.api_client)
        budgets = Budgets(devenv.api_client)
        # a budget over the three (room for all of them at their maximum: it must not change
        # the demo) so that the Budget row has data
        budgets.create(NAMESPACE, executor_budget("demo", 60, interval_s=10))
        for app in DEMO_APPS:
            cluster.create(NAMESPACE, demo_application(app))
        url = devenv.prometheus_url
        ns = f'namespace="{NAMESPACE}"'
        # the morning rush of the traffic day: the load triples, the operator must scale up
        time.sleep(4.0)
        cluster.set_rate(NAMESPACE, "traffic-sensors", traffic_rate(0.12))
        # An increase, not a count: the annotations are `increase(...) > 0`, and a counter whose
        # first scrape already read 1 (the operator acted before Prometheus first scraped it)
        # shows no increase until the next action.
        wait_for(
            "a scaling action and a weight update seen rising by Prometheus",
            lambda: (
                _count(url, f"increase(hrl_autoscaler_scaling_actions_total{{{ns}}}[5m])") > 0
                and _count(url, f"increase(hrl_autoscaler_weight_updates_total{{{ns}}}[5m])") > 0
            ),
            timeout_s=90.0,
            every_s=1.0,
        )
        time.sleep(5.0)  # one more $__rate_interval (4 s at a 1 s scrape) of data after them
        try:
            yield Run(url, started, work, stack.operator)
        finally:
            budgets.delete_all(NAMESPACE)


@pytest.fixture(scope="module")
def board() -> Dashboard:
    return load_dashboard(default_dashboard_path())


@pytest.fixture(scope="module")
def shot(run: Run, board: Dashboard) -> Snapshot:
    window = TimeRange(run.started - 5.0, time.time())
    return snapshot(
        run.prometheus_url,
        run.work / "dashboard.png",
        window,
        scrape_interval_s=1.0,
        variables={"namespace": [NAMESPACE]},
        dashboard=board,
    )


def test_variables_resolve_from_prometheus_like_grafana(shot: Snapshot) -> None:
    assert shot.values["namespace"].values == (NAMESPACE,)
    application = shot.values["application"]
    assert list(application.values) == APPS  # All, listed by label_values
    assert application.regex_form


def test_every_panel_and_annotation_query_returns_data(shot: Snapshot, board: Dashboard) -> None:
    targets = sum(len(p.targets) for _, p in board.query_panels())
    assert len(shot.results) == targets + len(board.annotations)
    failed = [
        f"{r.title} {r.ref_id}: {r.error or 'no series with data'}\n    {r.expr}"
        for r in shot.failed
    ]
    assert not failed, "\n".join(failed)
    for r in shot.results:
        assert "$" not in r.expr, r.expr  # every variable was substituted
        assert f'namespace=~"{NAMESPACE}"' in r.expr or "namespace" not in r.expr, r.expr
    annotations = [r for r in shot.results if r.kind == "annotation"]
    assert {r.title for r in annotations} == {"Scaling actions", "Weight updates"}
    scaled = next(r for r in annotations if r.title == "Scaling actions")
    assert {s.labels["application"] for s in scaled.series} <= set(APPS)


def test_each_application_gets_its_own_row_in_the_png(shot: Snapshot, board: Dashboard) -> None:
    summary = shot.render
    _, grid_h = expand_layout(board, {"application": APPS})
    with Image.open(summary.path) as image:
        assert image.size == (1800, summary.height_px)
        assert summary.height_px > grid_h * 30  # three application rows and the health row
        colors = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colors is not None
    assert len(colors) > 500  # lines, fills, text: not a blank canvas
    present = {c for _, c in colors}
    red = tuple(int(NAMED_COLORS["red"][i : i + 2], 16) for i in (1, 3, 5))
    assert red in present  # the dashed SLO lines
    assert summary.events >= 2
    # only applications with fixed or preset weights have no meta reward: every other panel
    # of every copy of the row drew data
    assert sorted(summary.empty_panels) == [
        "Meta reward (application=smart-hospital)",
        "Meta reward (application=smart-metering)",
    ]


def test_the_check_command_passes_here_and_fails_for_an_unknown_application(
    run: Run, tmp_path: Path
) -> None:
    since = f"{round(time.time() - run.started + 5)}s"
    base = [
        sys.executable,
        "-m",
        "hrl_autoscaler.cli",
        "dashboard",
        "check",
        "--prometheus",
        run.prometheus_url,
        "--since",
        since,
        "--scrape-interval",
        "1s",
        "--var",
        f"namespace={NAMESPACE}",
    ]
    report = tmp_path / "check.json"
    ok = subprocess.run([*base, "--json", str(report)], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    rows = json.loads(report.read_text())
    assert rows
    assert all(r["ok"] for r in rows)
    missing = subprocess.run(
        [*base, "--var", "application=no-such-app"], capture_output=True, text=True, timeout=120
    )
    assert missing.returncode == 1, missing.stdout + missing.stderr
    assert "EMPTY" in missing.stdout
    assert "returned no data" in missing.stderr
