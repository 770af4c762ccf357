"""The command lines of a build (pure, so the unit tests read them) and :class:`Runner`, which
runs them with their output in a log file and turns a failure into an error naming the fix.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from hrl_autoscaler.tools.devenv.images.settings import (
    BaseSettings,
    ImageSettings,
    StorageSettings,
)

Progress = Callable[[str], None]
HEARTBEAT_SECONDS = 30.0


class ImageBuildError(RuntimeError):
    """An image could not be built or imported; the message says why and what to do."""


def buildah(storage: StorageSettings, *args: str) -> list[str]:
    """``buildah`` with its storage under the project cache, never /var/lib/containers."""
    return [
        "buildah",
        "--root",
        str(storage.graph_root),
        "--runroot",
        str(storage.run_root),
        "--storage-driver",
        storage.driver,
        *args,
    ]


def debootstrap_args(base: BaseSettings, target: Path) -> list[str]:
    return [
        "debootstrap",
        f"--variant={base.variant}",
        f"--include={','.join(base.packages)}",
        base.suite,
        str(target),
        base.mirror,
    ]


def bud_args(
    storage: StorageSettings, settings: ImageSettings, base_ref: str, tag: str
) -> list[str]:
    """``buildah bud`` of the project's Dockerfile: only the base and the target are chosen.

    --layers=false: the content hash is the cache, so intermediate images would only take disk.
    The OCI format drops HEALTHCHECK (a Docker-only field) with a warning; Kubernetes ignores
    it anyway, the chart's probes hit the same /healthz.
    """
    args = [
        "bud",
        "--isolation",
        storage.isolation,
        "--network",
        "host",
        "--layers=false",
        "--format",
        "oci",
        "--build-arg",
        f"PYTHON_IMAGE={base_ref}",
        "--target",
        settings.target,
        "--tag",
        tag,
        "--file",
        str(settings.repo / "Dockerfile"),
    ]
    if settings.build_ca_bundle is not None:
        ca = settings.build_ca_bundle
        args += ["--volume", f"{ca}:/etc/ssl/certs/ca-certificates.crt:ro"]
    return buildah(storage, *args, str(settings.repo))


def push_args(storage: StorageSettings, local: str, archive: Path, ref: str) -> list[str]:
    """Export to an OCI archive whose index names the image ``ref`` (what ctr import reads)."""
    return buildah(storage, "push", "--quiet", local, f"oci-archive:{archive}:{ref}")


def diagnose(log_tail: str) -> str:
    """The fix for the failures seen in a build's output, or an empty string."""
    text = log_tail.lower()
    if "certificate verify failed" in text or "certificate_verify_failed" in text:
        return (
            "pip could not verify PyPI's certificate: behind a TLS-inspecting proxy, make the "
            "proxy's CA part of the host bundle (update-ca-certificates) so the build mounts it"
        )
    pypi = ("could not fetch url", "no matching distribution", "connection broken")
    if any(marker in text for marker in pypi):
        return "PyPI is unreachable from the build (pip install failed): check the network/proxy"
    mirror = ("failed getting release file", "couldn't download", "temporary failure resolving")
    if any(marker in text for marker in mirror):
        return "the Debian mirror is unreachable: check the network or set a reachable mirror"
    if "overlay" in text and ("not supported" in text or "invalid argument" in text):
        return "overlay storage fails here: set HRL_AUTOSCALER_IMAGE_STORAGE_DRIVER=vfs"
    return ""


class Runner:
    """Runs one build's commands, appending their output to one log, with a heartbeat."""

    def __init__(self, log_path: Path, progress: Progress, env: dict[str, str] | None = None):
        self.log_path = log_path
        self.progress = progress
        self.env = dict(os.environ if env is None else env)
        log_path.parent.mkdir(parents=True, exist_ok=True)

    def run(
        self, label: str, argv: Sequence[str], timeout_s: float = 3600.0, capture: bool = False
    ) -> str:
        """Run ``argv`` with its output in the log (stdout returned instead when ``capture``).

        Raises :class:`ImageBuildError` with the log's tail and, when recognised, the fix.
        """
        started = time.monotonic()
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(f"\n$ {' '.join(argv)}\n")
            log.flush()
            out_path = self.log_path.with_suffix(".stdout")
            with out_path.open("w+", encoding="utf-8") as out:
                process = subprocess.Popen(
                    list(argv),
                    stdout=out if capture else log,
                    stderr=log,
                    env=self.env,
                    start_new_session=True,
                )
                next_beat = started + HEARTBEAT_SECONDS
                while process.poll() is None:
                    now = time.monotonic()
                    if now - started > timeout_s:
                        process.kill()
                        process.wait()
                        raise ImageBuildError(f"{label}: timed out after {timeout_s:.0f} s")
                    if now >= next_beat:
                        self.progress(f"  ... {label}: {now - started:.0f} s")
                        next_beat = now + HEARTBEAT_SECONDS
                    time.sleep(0.2)
                out.seek(0)
                stdout = out.read()
            log.write(stdout)
        out_path.unlink(missing_ok=True)
        if process.returncode != 0:
            tail = self.tail()
            hint = diagnose(tail)
            raise ImageBuildError(
                f"{label} failed (exit {process.returncode}); log: {self.log_path}\n"
                f"{tail}\n" + (f"fix: {hint}" if hint else "")
            )
        return stdout

    def tail(self, lines: int = 25) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])
