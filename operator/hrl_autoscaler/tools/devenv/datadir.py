"""Temporary data directories (etcd, Prometheus TSDB) that never outlive their processes.

A clean stop deletes its data directory, but a test run killed with SIGKILL cannot: its
processes die with it (parent-death signal) and the directory stays in /tmp. Each directory
therefore names its owner in ``owner.json``: first the Python process creating it, then etcd,
the process that lives exactly as long as the data matters. Starting a new DevEnv removes the
directories whose owner is gone, so leftovers do not pile up across runs.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from hrl_autoscaler.tools.devenv.processes import ProcessRecord, process_start_time

PREFIX = "hrl-devenv-data-"
OWNER_FILE = "owner.json"
UNCLAIMED_GRACE_SECONDS = 60.0


def claim(data_dir: Path, owner: ProcessRecord) -> None:
    """Record ``owner`` as the process whose life keeps ``data_dir`` needed."""
    tmp = data_dir / f"{OWNER_FILE}.tmp"
    tmp.write_text(json.dumps(owner.to_json()))
    os.replace(tmp, data_dir / OWNER_FILE)


def new_data_dir() -> Path:
    """A fresh directory under the system temp dir, owned for now by this Python process."""
    data_dir = Path(tempfile.mkdtemp(prefix=PREFIX))
    pid = os.getpid()
    claim(data_dir, ProcessRecord("devenv", pid, process_start_time(pid) or 0, [], ""))
    return data_dir


def _owner_alive(data_dir: Path) -> bool:
    try:
        owner = ProcessRecord.from_json(json.loads((data_dir / OWNER_FILE).read_text()))
    except FileNotFoundError:
        # Either being created this instant (mkdtemp done, owner not yet written) or left by
        # a run that died in between: only the age tells them apart.
        try:
            return time.time() - data_dir.stat().st_mtime < UNCLAIMED_GRACE_SECONDS
        except OSError:
            return False
    except (OSError, ValueError, KeyError):
        return False
    return owner.alive()


def sweep_stale(root: Path | None = None) -> list[Path]:
    """Delete data directories whose owner process is gone; return what was removed."""
    removed = []
    for data_dir in Path(root or tempfile.gettempdir()).glob(f"{PREFIX}*"):
        if data_dir.is_dir() and not _owner_alive(data_dir):
            shutil.rmtree(data_dir, ignore_errors=True)
            removed.append(data_dir)
    return removed
