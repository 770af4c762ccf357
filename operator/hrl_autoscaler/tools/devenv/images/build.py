"""The project's images (the operator, and the Spark driver/executor image): the real
Dockerfile built by ``buildah bud --target <kind>`` on the Debian base, exported to an OCI
archive in the cache, reused while its inputs are unchanged. One code path for every kind:
only :class:`.settings.ImageSettings` differs (target, name, archive name, inputs).

Why buildah (Debian's): it builds Dockerfiles itself, multi-stage with ``--target``, ``ARG``
before ``FROM`` and ``RUN --mount=type=cache``, with no daemon, as root with chroot isolation
(no namespaces beyond a chroot, the host network for pip), and writes ``oci-archive`` files
that ``ctr images import`` reads. podman would wrap the same library with a heavier
runtime; umoci only unpacks and repacks layers and cannot run a Dockerfile.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from hrl_autoscaler.tools.devenv.images import checks
from hrl_autoscaler.tools.devenv.images.base import ensure_base
from hrl_autoscaler.tools.devenv.images.commands import (
    ImageBuildError,
    Progress,
    Runner,
    bud_args,
    buildah,
    push_args,
)
from hrl_autoscaler.tools.devenv.images.containerd import archive_digest
from hrl_autoscaler.tools.devenv.images.hashing import base_hash, image_hash
from hrl_autoscaler.tools.devenv.images.settings import (
    BaseSettings,
    ImageSettings,
    OperatorSettings,
    SparkImageSettings,
    StorageSettings,
)

#: The operator's archive name (kept for callers from before the Spark image).
ARCHIVE_NAME = OperatorSettings().archive_name


@dataclass(frozen=True)
class BuiltImage:
    """A built image: its name, where its archive is, what it is made of."""

    #: The name in the archive's index, which ``ctr images import`` gives the image.
    ref: str
    archive: Path
    #: The manifest digest (``sha256:...``), as containerd lists it after the import.
    digest: str
    #: The cache key: the hash of every input of the build.
    content_hash: str
    size_bytes: int
    #: Seconds the build took when it was made (0 for a cache hit's own call).
    build_seconds: float
    cached: bool


def archive_dir(storage: StorageSettings, content_hash: str) -> Path:
    return storage.archives / content_hash[:24]


def _load_cached(directory: Path) -> BuiltImage | None:
    record = directory / "image.json"
    if not record.is_file():
        return None
    data = json.loads(record.read_text())
    archive = Path(data["archive"])
    if not archive.is_file() or archive.stat().st_size != data["size_bytes"]:
        return None
    data.update(archive=archive, cached=True)
    return BuiltImage(**data)


@contextmanager
def _locked(storage: StorageSettings) -> Iterator[None]:
    """One build at a time (pytest workers, a CLI run next to a test): buildah's storage is
    shared, and a second build of the same inputs should wait for, then reuse, the first."""
    storage.root.mkdir(parents=True, exist_ok=True)
    with (storage.root / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _prune(storage: StorageSettings, keep: Path, archive_name: str) -> None:
    """Drop the archives of older inputs of this kind (the operator's is about 190 MB, the
    Spark image's about 700 MB): only the newest is imported. Other kinds' archives stay."""
    partial = Path(archive_name).with_suffix(".partial").name
    for directory in storage.archives.iterdir():
        if not directory.is_dir() or directory == keep:
            continue
        if (directory / archive_name).exists() or (directory / partial).exists():
            shutil.rmtree(directory, ignore_errors=True)


def operator_content_hash(
    settings: OperatorSettings | None = None, base: BaseSettings | None = None
) -> str:
    return image_hash(settings or OperatorSettings(), base_hash(base or BaseSettings()))


def ensure_image(
    settings: ImageSettings,
    progress: Progress = print,
    *,
    force: bool = False,
    base: BaseSettings | None = None,
    storage: StorageSettings | None = None,
) -> BuiltImage:
    """The image of ``settings`` as an OCI archive: from the cache when every input is
    unchanged, else built (the base first, when its inputs changed) with the project's
    Dockerfile."""
    base = base or BaseSettings()
    storage = storage or StorageSettings()
    if not (settings.repo / "Dockerfile").is_file():
        raise ImageBuildError(f"no Dockerfile in {settings.repo}: build from a checkout")
    content_hash = image_hash(settings, base_hash(base))
    directory = archive_dir(storage, content_hash)
    if not force and (hit := _load_cached(directory)) is not None:
        progress(f"[image] {hit.ref}: cached ({content_hash[:12]})")
        return hit
    checks.require_root()
    checks.require_tools(["debootstrap", "buildah", "tar"])
    with _locked(storage):
        if not force and (hit := _load_cached(directory)) is not None:
            progress(f"[image] {hit.ref}: built meanwhile by another process")
            return hit
        return _build(settings, base, storage, content_hash, directory, progress)


def ensure_operator_image(
    progress: Progress = print,
    *,
    force: bool = False,
    settings: OperatorSettings | None = None,
    base: BaseSettings | None = None,
    storage: StorageSettings | None = None,
) -> BuiltImage:
    """The operator image (the Dockerfile's default target); see :func:`ensure_image`."""
    return ensure_image(
        settings or OperatorSettings(), progress, force=force, base=base, storage=storage
    )


def ensure_spark_image(
    progress: Progress = print,
    *,
    force: bool = False,
    settings: SparkImageSettings | None = None,
    base: BaseSettings | None = None,
    storage: StorageSettings | None = None,
) -> BuiltImage:
    """The Spark driver/executor image (target ``spark-job``); see :func:`ensure_image`.
    A cold build downloads the JRE from Debian, pyspark from PyPI, the Kafka jars from Maven."""
    return ensure_image(
        settings or SparkImageSettings(), progress, force=force, base=base, storage=storage
    )


def _build(
    settings: ImageSettings,
    base: BaseSettings,
    storage: StorageSettings,
    content_hash: str,
    directory: Path,
    progress: Progress,
) -> BuiltImage:
    started = time.monotonic()
    for path in (storage.graph_root, storage.run_root, storage.tmp, storage.logs):
        path.mkdir(parents=True, exist_ok=True)
    log = storage.logs / f"build-{content_hash[:12]}.log"
    log.write_text("")
    # buildah puts RUN cache mounts (pip's cache) and scratch files under TMPDIR.
    runner = Runner(log, progress, env={**os.environ, "TMPDIR": str(storage.tmp)})
    progress(f"[image] building {settings.ref} ({content_hash[:12]}); log: {log}")
    base_ref = ensure_base(base, storage, runner, progress)
    checks.require_pypi()
    for url in settings.probes:
        checks.probe(url, url.split("/")[2], "the Dockerfile downloads from it; check the network")
    local = f"{settings.repository}:build-{content_hash[:12]}"
    phase = time.monotonic()
    progress(f"[image] buildah bud --target {settings.target} (downloads: pip, apt) ...")
    runner.run("buildah bud", bud_args(storage, settings, base_ref, local))
    progress(f"[image] Dockerfile built in {time.monotonic() - phase:.0f} s")
    phase = time.monotonic()
    directory.mkdir(parents=True, exist_ok=True)
    archive = directory / settings.archive_name
    partial = archive.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    runner.run("buildah push", push_args(storage, local, partial, settings.ref))
    partial.rename(archive)
    _prune(storage, keep=directory, archive_name=settings.archive_name)
    # The archive is the artifact; the image in buildah's storage would only duplicate it.
    runner.run("buildah rmi", buildah(storage, "rmi", local))
    progress(f"[image] exported {archive} in {time.monotonic() - phase:.0f} s")
    built = BuiltImage(
        ref=settings.ref,
        archive=archive,
        digest=archive_digest(archive),
        content_hash=content_hash,
        size_bytes=archive.stat().st_size,
        build_seconds=round(time.monotonic() - started, 1),
        cached=False,
    )
    record = {**asdict(built), "archive": str(archive)}
    record.pop("cached")
    (directory / "image.json").write_text(json.dumps(record, indent=2) + "\n")
    return built
