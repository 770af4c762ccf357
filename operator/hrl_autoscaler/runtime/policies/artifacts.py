"""Artifact directories: ``metadata.json`` + files whose sha256 it records.

A policy is only as trustworthy as the proof that it is the one that was evaluated. The loader
refuses a directory whose files do not match the recorded digests, whose observation schema is
not the one this code builds, or whose kind is not the one asked for, and says which and why.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
import zlib
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
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyError(f"{path}: missing; is {directory} a policy artifact directory?") from None
    except (OSError, ValueError) as exc:  # ValueError: bad JSON and bad UTF-8 alike
        raise PolicyError(f"{path}: unreadable metadata ({exc})") from None
    if not isinstance(meta, dict):
        raise PolicyError(f"{path}: expected a JSON object, got {type(meta).__name__}")
    if meta.get("kind") != kind:
        raise PolicyError(f"{path}: kind is {meta.get('kind')!r}, expected {kind!r}")
    if meta.get("schema_version") != schema_version:
        raise PolicyError(
            f"{path}: observation schema version {meta.get('schema_version')!r} does not match "
            f"this runtime's {schema_version}; retrain or use a matching release"
        )
    files = meta.get("files")
    if (
        not isinstance(files, dict)
        or not files
        or not all(isinstance(v, str) and v for v in files.values())
    ):
        raise PolicyError(f"{path}: 'files' must map file names to sha256 digests")
    for name, expected in files.items():
        if not name or "\0" in name or Path(name).name != name:
            raise PolicyError(f"{path}: {name!r} in 'files' is not a file name in {directory}")
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
    if not isinstance(name, str) or name not in meta["files"]:
        raise PolicyError(
            f"{directory / METADATA_FILE}: runtime_file {name!r} is not among the hashed files"
        )
    path = directory / name
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k], dtype=np.float64) for k in data.files}
    # A damaged archive fails inside zipfile/zlib with errors of their own, not OSError.
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
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


def check_network(
    directory: Path | None,
    layers: list[tuple[np.ndarray, np.ndarray]],
    inputs: int,
    outputs: int,
) -> None:
    """Every layer a finite (out, in) matrix with an (out,) bias, chained from ``inputs`` to
    ``outputs``.

    The sha256 in metadata.json proves the file is the one that was written, not that what was
    written fits this runtime: a retrained or hand-edited archive with the right digest but the
    wrong shapes must be refused at load with the layer named, not fail (or, worse, broadcast
    silently) at the first decision.
    """
    width = inputs
    for index, (weight, bias) in enumerate(layers):
        where = f"{directory}: layer {index}"
        if weight.ndim != 2 or bias.ndim != 1:
            raise PolicyError(
                f"{where}: weights must be 2-D and bias 1-D, got shapes {weight.shape} and "
                f"{bias.shape}"
            )
        if weight.shape[1] != width:
            raise PolicyError(
                f"{where}: expects {weight.shape[1]} inputs, but "
                + ("the runtime builds" if index == 0 else "the layer before gives")
                + f" {width}"
            )
        if bias.shape != (weight.shape[0],):
            raise PolicyError(f"{where}: bias {bias.shape} does not fit weights {weight.shape}")
        if not (np.isfinite(weight).all() and np.isfinite(bias).all()):
            raise PolicyError(f"{where}: holds NaN or infinite values")
        width = weight.shape[0]
    if width != outputs:
        raise PolicyError(f"{directory}: the network gives {width} outputs, expected {outputs}")


def scalar(directory: Path | None, arrays: dict[str, np.ndarray], name: str) -> float:
    """A one-element array as a finite float, or a PolicyError naming the array."""
    array = arrays[name]
    if array.size != 1 or not np.isfinite(array).all():
        raise PolicyError(f"{directory}: {name} must be one finite number, got {array!r:.80}")
    return float(array.reshape(()))


def write_metadata(directory: Path, meta: dict[str, Any], files: list[str]) -> dict[str, Any]:
    """Record the digests of ``files`` and write ``metadata.json``."""
    meta = {**meta, "files": {name: sha256_file(directory / name) for name in sorted(files)}}
    (directory / METADATA_FILE).write_text(
        json.dumps(meta, indent=2, sort_keys=False) + "\n", encoding="utf-8"
    )
    return meta
