"""Putting a built image where kubelet finds it: ``ctr images import`` into containerd's
``k8s.io`` namespace (the CRI plugin's), with no registry in between.

Kubelet resolves ``localhost/spark-hrl-autoscaler:<tag>`` to exactly that name (``localhost``
counts as a registry host), finds it in the namespace and, with ``imagePullPolicy: Never`` or
``IfNotPresent``, starts it without pulling.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

from hrl_autoscaler.tools.devenv.images.commands import ImageBuildError


def _index(archive: Path) -> dict[str, Any]:
    with tarfile.open(archive) as tar:
        member = tar.extractfile("index.json")
        if member is None:
            raise ImageBuildError(f"{archive} is not an OCI archive (no index.json)")
        index: dict[str, Any] = json.load(member)
    return index


def archive_digest(archive: Path) -> str:
    """The manifest digest of the archive's single image."""
    [manifest] = _index(archive)["manifests"]
    return str(manifest["digest"])


def archive_ref(archive: Path) -> str:
    """The name the archive's index gives its image (``org.opencontainers.image.ref.name``)."""
    index = _index(archive)
    names = [
        m.get("annotations", {}).get("org.opencontainers.image.ref.name")
        for m in index.get("manifests", [])
    ]
    found = [n for n in names if n]
    if len(found) != 1:
        raise ImageBuildError(f"{archive}: expected one named image in index.json, got {names}")
    return str(found[0])


def ctr_import_args(
    archive: Path, containerd_address: str, namespace: str, snapshotter: str | None
) -> list[str]:
    """``ctr images import``: unpacked for the snapshotter (CRI's default overlayfs unless the
    node's config says otherwise), so the first container starts without unpacking."""
    args = ["ctr", "--address", containerd_address, "--namespace", namespace, "images", "import"]
    if snapshotter:
        args += ["--snapshotter", snapshotter]
    return [*args, str(archive)]


def list_refs(containerd_address: str, namespace: str = "k8s.io") -> list[str]:
    result = subprocess.run(
        ["ctr", "--address", containerd_address, "--namespace", namespace, "images", "ls", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise ImageBuildError(f"ctr images ls at {containerd_address}: {result.stderr.strip()}")
    return result.stdout.split()


def import_image(
    archive: Path,
    containerd_address: str,
    namespace: str = "k8s.io",
    snapshotter: str | None = None,
    timeout_s: float = 600.0,
) -> str:
    """Import an OCI archive into containerd; return the image ref as containerd lists it."""
    if shutil.which("ctr") is None:
        raise ImageBuildError("ctr not found on PATH: `make image-deps` installs containerd")
    if not Path(containerd_address).exists():
        raise ImageBuildError(f"no containerd socket at {containerd_address}: is containerd up?")
    ref = archive_ref(archive)
    result = subprocess.run(
        ctr_import_args(archive, containerd_address, namespace, snapshotter),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if result.returncode != 0:
        raise ImageBuildError(
            f"ctr images import {archive} into {containerd_address} ({namespace}) failed: "
            f"{(result.stderr or result.stdout).strip()[-2000:]}"
        )
    # What a pull by CRI records too: the repository@digest name, so a chart that pins
    # image.digest resolves locally as well as one that names the tag.
    digest_ref = f"{ref.rsplit(':', 1)[0]}@{archive_digest(archive)}"
    ctr = ["ctr", "--address", containerd_address, "--namespace", namespace, "images"]
    if digest_ref not in list_refs(containerd_address, namespace):
        subprocess.run([*ctr, "tag", ref, digest_ref], capture_output=True, timeout=60, check=False)
    refs = list_refs(containerd_address, namespace)
    if ref not in refs:
        raise ImageBuildError(f"{ref} not listed by containerd after the import: {refs}")
    return ref
