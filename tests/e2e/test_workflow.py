"""The kind-e2e GitHub workflow, linted: it needs Docker, so it never runs on the CI here.

actionlint (built from the Go module proxy like the other binaries) checks the workflow syntax,
action inputs, expressions and, with shellcheck on PATH, every ``run:`` script. A deliberately
broken copy must be refused, so a silently skipped lint cannot pass for a clean one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hrl_autoscaler.tools.devenv.binaries import ensure_binaries

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"


def _actionlint(workflow: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    binary = ensure_binaries(print, require_prometheus=False).actionlint
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: `make system-deps` installs it (Debian shellcheck)"
    return subprocess.run(
        [str(binary), "-shellcheck", shellcheck, "-no-color", str(workflow)],
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("workflow", sorted(WORKFLOWS.glob("*.yml")), ids=lambda p: p.name)
def test_workflow_passes_actionlint(workflow: Path) -> None:
    result = _actionlint(workflow, REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_refuses_a_broken_workflow(tmp_path: Path) -> None:
    source = (WORKFLOWS / "kind-e2e.yml").read_text()
    broken = source.replace("runs-on: ubuntu-24.04", "runs-on: ubuntu-24.04\n    timeout: 5")
    broken = broken.replace(
        "run: kubectl version --client", 'run: echo ${{ steps.nothing.outputs.x }} $UNQUOTED"'
    )
    assert broken != source
    target = tmp_path / ".github" / "workflows" / "kind-e2e.yml"
    target.parent.mkdir(parents=True)
    target.write_text(broken)
    result = _actionlint(target, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'unexpected key "timeout"' in result.stdout
    assert "steps.nothing" in result.stdout
