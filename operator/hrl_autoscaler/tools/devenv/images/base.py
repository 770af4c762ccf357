"""The Debian base image: ``debootstrap`` a bookworm minbase with Python, trim it, and commit
it with buildah as ``localhost/hrl-autoscaler-base:<hash>``.

It stands in for ``python:3.11.14-slim-bookworm`` (same Debian release, Python 3.11) which
cannot be pulled here. The root is made from Debian's own packages, so nothing but
deb.debian.org (or the host's mirror) is needed.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from hrl_autoscaler.tools.devenv.images import checks
from hrl_autoscaler.tools.devenv.images.commands import Progress, Runner, buildah, debootstrap_args
from hrl_autoscaler.tools.devenv.images.hashing import base_hash
from hrl_autoscaler.tools.devenv.images.settings import BaseSettings, StorageSettings


def base_ref(base: BaseSettings) -> str:
    return f"{base.repository}:{base_hash(base)[:16]}"


def image_exists(storage: StorageSettings, ref: str) -> bool:
    result = subprocess.run(
        buildah(storage, "inspect", "--type", "image", "--format", "{{.FromImageID}}", ref),
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode == 0


def trim(root: Path, paths: tuple[str, ...]) -> None:
    """Empty (not remove) each directory: apt and dpkg expect them to exist."""
    for relative in paths:
        directory = root / relative
        if not directory.is_dir():
            continue
        for child in directory.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()


def ensure_base(
    base: BaseSettings, storage: StorageSettings, runner: Runner, progress: Progress
) -> str:
    """The base's ref in buildah's storage, bootstrapped and committed unless already there."""
    ref = base_ref(base)
    if image_exists(storage, ref):
        progress(f"[image] base {ref}: cached")
        return ref
    checks.require_mirror(base.mirror, base.suite)
    storage.tmp.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="base-", dir=storage.tmp) as scratch:
        rootfs = Path(scratch) / "rootfs"
        started = time.monotonic()
        progress(
            f"[image] debootstrap {base.suite} ({base.variant}, {', '.join(base.packages)}) "
            f"from {base.mirror} ..."
        )
        runner.run("debootstrap", debootstrap_args(base, rootfs))
        trim(rootfs, base.trim)
        progress(f"[image] debootstrap done in {time.monotonic() - started:.0f} s")
        started = time.monotonic()
        archive = Path(scratch) / "rootfs.tar"
        # numeric owners: the image's ids are the root's, not names looked up on this host
        runner.run("tar", ["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(archive), "."])
        shutil.rmtree(rootfs)
        container = runner.run(
            "buildah from scratch", buildah(storage, "from", "scratch"), capture=True
        )
        container = container.strip().splitlines()[-1]
        try:
            runner.run("buildah add", buildah(storage, "add", container, str(archive), "/"))
            config = ["config", "--cmd", '["python3"]', "--os", "linux"]
            for pair in base.env:
                config += ["--env", pair]
            runner.run("buildah config", buildah(storage, *config, container))
            runner.run("buildah commit", buildah(storage, "commit", "--quiet", container, ref))
        finally:
            subprocess.run(buildah(storage, "rm", container), capture_output=True, check=False)
        progress(f"[image] base {ref} committed in {time.monotonic() - started:.0f} s")
    return ref
