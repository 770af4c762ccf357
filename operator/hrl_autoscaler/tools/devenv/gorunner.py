"""Running the Go toolchain for :mod:`.gobuild`: finding ``go``, its environment (caches under
the project cache, no cgo), and :class:`GoRunner`, which runs one build's go commands with a log,
a heartbeat on the progress line, peak-memory accounting and the process group killed on
failure."""

from __future__ import annotations

import collections
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Progress = Callable[[str], None]
HEARTBEAT_SECONDS = 15.0


class BuildError(RuntimeError):
    """A Go build failed; the message carries the tail of its output and the log path."""


def find_go() -> Path:
    """Locate the Go toolchain: ``$HRL_AUTOSCALER_GO``, ``go`` on PATH, or /usr/local/go/bin/go."""
    candidates = [os.environ.get("HRL_AUTOSCALER_GO"), shutil.which("go"), "/usr/local/go/bin/go"]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise BuildError(
        "the Go toolchain was not found (looked at $HRL_AUTOSCALER_GO, PATH, /usr/local/go/bin/go);"
        " it is needed once to build kube-apiserver, etcd and helm"
    )


def go_environment(cache: Path) -> dict[str, str]:
    """Environment for every go command: caches under the project cache, no cgo."""
    env = dict(os.environ)
    env.update(
        GOPATH=str(cache / "go"),
        GOMODCACHE=str(cache / "go" / "mod"),
        GOCACHE=str(cache / "go" / "build"),
        CGO_ENABLED="0",
    )
    return env


class GoRunner:
    """Runs go commands for one build, reports progress and tracks peak memory."""

    def __init__(self, label: str, cache: Path, log_path: Path, progress: Progress) -> None:
        self.label = label
        self.go = find_go()
        self.env = go_environment(cache)
        self.log_path = log_path
        self.progress = progress
        self.started = time.monotonic()
        self.peak_rss_kib = 0
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text("")

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def say(self, message: str) -> None:
        self.progress(f"[{self.label}] {message} ({self.elapsed():.0f}s elapsed)")

    def version(self) -> str:
        return self.output(["version"], self.log_path.parent).strip()

    def output(self, args: list[str], cwd: Path) -> str:
        """Run a quick go command and return its stdout."""
        command = [str(self.go), *args]
        result = subprocess.run(
            command, cwd=cwd, env=self.env, capture_output=True, text=True, check=False
        )
        with self.log_path.open("a") as log:
            log.write(f"$ go {' '.join(args)}\n{result.stderr}\n")
        if result.returncode != 0:
            raise BuildError(f"[{self.label}] go {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def download_json(self, module_at_version: str) -> dict[str, Any]:
        """``go mod download -json`` for one module: paths of its go.mod, zip and info file."""
        info: dict[str, Any] = json.loads(
            self.output(["mod", "download", "-json", module_at_version], self.log_path.parent)
        )
        if info.get("Error"):
            raise BuildError(f"[{self.label}] cannot download {module_at_version}: {info['Error']}")
        return info

    def run(
        self, args: list[str], cwd: Path, phase: str, env: dict[str, str] | None = None
    ) -> None:
        """Run a long go command (``-v`` output counted as packages), with heartbeats."""
        self.say(f"{phase}: go {' '.join(_shorten_ldflags(args))}")
        tail: collections.deque[str] = collections.deque(maxlen=40)
        count = [0]
        done = threading.Event()
        proc = subprocess.Popen(
            [str(self.go), *args],
            cwd=cwd,
            env={**self.env, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        reader = threading.Thread(target=self._read, args=(proc, tail, count), daemon=True)
        beat = threading.Thread(target=self._heartbeat, args=(phase, count, done), daemon=True)
        reader.start()
        beat.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            _kill_group(proc)
            raise
        finally:
            done.set()
        proc.returncode = os.waitstatus_to_exitcode(status)
        reader.join(timeout=10)
        # ru_maxrss of a reaped child covers its own reaped children (compile, link) on Linux.
        self.peak_rss_kib = max(self.peak_rss_kib, usage.ru_maxrss)
        if proc.returncode != 0:
            raise BuildError(
                f"[{self.label}] go {args[0]} failed with exit code {proc.returncode}; "
                f"full log: {self.log_path}\n" + "\n".join(tail)
            )
        self.say(f"{phase} done, {count[0]} packages")

    def _read(
        self, proc: subprocess.Popen[str], tail: collections.deque[str], count: list[int]
    ) -> None:
        assert proc.stdout is not None
        with self.log_path.open("a") as log:
            for line in proc.stdout:
                log.write(line)
                tail.append(line.rstrip())
                count[0] += 1

    def _heartbeat(self, phase: str, count: list[int], done: threading.Event) -> None:
        while not done.wait(HEARTBEAT_SECONDS):
            what = f"{count[0]} packages so far" if count[0] else "downloading modules"
            self.say(f"{phase}: {what}")


def _shorten_ldflags(args: list[str]) -> list[str]:
    """The command line for progress messages, without the long -ldflags value."""
    shown: list[str] = []
    for arg in args:
        if shown and shown[-1] == "-ldflags":
            shown[-1] = "-ldflags=..."
        else:
            shown.append(arg)
    return shown


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """Stop an interrupted go command and its compilers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


__all__ = ["BuildError", "GoRunner", "Progress", "find_go", "go_environment"]
