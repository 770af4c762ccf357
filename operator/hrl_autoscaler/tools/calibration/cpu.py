"""How much of the machine other work took during a measurement.

Calibration measures capacity, so it must know whether the cores were its own. The load
average cannot tell (it counts the calibration's own JVMs too, and lags by a minute). This
meter reads, from ``/proc``, the CPU time of the whole machine and of this process with all
its descendants (the driver's JVM, the master, the worker, the executors): the difference,
per wall second, is the CPU that other work took, in cores. On a machine without ``/proc``
it returns None and steps are not judged for contention.

Executor pods are not descendants of this process (containerd starts them), so a Kubernetes
run names their processes as further roots (:func:`pod_processes`); the node's own daemons
(kubelet, containerd, the control plane) stay "other work", as they would on a real node.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PROC = Path("/proc")


@dataclass(frozen=True)
class CpuSnapshot:
    wall_s: float
    busy_s: float
    """CPU seconds the whole machine spent not idle since boot."""
    own_s: float
    """CPU seconds of this process tree (live descendants, plus reaped children)."""


def _machine_busy_s() -> float:
    fields = (PROC / "stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    steal = values[7] if len(values) > 7 else 0  # time a hypervisor gave to others
    return (sum(values[:8]) - idle - steal) / _TICKS


def _each_process(file: str, proc: Path = PROC) -> Iterator[tuple[int, str]]:
    """(pid, text of ``/proc/<pid>/<file>``) for every process still there when read."""
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            yield int(entry.name), (entry / file).read_text()
        except OSError:
            continue  # exited meanwhile


def _process_stats() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds of it and its reaped children)."""
    out: dict[int, tuple[int, float]] = {}
    for pid, text in _each_process("stat"):
        rest = text[text.rfind(")") + 2 :].split()
        # fields after the name: state ppid ... utime(12) stime(13) cutime(14) cstime(15)
        ppid = int(rest[1])
        cpu = sum(int(v) for v in rest[11:15]) / _TICKS
        out[pid] = (ppid, cpu)
    return out


def pod_processes(pod_uids: Collection[str], proc: Path = PROC) -> list[int]:
    """PIDs of the processes in the pods with these UIDs: their cgroup path holds
    ``pod<uid>`` (``_`` for ``-`` under the systemd cgroup driver)."""
    marks = {f"pod{uid}" for uid in pod_uids} | {f"pod{uid.replace('-', '_')}" for uid in pod_uids}
    if not marks:
        return []
    return [
        pid
        for pid, cgroup in _each_process("cgroup", proc)
        if any(mark in cgroup for mark in marks)
    ]


def snapshot(root: int | None = None, extra_roots: Collection[int] = ()) -> CpuSnapshot | None:
    """The machine's and this process tree's CPU time now (None without ``/proc``);
    ``extra_roots``: more processes whose trees are the measurement's own (executor pods)."""
    if not (PROC / "stat").is_file():
        return None
    root = os.getpid() if root is None else root
    try:
        stats = _process_stats()
        busy = _machine_busy_s()
    except (OSError, ValueError, IndexError):
        return None
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    own, todo, seen = 0.0, [root, *extra_roots], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        if pid in stats:
            own += stats[pid][1]
        todo.extend(children.get(pid, []))
    return CpuSnapshot(time.monotonic(), busy, own)


def foreign_cores(start: CpuSnapshot | None, end: CpuSnapshot | None) -> float | None:
    """Cores other processes used on average between two snapshots (never negative)."""
    if start is None or end is None or end.wall_s <= start.wall_s:
        return None
    other = (end.busy_s - start.busy_s) - (end.own_s - start.own_s)
    return max(0.0, other / (end.wall_s - start.wall_s))
