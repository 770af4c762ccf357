"""Install CustomResourceDefinitions from YAML files and wait until they are served.

A CRD is usable only once its ``Established`` condition is true; creating objects before that
fails with 404, which is why applying waits. Responses are read as plain JSON rather than the
client's models: the upstream SparkApplication CRD is 13,000 lines and model deserialisation of
large or unusual CRD statuses is slow and has been brittle in the Python client.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

ESTABLISH_TIMEOUT_SECONDS = 30.0
CRD_SUFFIXES = (".yaml", ".yml", ".json")
CRD_KIND = "CustomResourceDefinition"


class CrdError(RuntimeError):
    """A CRD file is unreadable, rejected, or never became Established."""


def crd_files(paths: Iterable[Path]) -> list[Path]:
    """Expand directories into their YAML/JSON files (sorted); keep files as given."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in CRD_SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            raise CrdError(f"CRD path {path} does not exist")
    return files


def load_crds(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Every CustomResourceDefinition document in the given files or directories."""
    crds: list[dict[str, Any]] = []
    for file in crd_files(paths):
        try:
            documents = list(yaml.safe_load_all(file.read_text()))
        except yaml.YAMLError as exc:
            raise CrdError(f"{file}: not valid YAML: {exc}") from exc
        crds += [d for d in documents if isinstance(d, dict) and d.get("kind") == CRD_KIND]
    return crds


def _read(api: k8s_client.ApiextensionsV1Api, name: str) -> dict[str, Any]:
    # With _preload_content=False the client returns the raw urllib3 response.
    response: Any = api.read_custom_resource_definition(name, _preload_content=False)
    data: dict[str, Any] = json.loads(response.data)
    return data


def create_crd(api: k8s_client.ApiextensionsV1Api, crd: dict[str, Any]) -> bool:
    """Create the CRD; False when one of that name exists already."""
    name = str(crd["metadata"]["name"])
    body: Any = crd  # the client sends plain dicts as they are
    try:
        api.create_custom_resource_definition(body, _preload_content=False)
        return True
    except ApiException as exc:
        if exc.status != 409:
            raise CrdError(f"creating CRD {name} failed: {exc.status} {exc.body}") from exc
    return False


def apply_crd(api: k8s_client.ApiextensionsV1Api, crd: dict[str, Any]) -> str:
    """Create the CRD, or replace an existing one of the same name; return its name."""
    name = str(crd["metadata"]["name"])
    if create_crd(api, crd):
        return name
    current = _read(api, name)
    version = current["metadata"]["resourceVersion"]
    body: Any = {**crd, "metadata": {**crd["metadata"], "resourceVersion": version}}
    try:
        api.replace_custom_resource_definition(name, body, _preload_content=False)
    except ApiException as exc:
        raise CrdError(f"replacing CRD {name} failed: {exc.status} {exc.body}") from exc
    return name


def is_established(crd: dict[str, Any]) -> bool:
    conditions = crd.get("status", {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def wait_established(
    api: k8s_client.ApiextensionsV1Api,
    names: Sequence[str],
    timeout: float = ESTABLISH_TIMEOUT_SECONDS,
) -> None:
    """Block until every named CRD is Established."""
    deadline = time.monotonic() + timeout
    pending = list(names)
    while pending:
        pending = [n for n in pending if not is_established(_read(api, n))]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise CrdError(f"CRDs not Established after {timeout:.0f}s: {', '.join(pending)}")
        time.sleep(0.1)


def apply_crds(
    api_client: k8s_client.ApiClient,
    paths: Iterable[Path],
    timeout: float = ESTABLISH_TIMEOUT_SECONDS,
) -> list[str]:
    """Apply every CRD found under ``paths`` and wait until all are Established."""
    api = k8s_client.ApiextensionsV1Api(api_client)
    crds = load_crds(paths)
    names = [apply_crd(api, crd) for crd in crds]
    wait_established(api, names, timeout)
    return names


def _repo_root() -> Path | None:
    """The checkout this package runs from (None when installed from a wheel)."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "manifests" / "crds").is_dir() and (parent / "pyproject.toml").is_file():
            return parent
    return None


def project_crd_dir() -> Path | None:
    """The project's own CRDs (``manifests/crds``), when running from a checkout."""
    root = _repo_root()
    return root / "manifests" / "crds" if root else None


def upstream_crd_dir() -> Path | None:
    """The upstream Spark Operator CRDs kept beside the repository (``<repo>/../shared/crds``)."""
    root = _repo_root()
    if root is None:
        return None
    shared = root.parent / "shared" / "crds"
    return shared if any(shared.glob("*.yaml")) else None


#: The project's own API (not the SparkApplication stand-in), in ``manifests/crds``.
OWN_CRD_FILES = ("executorbudgets.yaml",)


def own_crd_files() -> list[Path]:
    """The CRDs of the operator's own API (ExecutorBudget), when running from a checkout."""
    crds = project_crd_dir()
    if crds is None:
        return []
    return [crds / name for name in OWN_CRD_FILES if (crds / name).is_file()]


def default_crd_paths() -> list[Path]:
    """What a local control plane installs: the SparkApplication CRD (upstream's beside the
    repository, else the project's stand-in) and the operator's own CRDs (ExecutorBudget).
    Empty when neither is found (an installed package without a checkout)."""
    upstream, project = upstream_crd_dir(), project_crd_dir()
    if upstream is not None:
        return [upstream, *own_crd_files()]
    return [project] if project is not None else []


def apply_missing_crds(
    api_client: k8s_client.ApiClient,
    paths: Iterable[Path],
    timeout: float = ESTABLISH_TIMEOUT_SECONDS,
) -> list[str]:
    """Create only the CRDs the cluster lacks (a cluster's own CRDs are left as they are) and
    wait until every one named under ``paths`` is Established; return the names created."""
    api = k8s_client.ApiextensionsV1Api(api_client)
    crds = load_crds(paths)
    created = [str(crd["metadata"]["name"]) for crd in crds if create_crd(api, crd)]
    wait_established(api, [str(crd["metadata"]["name"]) for crd in crds], timeout)
    return created
