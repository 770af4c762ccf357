"""How long the local control plane takes to become usable, with cached binaries.

Every e2e session and `hrl-autoscaler dev up` pays this, so it is worth watching: time from
start to ready for etcd + kube-apiserver (``/readyz``), Prometheus (``/-/ready``) and the
project's CRD (Established). Runs the start/stop cycle N times (default 3) and prints JSON.
Target: ready in 20 s or less.

    python bench/controlplane_startup.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hrl_autoscaler.tools.devenv.binaries import (
    ETCD_VERSION,
    KUBERNETES_VERSION,
    find_binaries,
)
from hrl_autoscaler.tools.devenv.crds import project_crd_dir
from hrl_autoscaler.tools.devenv.session import DevEnv

TARGET_SECONDS = 20.0


def one_run(crds: list[Path]) -> dict[str, float]:
    """Start everything, note when each part became ready, stop, and time the stop too."""
    marks: dict[str, float] = {}
    started = time.monotonic()

    def mark(message: str) -> None:
        elapsed = round(time.monotonic() - started, 3)
        if message.startswith("kube-apiserver ready"):
            marks["apiserver_ready_s"] = elapsed
        elif message.startswith("prometheus ready"):
            marks["prometheus_ready_s"] = elapsed
        elif message.startswith("CRDs established"):
            marks["crds_established_s"] = elapsed

    with tempfile.TemporaryDirectory(prefix="hrl-bench-") as state:
        env = DevEnv(Path(state), crds=crds, binaries=find_binaries(), progress=mark)
        env.start()
        marks["ready_s"] = round(time.monotonic() - started, 3)
        stop_started = time.monotonic()
        env.stop()
        marks["stop_s"] = round(time.monotonic() - stop_started, 3)
    return marks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    crd_dir = project_crd_dir()
    crds = [crd_dir] if crd_dir else []
    runs = [one_run(crds) for _ in range(args.runs)]
    ready = [r["ready_s"] for r in runs]
    result: dict[str, Any] = {
        "benchmark": "controlplane_startup",
        "kubernetes": KUBERNETES_VERSION,
        "etcd": ETCD_VERSION,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "runs": runs,
        "ready_s": {
            "min": min(ready),
            "median": statistics.median(ready),
            "max": max(ready),
        },
        "target_s": TARGET_SECONDS,
        "within_target": max(ready) <= TARGET_SECONDS,
    }
    print(json.dumps(result, indent=2))
    return 0 if result["within_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
