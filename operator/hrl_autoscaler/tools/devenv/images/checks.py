"""Before a build: what is missing, said with the fix (root, the tools, the network).

Checked only when something has to be built, so a cache hit needs none of it.
"""

from __future__ import annotations

import os
import shutil
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable

from hrl_autoscaler.tools.devenv.images.commands import ImageBuildError

PYPI_PROBE = "https://pypi.org/simple/pip/"
#: Debian package of each tool, for the message (``make image-deps`` installs them all).
TOOLS = {
    "debootstrap": "debootstrap",
    "buildah": "buildah",
    "fuse-overlayfs": "fuse-overlayfs",
    "ctr": "containerd",
}


def missing_tools(
    names: Iterable[str], which: Callable[[str], str | None] = shutil.which
) -> list[str]:
    return [name for name in names if which(name) is None]


def require_root(euid: int | None = None) -> None:
    """debootstrap (mknod, chown) and buildah's chroot isolation need root."""
    uid = os.geteuid() if euid is None else euid
    if uid != 0:
        raise ImageBuildError(
            "building images needs root (debootstrap creates device nodes and chowns files; "
            "buildah's chroot isolation mounts /proc): run as root, e.g. `sudo -E hrl-autoscaler "
            "dev image build`"
        )


def require_tools(names: Iterable[str], which: Callable[[str], str | None] = shutil.which) -> None:
    missing = missing_tools(names, which)
    if missing:
        packages = " ".join(sorted({TOOLS.get(n, n) for n in missing}))
        raise ImageBuildError(
            f"{', '.join(missing)} not found on PATH: `make image-deps` installs the Debian "
            f"packages ({packages})"
        )


def probe(url: str, what: str, fix: str, timeout_s: float = 15.0) -> None:
    """GET ``url`` (headers only are read); raise naming ``what`` is unreachable and ``fix``."""
    if not url.startswith(("http://", "https://")):
        raise ImageBuildError(f"{what}: {url!r} is not an http(s) URL: {fix}")
    context = ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE") or None)
    # S310: the scheme is checked just above (no file: or custom schemes).
    request = urllib.request.Request(url, method="GET", headers={"User-Agent": "hrl-autoscaler"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout_s, context=context) as response:  # noqa: S310
            if response.status >= 400:
                raise ImageBuildError(f"{what} answered {response.status} at {url}: {fix}")
    except (urllib.error.URLError, OSError) as exc:
        raise ImageBuildError(f"{what} is unreachable ({url}: {exc}): {fix}") from None


def require_mirror(mirror: str, suite: str) -> None:
    probe(
        f"{mirror}/dists/{suite}/Release",
        f"the Debian mirror {mirror}",
        "check the network, or the mirror in /etc/apt/sources.list*",
    )


def require_pypi() -> None:
    probe(
        PYPI_PROBE,
        "PyPI",
        "the Dockerfile runs `pip install .[k8s]`; check the network/proxy (and that the "
        "proxy's CA is in /etc/ssl/certs/ca-certificates.crt)",
    )
