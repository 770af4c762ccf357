"""The local node (``dev up --node``) from cached binaries and images: how fast, how heavy.

Per run: time from start to the node Ready (control plane, Prometheus, CRDs, controller
manager, scheduler, containerd, images imported, kubelet, kube-proxy, CoreDNS ready); time from
creating a pod (busybox image, ``imagePullPolicy: Never``) to it Running, for a few pods; then,
after the node has settled, the idle RSS and CPU of every process of the control plane and the
node (container shims and pods included), sampled from /proc; and the stop time, with what the
stop left behind. Targets (issue 18): Ready <= 60 s, pod Running <= 10 s, idle <= 2.5 GB RSS and
<= 0.5 core. Root only.

    python bench/node_startup.py [--runs 2] [--pods 3] [--idle-seconds 30] [--json out.json]
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

from kubernetes import client as k8s_client

from hrl_autoscaler.tools.devenv.binaries import KUBERNETES_VERSION, find_binaries
from hrl_autoscaler.tools.devenv.crds import project_crd_dir
from hrl_autoscaler.tools.devenv.node.config import BUSYBOX_IMAGE
from hrl_autoscaler.tools.devenv.node.teardown import node_processes
from hrl_autoscaler.tools.devenv.session import DevEnv

READY_TARGET_S = 60.0
POD_TARGET_S = 10.0
RSS_TARGET_MIB = 2.5 * 1024
CPU_TARGET_CORES = 0.5
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> tuple[float, int] | None:
    """(CPU seconds so far, RSS bytes) of one process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS, int(fields[21]) * PAGE


def _pids(env: DevEnv) -> dict[int, str]:
    """Every process of the environment by component: the recorded ones, and the container
    shims, pause and workload processes of the node (as ``pods+shims``)."""
    pids = {p.record.pid: p.name for p in env.processes}
    if env.local_node is not None:
        pids.update({p.record.pid: p.name for p in env.local_node.processes})
        for pid, _cmd in node_processes(env.local_node.cfg.data_dir):
            pids.setdefault(pid, "pods+shims")
    return pids


def idle_usage(env: DevEnv, seconds: float) -> dict[str, Any]:
    """RSS at the end and mean CPU over ``seconds``, summed per component."""
    before = {pid: s for pid in _pids(env) if (s := _stat(pid))}
    time.sleep(seconds)
    cpu: dict[str, float] = {}
    rss: dict[str, float] = {}
    for pid, name in _pids(env).items():
        now = _stat(pid)
        if now is None:
            continue
        cpu[name] = cpu.get(name, 0.0) + (now[0] - before.get(pid, now)[0]) / seconds
        rss[name] = rss.get(name, 0.0) + now[1] / 2**20
    return {
        "window_s": seconds,
        "rss_mib": {k: round(v, 1) for k, v in sorted(rss.items())},
        "cpu_cores": {k: round(v, 3) for k, v in sorted(cpu.items())},
        "rss_total_mib": round(sum(rss.values()), 1),
        "cpu_total_cores": round(sum(cpu.values()), 3),
    }


def pod_running_seconds(api: k8s_client.ApiClient, name: str) -> float:
    core = k8s_client.CoreV1Api(api)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {
                    "name": "main",
                    "image": BUSYBOX_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": ["sleep", "3600"],
                }
            ],
        },
    }
    started = time.monotonic()
    core.create_namespaced_pod("default", pod)
    while time.monotonic() - started < 60:
        if core.read_namespaced_pod(name, "default").status.phase == "Running":
            return round(time.monotonic() - started, 2)
        time.sleep(0.05)
    raise TimeoutError(f"pod {name} not Running after 60s")


def one_run(crds: list[Path], pods: int, idle_seconds: float, with_idle: bool) -> dict[str, Any]:
    started = time.monotonic()
    marks: dict[str, Any] = {}

    def mark(message: str) -> None:
        if message.startswith("kube-apiserver ready"):
            marks["apiserver_ready_s"] = round(time.monotonic() - started, 2)

    with tempfile.TemporaryDirectory(prefix="hrl-bench-node-") as state:
        env = DevEnv(Path(state), crds=crds, binaries=find_binaries(), node=True, progress=mark)
        env.start()
        marks["node_ready_s"] = round(time.monotonic() - started, 2)
        try:
            with env.api_client() as api:
                marks["pod_running_s"] = [
                    pod_running_seconds(api, f"bench-{i}") for i in range(pods)
                ]
            if with_idle:
                time.sleep(10)  # let start-up work (informers' lists, image GC scan) settle
                marks["idle"] = idle_usage(env, idle_seconds)
        finally:
            assert env.local_node is not None
            local = env.local_node
            stop_started = time.monotonic()
            env.stop()
            marks["stop_s"] = round(time.monotonic() - stop_started, 2)
            left = local.stop()  # idempotent: processes already gone; sweeps and lists again
            marks["left_behind"] = {k: v for k, v in left.__dict__.items() if v}
    return marks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--pods", type=int, default=3)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("the local node needs root", file=sys.stderr)
        return 2
    crd_dir = project_crd_dir()
    crds = [crd_dir] if crd_dir else []
    runs = [
        one_run(crds, args.pods, args.idle_seconds, i == args.runs - 1) for i in range(args.runs)
    ]
    ready = [r["node_ready_s"] for r in runs]
    pods = [s for r in runs for s in r["pod_running_s"]]
    idle = runs[-1]["idle"]
    result: dict[str, Any] = {
        "benchmark": "node_startup",
        "kubernetes": KUBERNETES_VERSION,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "runs": runs,
        "node_ready_s": {"min": min(ready), "median": statistics.median(ready), "max": max(ready)},
        "pod_running_s": {"min": min(pods), "median": statistics.median(pods), "max": max(pods)},
        "targets": {
            "node_ready_s": READY_TARGET_S,
            "pod_running_s": POD_TARGET_S,
            "idle_rss_mib": RSS_TARGET_MIB,
            "idle_cpu_cores": CPU_TARGET_CORES,
        },
    }
    result["within_targets"] = (
        max(ready) <= READY_TARGET_S
        and max(pods) <= POD_TARGET_S
        and idle["rss_total_mib"] <= RSS_TARGET_MIB
        and idle["cpu_total_cores"] <= CPU_TARGET_CORES
    )
    text = json.dumps(result, indent=2)
    print(text)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return 0 if result["within_targets"] else 1


if __name__ == "__main__":
    sys.exit(main())
