"""Artifact directories: ``metadata.json`` + files whose sha256 it records.

A policy is only as trustworthy as the proof that it is the one that was evaluated. The loader
refuses a directory whose files do not match the recorded digests, whose observation schema is
not the one this code builds, or whose kind is not the one asked for, and says which and why.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

METADATA_FILE = "metadata.json"
POLICIES_ENV = "HRL_AUTOSCALER_POLICIES"


#: Where each artifact lives under the policies directory.
PPO_DIR = "ppo"


def meta_dir(objective: str) -> str:
    return f"meta-{objective}"


class PolicyError(RuntimeError):
    """A policy artifact that cannot be used; the message names the file and the problem."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_policies_dir() -> Path:
    """``$HRL_AUTOSCALER_POLICIES``, else the repository's ``policies/`` (or /app/policies)."""
    env = os.environ.get(POLICIES_ENV)
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[4] / "policies"
    return repo if repo.is_dir() else Path("/app/policies")


def read_metadata(directory: Path, kind: str, schema_version: int) -> dict[str, Any]:
    """Validated metadata of an artifact directory (digests, kind, schema version)."""
    path = directory / METADATA_FILE
    try:
        meta: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyError(f"{path}: missing; is {directory} a policy artifact directory?") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise PolicyError(f"{path}: unreadable metadata ({exc})") from None
    if meta.get("kind") != kind:
        raise PolicyError(f"{path}: kind is {meta.get('kind')!r}, expected {kind!r}")
    if meta.get("schema_version") != schema_version:
        raise PolicyError(
            f"{path}: observation schema version {meta.get('schema_version')!r} does not match "
            f"this runtime's {schema_version}; retrain or use a matching release"
        )
    files = meta.get("files")
    if not isinstance(files, dict) or not files:
        raise PolicyError(f"{path}: 'files' must map file names to sha256 digests")
    for name, expected in files.items():
        file = directory / name
        if not file.is_file():
            raise PolicyError(f"{file}: listed in metadata.json but missing")
        actual = sha256_file(file)
        if actual != expected:
            raise PolicyError(
                f"{file}: sha256 {actual[:12]}... does not match "
                f"metadata.json's {str(expected)[:12]}...; the file was changed or corrupted"
            )
    return meta


def load_arrays(
    directory: Path, meta: dict[str, Any], required: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """The runtime weights (``.npz``, loaded without pickle), with the arrays the runtime needs."""
    name = meta.get("runtime_file", "")
    path = directory / name
    if name not in meta.get("files", {}):
        raise PolicyError(
            f"{directory / METADATA_FILE}: runtime_file {name!r} is not among the hashed files"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k], dtype=np.float64) for k in data.files}
    except (OSError, ValueError) as exc:
        raise PolicyError(f"{path}: not a readable numpy archive ({exc})") from None
    missing = [k for k in required if k not in arrays]
    if missing:
        raise PolicyError(f"{path}: missing arrays {', '.join(missing)}")
    return arrays


def load_artifact(
    directory: Path, kind: str, schema_version: int, required: tuple[str, ...]
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """An artifact's checked metadata and its runtime arrays (every check of both)."""
    meta = read_metadata(directory, kind, schema_version)
    return meta, load_arrays(directory, meta, required)


def write_metadata(directory: Path, meta: dict[str, Any], files: list[str]) -> dict[str, Any]:
    """Record the digests of ``files`` and write ``metadata.json``."""
    meta = {**meta, "files": {name: sha256_file(directory / name) for name in sorted(files)}}
    (directory / METADATA_FILE).write_text(
        json.dumps(meta, indent=2, sort_keys=False) + "\n", encoding="utf-8"
    )
    return meta
