"""Start, find and stop the long-running processes of the local control plane.

Each process gets its own session (so its own process group): a Ctrl-C in the terminal does not
reach it half-way, and stopping it signals the whole group, leaving nothing behind. A process can
outlive the Python process that started it (``hrl-autoscaler dev up`` exits and leaves them
running), so everything needed to stop it later is in :class:`ProcessRecord`, which is written
to the state file. The recorded start time guards against killing an unrelated process that got
the same pid after a reboot or a long time.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

STOP_TIMEOUT_SECONDS = 10.0


class PortInUseError(RuntimeError):
    """A port a component wants on 127.0.0.1 is taken; the message names both."""


class ProcessExitedError(RuntimeError):
    """A component exited while we waited for it; the message carries its log tail."""


def free_port(host: str = "127.0.0.1") -> int:
    """Ask the kernel for a free TCP port (free now; the caller binds it soon after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def check_port_free(port: int, component: str, flag: str, host: str = "127.0.0.1") -> None:
    """Raise PortInUseError naming the component and its flag when ``host:port`` is taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise PortInUseError(
                f"port {port} on {host} for {component} ({flag}) is already in use: {exc.strerror}."
                " Stop whatever listens there (`ss -ltnp | grep :{port}`) or pick another port"
            ) from exc


def command_lines() -> Iterator[tuple[int, str]]:
    """(pid, command line) of every other live process (a vanished one is skipped)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        yield int(entry.name), cmdline


def process_start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (field 22 of /proc/pid/stat), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; the fields after its closing ')' do not.
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19])


def _process_state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


@dataclass(frozen=True)
class ProcessRecord:
    """What identifies a started process across Python processes."""

    name: str
    pid: int
    start_time: int
    argv: list[str]
    log: str

    def alive(self) -> bool:
        """True while the very process we started runs (not a zombie, not a reused pid)."""
        state = _process_state(self.pid)
        if state is None or state in ("Z", "X"):
            return False
        return process_start_time(self.pid) == self.start_time

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcessRecord:
        return cls(
            name=str(data["name"]),
            pid=int(data["pid"]),
            start_time=int(data["start_time"]),
            argv=[str(a) for a in data["argv"]],
            log=str(data["log"]),
        )


class ManagedProcess:
    """A component process in its own process group, logging to a file."""

    def __init__(self, record: ProcessRecord, popen: subprocess.Popen[bytes] | None) -> None:
        self.record = record
        self._popen = popen

    @property
    def name(self) -> str:
        return self.record.name

    @classmethod
    def start(
        cls, name: str, argv: Sequence[str], log: Path, *, tie_to_parent: bool = True
    ) -> ManagedProcess:
        """Start ``argv`` with output appended to ``log``.

        With ``tie_to_parent`` the kernel sends SIGTERM to the process when the starting Python
        process dies (``setpriv --pdeathsig``), so a killed test run leaves no strays; the
        ``dev up`` daemon mode passes False so the processes outlive the command.
        """
        binary = Path(argv[0])
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            raise FileNotFoundError(f"{name}: binary {binary} not found or not executable")
        command = list(argv)
        setpriv = shutil.which("setpriv")
        if tie_to_parent and setpriv:
            command = [setpriv, "--pdeathsig", "SIGTERM", "--", *command]
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            # Logs are appended across runs of the same state dir; mark where this one starts.
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            out.write(f"==== {stamp} starting {name}: {' '.join(argv)}\n".encode())
            out.flush()
            popen = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        start_time = process_start_time(popen.pid) or 0
        record = ProcessRecord(name, popen.pid, start_time, list(argv), str(log))
        return cls(record, popen)

    @classmethod
    def attach(cls, record: ProcessRecord) -> ManagedProcess:
        """Handle to a process started by another Python process (no Popen to wait on)."""
        return cls(record, None)

    def alive(self) -> bool:
        if self._popen is not None and self._popen.poll() is not None:
            return False
        return self.record.alive()

    def exit_code(self) -> int | None:
        return self._popen.poll() if self._popen is not None else None

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = Path(self.record.log).read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def ensure_running(self) -> None:
        """Raise ProcessExitedError with the log tail when the process has died."""
        if not self.alive():
            raise ProcessExitedError(
                f"{self.name} exited (code {self.exit_code()}); log {self.record.log}:\n"
                f"{self.log_tail()}"
            )

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """SIGTERM the process group, then SIGKILL after ``timeout``; wait until it is gone."""
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            if not self.alive():
                break
            try:
                os.killpg(self.record.pid, sig)
            except ProcessLookupError:
                break
            if self._wait_gone(wait):
                break
        # Anything else left in the group (children of the component) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.record.pid, signal.SIGKILL)
        if self._popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._popen.wait(timeout=5)

    def _wait_gone(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._popen is not None:
                try:
                    self._popen.wait(timeout=0.05)
                    return True
                except subprocess.TimeoutExpired:
                    continue
            if not self.record.alive():
                return True
            time.sleep(0.05)
        return not self.alive()
