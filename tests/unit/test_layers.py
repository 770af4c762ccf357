"""The package's layers: imports only point down.

``config`` is the bottom (settings), then ``runtime.core`` (the pure decision path: no kopf, no
Kubernetes client), then the rest of ``runtime`` (the operator), then ``research`` (which
evaluates and trains the runtime's decision path) and ``tools`` (where the dev environment sits
below the demo and the benchmarks that use it); ``cli`` is the top. Lazy
imports inside functions count too: a layer that reaches up at run time is still tangled.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hrl_autoscaler

PACKAGE = Path(hrl_autoscaler.__file__).parent

#: layer -> the hrl_autoscaler subpackages (and third-party roots) it must never import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "config": (
        "hrl_autoscaler.runtime",
        "hrl_autoscaler.research",
        "hrl_autoscaler.tools",
        "hrl_autoscaler.cli",
    ),
    "runtime/core": (
        "hrl_autoscaler.runtime.k8s",
        "hrl_autoscaler.runtime.service",
        "hrl_autoscaler.runtime.policies",
        "hrl_autoscaler.runtime.handlers",
        "hrl_autoscaler.research",
        "hrl_autoscaler.tools",
        "hrl_autoscaler.cli",
        "kopf",
        "kubernetes",
    ),
    "runtime/service": (
        "hrl_autoscaler.runtime.handlers",
        "hrl_autoscaler.research",
        "hrl_autoscaler.tools",
        "hrl_autoscaler.cli",
    ),
    "runtime": ("hrl_autoscaler.research", "hrl_autoscaler.tools", "hrl_autoscaler.cli"),
    "research": ("hrl_autoscaler.tools", "hrl_autoscaler.cli", "kopf", "kubernetes"),
    "tools/devenv": (
        "hrl_autoscaler.tools.demo",
        "hrl_autoscaler.tools.bench",
        "hrl_autoscaler.cli",
    ),
    "tools": ("hrl_autoscaler.cli",),
}


def _imports(source: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_import_reaches_up(layer: str) -> None:
    sources = sorted((PACKAGE / layer).rglob("*.py"))
    if (PACKAGE / f"{layer}.py").is_file():
        sources.append(PACKAGE / f"{layer}.py")
    assert sources, layer
    upward = [
        f"{source.relative_to(PACKAGE)}: {name}"
        for source in sources
        for name in _imports(source)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[layer])
    ]
    assert upward == []


def test_the_package_shows_three_parts_and_its_settings() -> None:
    top = {p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert top == {"cli", "config", "runtime", "research", "tools"}


def test_every_module_is_small() -> None:
    """About 400 lines at most: a longer module does more than one job."""
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert long == {}
