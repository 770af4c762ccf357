"""The node's images, built here without a registry: pause (sandbox) and a busybox test image.

pause is Kubernetes' own ``build/pause/linux/pause.c`` (read from the ``k8s.io/kubernetes``
module in the Go module cache, which the kubelet build downloads; a minimal equivalent is used
when it is absent), compiled with ``gcc -static -Os``. The test image is Debian's
``busybox-static`` binary plus the applet links the node tests use. Each is written as an OCI
archive (:mod:`.oci`) cached under ``<cache>/images`` by the hash of its inputs, so it is rebuilt
only when those change, and imported into containerd's ``k8s.io`` namespace (where the CRI
plugin, hence kubelet, looks) with ``ctr images import``.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from hrl_autoscaler.tools.devenv import binaries as bins
from hrl_autoscaler.tools.devenv.node import inclusterclient
from hrl_autoscaler.tools.devenv.node.config import BUSYBOX_IMAGE, PAUSE_IMAGE
from hrl_autoscaler.tools.devenv.node.oci import ImageSpec, LayerEntry, write_archive

Progress = Callable[[str], None]
BUSYBOX_BINARY = Path("/bin/busybox")
#: Applets linked into the test image: a shell, DNS lookup, HTTP client and server, netcat.
BUSYBOX_APPLETS = ("sh", "nslookup", "wget", "httpd", "nc", "cat", "ls", "sleep", "echo", "env")

#: Used only when the Kubernetes module (hence upstream's pause.c) is not in the module cache:
#: sleep until SIGINT/SIGTERM, reap children, as upstream's does.
FALLBACK_PAUSE_C = r"""
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
static void sigdown(int signo) { (void)signo; exit(0); }
static void sigreap(int signo) { (void)signo; while (waitpid(-1, NULL, WNOHANG) > 0) ; }
int main(void) {
  struct sigaction down = {.sa_handler = sigdown}, reap = {.sa_handler = sigreap};
  sigaction(SIGINT, &down, NULL); sigaction(SIGTERM, &down, NULL);
  sigaction(SIGCHLD, &reap, NULL);
  for (;;) pause();
}
"""


class ImageBuildError(RuntimeError):
    """An image could not be built or imported; the message names the missing piece."""


def images_dir() -> Path:
    return bins.cache_root() / "images"


def pause_source() -> tuple[str, str]:
    """(C source, where it came from): upstream pause.c if the module cache has it."""
    mod = bins.cache_root() / "go" / "mod" / f"k8s.io/kubernetes@{bins.KUBERNETES_VERSION}"
    upstream = mod / "build" / "pause" / "linux" / "pause.c"
    if upstream.is_file():
        return upstream.read_text(), str(upstream)
    return FALLBACK_PAUSE_C, "built-in fallback (k8s.io/kubernetes not in the module cache)"


def _key(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:16]


def build_pause(progress: Progress = print) -> Path:
    """The pause image archive, built once per source (``gcc -static -Os``)."""
    source, origin = pause_source()
    archive = images_dir() / f"pause-{_key(source.encode(), PAUSE_IMAGE.encode())}.tar"
    if archive.is_file():
        return archive
    gcc = shutil.which("gcc")
    if gcc is None:
        raise ImageBuildError("gcc is missing (apt-get install -y gcc libc6-dev): it builds pause")
    work = archive.with_suffix(".work")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        (work / "pause.c").write_text(source)
        progress(f"[images] compiling pause from {origin}")
        version = bins.KUBERNETES_VERSION
        result = subprocess.run(
            [gcc, "-static", "-Os", f"-DVERSION={version}", "-o", "pause", "pause.c"],
            cwd=work,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ImageBuildError(f"gcc failed to build pause: {result.stderr.strip()}")
        subprocess.run(["strip", str(work / "pause")], check=False, capture_output=True)
        spec = ImageSpec(
            PAUSE_IMAGE, [LayerEntry("pause", source=work / "pause")], entrypoint=["/pause"]
        )
        write_archive(spec, archive)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    progress(f"[images] pause image at {archive}")
    return archive


def busybox_spec(binary: Path = BUSYBOX_BINARY, whoami: Path | None = None) -> ImageSpec:
    """/bin/busybox, its applet links in /bin, /tmp, and the in-cluster client
    (:mod:`.inclusterclient`) when given; ``sh`` by default."""
    entries = [LayerEntry("bin", mode=0o755), LayerEntry("tmp", mode=0o1777)]
    entries.append(LayerEntry("bin/busybox", source=binary))
    if whoami is not None:
        entries.append(LayerEntry(f"bin/{inclusterclient.NAME}", source=whoami))
    entries += [LayerEntry(f"bin/{name}", target="busybox") for name in BUSYBOX_APPLETS]
    return ImageSpec(BUSYBOX_IMAGE, entries, cmd=["sh"], env=("PATH=/bin",))


def build_busybox(progress: Progress = print) -> Path:
    """The busybox test image archive, from Debian's ``busybox-static``."""
    if not BUSYBOX_BINARY.is_file():
        raise ImageBuildError(
            f"{BUSYBOX_BINARY} is missing: apt-get install -y busybox-static (make node-deps)"
        )
    whoami = inclusterclient.build()
    key = _key(BUSYBOX_BINARY.read_bytes(), " ".join(BUSYBOX_APPLETS).encode(), whoami.read_bytes())
    archive = images_dir() / f"busybox-{key}.tar"
    if not archive.is_file():
        write_archive(busybox_spec(whoami=whoami), archive)
        progress(f"[images] busybox image at {archive}")
    return archive


def import_archive(ctr: Path, socket: Path, archive: Path, base_name: str | None = None) -> None:
    """``ctr -n k8s.io images import`` (unpacked for overlayfs, visible to kubelet via CRI).

    ctr names an image from the archive's ``io.containerd.image.name`` annotation, or from
    ``org.opencontainers.image.ref.name`` when that is a full reference (``buildah push IMG
    oci-archive:x.tar:ghcr.io/o/n:1.0``); a bare tag there (``0.1.0``) becomes
    ``import-<date>:0.1.0`` unless ``base_name`` (``--base-name ghcr.io/o/n``) is given.
    """
    extra = ["--base-name", base_name] if base_name else []
    result = subprocess.run(
        [
            str(ctr),
            "--address",
            str(socket),
            "-n",
            "k8s.io",
            "images",
            "import",
            *extra,
            str(archive),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if result.returncode != 0:
        raise ImageBuildError(f"ctr images import {archive} failed: {result.stderr.strip()}")
