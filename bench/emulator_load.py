"""CPU of one emulator process serving N SparkApplications, scraped every 5 s by Prometheus.

Target (issue 4): 500 applications at a 5 s scrape interval under half a core. Starts the local
control plane, creates the applications (mixed scenarios), starts the emulator as its own
process, lets Prometheus scrape its three paths, and reads the emulator's CPU time from /proc
over a measurement window. Prints JSON.

    python bench/emulator_load.py [--apps 500] [--window 60]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kubernetes import client as k8s_client

from hrl_autoscaler.research.sim.workloads import SCENARIOS
from hrl_autoscaler.tools.devenv.binaries import find_binaries
from hrl_autoscaler.tools.devenv.crds import project_crd_dir
from hrl_autoscaler.tools.devenv.prometheus import ScrapeTarget, query
from hrl_autoscaler.tools.devenv.session import DevEnv

GROUP, VERSION, PLURAL = "sparkoperator.k8s.io", "v1beta2", "sparkapplications"
PATHS = {
    "emu-executors": "/metrics/executors/prometheus",
    "emu-streaming": "/metrics/prometheus",
    "emu-lag": "/metrics",
}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def application(i: int) -> dict[str, Any]:
    scenarios = sorted(SCENARIOS)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SparkApplication",
        "metadata": {
            "name": f"bench-{i:04d}",
            "annotations": {"emulator.hrl-autoscaler.io/scenario": scenarios[i % len(scenarios)]},
        },
        "spec": {
            "type": "Python",
            "sparkVersion": "4.0.0",
            "mainApplicationFile": "local:///opt/hrl/iot_stream.py",
            "driver": {"cores": 1, "memory": "512m"},
            "executor": {"instances": 2 + i % 12, "cores": 1, "memory": "512m"},
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--apps", type=int, default=500)
    parser.add_argument("--window", type=float, default=60.0, help="measurement window, seconds")
    parser.add_argument("--scrape-interval", default="5s")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    crd_dir = project_crd_dir()
    assert crd_dir is not None
    with tempfile.TemporaryDirectory(prefix="hrl-bench-emu-") as state:
        env = DevEnv(
            Path(state),
            crds=[crd_dir],
            binaries=find_binaries(),
            scrape_interval=args.scrape_interval,
        )
        with env:
            api = env.api_client()
            objects: Any = k8s_client.CustomObjectsApi(api)
            started = time.monotonic()
            for i in range(args.apps):
                objects.create_namespaced_custom_object(
                    GROUP, VERSION, "default", PLURAL, application(i)
                )
            create_s = time.monotonic() - started
            port_file = Path(state) / "emulator.port"
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "hrl_autoscaler.tools.devenv.emulator",
                    "--kubeconfig",
                    str(env.kubeconfig),
                    "--port-file",
                    str(port_file),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                while not port_file.exists():
                    time.sleep(0.1)
                port = port_file.read_text()
                for job, path in PATHS.items():
                    env.add_scrape_target(
                        ScrapeTarget(job, [f"127.0.0.1:{port}"], path, args.scrape_interval, {})
                    )
                time.sleep(15)  # let it pick up every application and settle
                cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
                time.sleep(args.window)
                cpu1, t1 = cpu_seconds(proc.pid), time.monotonic()
                apps_seen = query(
                    env.prometheus_url,
                    "count(count by (application_id) (metrics_executor_totalCores))",
                )
                series = query(env.prometheus_url, 'count({job=~"emu-.*"})')
                scrape = query(env.prometheus_url, 'max(scrape_duration_seconds{job=~"emu-.*"})')
                result = {
                    "apps": args.apps,
                    "scrape_interval": args.scrape_interval,
                    "window_s": round(t1 - t0, 1),
                    "emulator_cpu_cores_mean": round((cpu1 - cpu0) / (t1 - t0), 3),
                    "emulator_rss_mb": round(rss_mb(proc.pid), 1),
                    "apps_in_prometheus": int(float(apps_seen[0]["value"][1])) if apps_seen else 0,
                    "series_scraped": int(float(series[0]["value"][1])) if series else 0,
                    "max_scrape_duration_s": round(float(scrape[0]["value"][1]), 3)
                    if scrape
                    else None,
                    "create_apps_s": round(create_s, 1),
                    "target_cpu_cores": 0.5,
                }
            finally:
                proc.terminate()
                proc.wait(timeout=15)
            api.close()
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
