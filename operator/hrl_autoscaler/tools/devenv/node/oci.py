"""Write an OCI image archive by hand: one layer, no registry, no image builder.

``ctr images import`` reads the OCI image layout (``oci-layout``, ``index.json`` and content
addressed blobs) from a tar. A one-layer image is a handful of JSON documents and a tar of the
files, so writing it directly beats pulling a builder into the dev environment. Output is
deterministic (sorted entries, fixed mtimes and owners), so the same inputs give the same digest.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar"


@dataclass(frozen=True)
class LayerEntry:
    """One file, directory or symlink of the layer (``source`` for files, ``target`` for links)."""

    path: str
    source: Path | None = None
    target: str | None = None
    mode: int = 0o755

    @property
    def is_dir(self) -> bool:
        return self.source is None and self.target is None


@dataclass(frozen=True)
class ImageSpec:
    """What the image runs: its reference and the config's process settings."""

    reference: str
    entries: Sequence[LayerEntry]
    entrypoint: Sequence[str] = ()
    cmd: Sequence[str] = ()
    env: Sequence[str] = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
    labels: dict[str, str] = field(default_factory=dict)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(entries: Sequence[LayerEntry]) -> bytes:
    """The uncompressed layer: entries sorted by path, owner root, mtime 0."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(entries, key=lambda e: e.path):
            info = tarfile.TarInfo(entry.path.lstrip("/"))
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mode = entry.mode
            if entry.target is not None:
                info.type = tarfile.SYMTYPE
                info.linkname = entry.target
                tar.addfile(info)
            elif entry.source is not None:
                data = entry.source.read_bytes()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
    return buffer.getvalue()


def _blob(tar: tarfile.TarFile, data: bytes) -> str:
    digest = _digest(data)
    info = tarfile.TarInfo("blobs/sha256/" + digest.split(":", 1)[1])
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))
    return digest


def _json(doc: object) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def image_documents(spec: ImageSpec, layer: bytes) -> tuple[bytes, bytes]:
    """(config, manifest) JSON bytes for a one-layer linux/amd64 image."""
    config = _json(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "Entrypoint": list(spec.entrypoint) or None,
                "Cmd": list(spec.cmd) or None,
                "Env": list(spec.env),
                "Labels": spec.labels or None,
            },
            "rootfs": {"type": "layers", "diff_ids": [_digest(layer)]},
            "history": [{"created_by": "hrl-autoscaler devenv (hand-written OCI layout)"}],
        }
    )
    manifest = _json(
        {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": {"mediaType": MEDIA_CONFIG, "digest": _digest(config), "size": len(config)},
            "layers": [{"mediaType": MEDIA_LAYER, "digest": _digest(layer), "size": len(layer)}],
        }
    )
    return config, manifest


def write_archive(spec: ImageSpec, output: Path) -> str:
    """Write the OCI archive to ``output``; return the manifest digest.

    ``io.containerd.image.name`` in index.json is the full reference ``ctr images import`` gives
    the image; ``org.opencontainers.image.ref.name`` is the tag, for other readers of the layout.
    """
    layer = layer_tar(spec.entries)
    config, manifest = image_documents(spec, layer)
    tag = spec.reference.rsplit(":", 1)[1] if ":" in spec.reference.split("/")[-1] else "latest"
    index = _json(
        {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": MEDIA_MANIFEST,
                    "digest": _digest(manifest),
                    "size": len(manifest),
                    "platform": {"architecture": "amd64", "os": "linux"},
                    "annotations": {
                        "io.containerd.image.name": spec.reference,
                        "org.opencontainers.image.ref.name": tag,
                    },
                }
            ],
        }
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(".tmp")
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        layout = _json({"imageLayoutVersion": "1.0.0"})
        for name, data in (("oci-layout", layout), ("index.json", index)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
        for data in (layer, config, manifest):
            _blob(tar, data)
    tmp.replace(output)
    return _digest(manifest)
