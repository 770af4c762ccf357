"""The operator image without a Docker engine: the Dockerfile replayed, then run read-only.

No Docker engine runs in CI, so the ``builder`` stage of the Dockerfile is replayed as written
(its ENV, WORKDIR, COPY and RUN lines, with the image's absolute paths moved under a scratch
root) into a fresh virtual environment, using pip's cache. What the image promises is then
checked on that venv: no torch, ``hrl-autoscaler run --help`` works, the policies copied the way
the final stage copies them load, and the operator, started from the venv as the image's
numeric non-root user with the venv and policies read-only and an unwritable HOME, answers
/healthz and /readyz against the real control plane.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import yaml

from hrl_autoscaler.tools.devenv.components import operator_config
from hrl_autoscaler.tools.devenv.processes import ManagedProcess
from hrl_autoscaler.tools.devenv.testing import DevEnvHandle

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
#: Absolute paths inside the image that the replay moves under its scratch root.
IMAGE_ROOTS = ("/opt", "/app", "/src", "/tmp")
#: Environment variables of the host that must not leak into the replayed build or the run.
HOST_ONLY = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "KUBECONFIG")


# -- a small Dockerfile reader ------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    args: str


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [i.args for i in self.instructions if i.keyword == keyword]


def logical_lines(text: str) -> list[str]:
    """Instructions with their ``\\`` continuations joined and comment lines dropped."""
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    assert not current, "the Dockerfile ends inside a continued line"
    return lines


def parse_dockerfile(text: str) -> tuple[dict[str, str], dict[str, Stage]]:
    """Global ARGs (with defaults) and the stages by name."""
    global_args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    stage: Stage | None = None
    for line in logical_lines(text):
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        args = args.strip()
        if keyword == "FROM":
            match = re.fullmatch(r"(\S+)\s+AS\s+(\S+)", args, re.IGNORECASE)
            assert match, f"every stage needs a name: FROM {args}"
            stage = Stage(match.group(1), match.group(2))
            stages[stage.name] = stage
        elif stage is None:
            assert keyword == "ARG", f"{keyword} before the first FROM"
            name, _, default = args.partition("=")
            global_args[name] = default
        else:
            stage.instructions.append(Instruction(keyword, args))
    return global_args, stages


def env_pairs(args: str) -> list[tuple[str, str]]:
    """``ENV A=1 B="x y"`` -> [("A", "1"), ("B", "x y")]."""
    pairs = []
    for token in shlex.split(args):
        key, sep, value = token.partition("=")
        assert sep, f"ENV {args}: use the KEY=value form"
        pairs.append((key, value))
    return pairs


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"expected the exec (JSON) form, got {args}"
    return [str(v) for v in value]


# -- replaying a stage under a scratch root -----------------------------------------------------


def dockerignore_patterns() -> list[re.Pattern[str]]:
    patterns = []
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        assert not line.startswith("!"), "exceptions are not supported by the replay"
        regex = re.escape(line.strip("/")).replace(r"\*\*/", "(?:.*/)?")
        regex = regex.replace(r"\*\*", ".*").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        patterns.append(re.compile(regex))
    return patterns


def ignored(relative: str, patterns: list[re.Pattern[str]]) -> bool:
    """Docker's rule: a path is excluded when it or one of its parents matches."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(p.fullmatch(prefix) for p in patterns for prefix in prefixes)


class Replay:
    """Runs one stage's instructions with the image's paths moved under ``root``."""

    def __init__(self, root: Path, global_args: dict[str, str], base_env: dict[str, str]):
        self.root = root
        self.env = dict(base_env)
        self.args = dict(global_args)
        self.workdir = root
        self.patterns = dockerignore_patterns()
        self.log: list[str] = []

    def remap(self, value: str) -> str:
        """Image paths (``/opt/venv``, also inside ``a:b`` lists) -> paths under the root."""
        roots = "|".join(re.escape(r) for r in IMAGE_ROOTS)
        return re.sub(
            rf"(^|:)((?:{roots})(?:/[^:]*)?)(?=:|$)",
            lambda m: m.group(1) + str(self.root) + m.group(2),
            value,
        )

    def expand(self, value: str) -> str:
        names = {**self.args, **self.env}
        return re.sub(
            r"\$\{(\w+)\}|\$(\w+)",
            lambda m: names.get(m.group(1) or m.group(2), ""),
            value,
        )

    def path(self, image_path: str) -> Path:
        if image_path.startswith("/"):
            return Path(self.remap(self.expand(image_path)))
        return self.workdir / self.expand(image_path)

    def copy_from_context(self, sources: list[str], dest: str) -> None:
        target = self.path(dest)
        into_dir = dest.endswith("/") or len(sources) > 1
        for source in sources:
            src = REPO / source
            assert src.exists(), f"COPY {source}: not in the build context"
            assert not ignored(source.strip("/"), self.patterns), f"COPY {source}: dockerignored"
            final = target / src.name if into_dir or (target.is_dir() and src.is_file()) else target
            if src.is_dir():
                shutil.copytree(
                    src,
                    final,
                    dirs_exist_ok=True,
                    ignore=lambda d, names: [
                        n
                        for n in names
                        if ignored(str((Path(d) / n).relative_to(REPO)), self.patterns)
                    ],
                )
            else:
                final.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, final)

    def run(self, stage: Stage, keywords: tuple[str, ...], timeout_s: float = 900.0) -> None:
        for instruction in stage.instructions:
            keyword, args = instruction.keyword, instruction.args
            if keyword not in keywords:
                continue
            if keyword == "ENV":
                updates = {k: self.expand(self.remap(v)) for k, v in env_pairs(args)}
                self.env.update(updates)
            elif keyword == "ARG":
                name, _, default = args.partition("=")
                self.args[name] = self.expand(default)
            elif keyword == "WORKDIR":
                self.workdir = self.path(args)
                self.workdir.mkdir(parents=True, exist_ok=True)
            elif keyword == "COPY":
                words = shlex.split(args)
                flags = [w for w in words if w.startswith("--")]
                paths = [w for w in words if not w.startswith("--")]
                if any(f.startswith("--from=") for f in flags):
                    # Another stage's path: the replay keeps every stage under one root.
                    src, dest = paths
                    assert self.path(src) == self.path(dest), f"COPY {args}: path changes"
                    continue
                self.copy_from_context(paths[:-1], paths[-1])
            elif keyword == "RUN":
                command = re.sub(r"^(?:--\S+\s+)+", "", args)
                self.log.append(f"RUN {command}")
                started = time.monotonic()
                result = subprocess.run(
                    ["/bin/sh", "-c", command],
                    cwd=self.workdir,
                    env=self.env,
                    capture_output=True,
                    text=True,
                    timeout=timeout_s,
                    check=False,
                )
                self.log.append(f"  -> {result.returncode} in {time.monotonic() - started:.0f}s")
                assert result.returncode == 0, (
                    f"RUN {command} failed ({result.returncode}):\n"
                    f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
                )


# -- fixtures -----------------------------------------------------------------------------------


@dataclass
class BuiltImage:
    root: Path
    stages: dict[str, Stage]
    venv: Path
    policies: Path
    runtime_env: dict[str, str]
    log: list[str]

    def python(self, code: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.venv / "bin" / "python"), "-c", code],
            env={**self.runtime_env, **extra_env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def host_env(shims: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in HOST_ONLY}
    env["PATH"] = f"{shims}:{env.get('PATH', '/usr/bin:/bin')}"
    return env


@pytest.fixture(scope="module")
def image() -> Iterator[BuiltImage]:
    global_args, stages = parse_dockerfile(DOCKERFILE.read_text())
    assert {"builder", "operator", "spark-job"} <= set(stages), sorted(stages)
    # Not under pytest's tmp_path: that is private to root, and the operator runs as uid 65532.
    root = Path(tempfile.mkdtemp(prefix="hrl-image-"))
    root.chmod(0o755)
    try:
        # The base image's `python` is CPython 3.11: use this interpreter's base installation.
        shims = root / "shims"
        shims.mkdir()
        base_python = Path(getattr(sys, "_base_executable", sys.executable))
        (shims / "python").symlink_to(base_python)
        replay = Replay(root, global_args, host_env(shims))
        started = time.monotonic()
        replay.run(stages["builder"], ("ARG", "ENV", "WORKDIR", "COPY", "RUN"))
        replay.log.append(f"builder replayed in {time.monotonic() - started:.0f}s")
        venv = Path(replay.env["VIRTUAL_ENV"])
        # The final stage: its COPY lines (the venv from the builder, the policies) and ENV.
        final = Replay(root, global_args, {"PATH": f"{shims}:/usr/bin:/bin"})
        final.run(stages["operator"], ("ARG", "ENV", "WORKDIR", "COPY"))
        runtime_env = dict(final.env)
        for key, value in os.environ.items():
            if key in ("LANG", "LC_ALL", "SSL_CERT_FILE"):
                runtime_env.setdefault(key, value)
        yield BuiltImage(
            root=root,
            stages=stages,
            venv=venv,
            policies=Path(runtime_env["HRL_AUTOSCALER_POLICIES"]),
            runtime_env=runtime_env,
            log=replay.log,
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


# -- what the image promises --------------------------------------------------------------------


def test_the_final_stage_is_non_root_with_a_healthcheck_and_the_operator_entrypoint() -> None:
    _, stages = parse_dockerfile(DOCKERFILE.read_text())
    final = list(stages.values())[-1]
    assert final.name == "operator", "the operator must be the default (last) target"
    [user] = final.all("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit(), f"USER {user}: numeric, so runAsNonRoot can check it"
    assert int(uid) != 0, f"USER {user}: not root"
    assert not gid or gid.isdigit()
    assert exec_form(final.all("ENTRYPOINT")[0]) == ["hrl-autoscaler"]
    assert exec_form(final.all("CMD")[0]) == ["run"]
    [healthcheck] = final.all("HEALTHCHECK")
    assert "/healthz" in healthcheck
    builder_env = dict(pair for args in stages["builder"].all("ENV") for pair in env_pairs(args))
    copies = [shlex.split(a) for a in final.all("COPY")]
    assert ["--from=builder", builder_env["VIRTUAL_ENV"], builder_env["VIRTUAL_ENV"]] in copies
    assert ["policies", "/app/policies"] in copies
    final_env = dict(pair for args in final.all("ENV") for pair in env_pairs(args))
    for var in ("HOME", "TMPDIR", "MPLCONFIGDIR", "XDG_CACHE_HOME"):
        assert final_env[var].startswith("/tmp"), f"{var} must point into the /tmp emptyDir"
    # every base image is pinned to a version, never a floating tag
    global_args, _ = parse_dockerfile(DOCKERFILE.read_text())
    for stage in stages.values():
        base = re.sub(r"\$\{(\w+)\}", lambda m: global_args[m.group(1)], stage.base)
        if base in stages:
            continue
        tag = base.split("@")[0].rsplit(":", 1)[-1]
        assert re.search(r"\d+\.\d+\.\d+", tag), f"stage {stage.name}: {base} is not pinned"


def test_the_spark_job_target_copies_the_job_and_installs_without_torch() -> None:
    _, stages = parse_dockerfile(DOCKERFILE.read_text())
    spark = stages["spark-job"]
    assert spark.base.endswith("SPARK_IMAGE}")
    global_args, _ = parse_dockerfile(DOCKERFILE.read_text())
    assert global_args["SPARK_IMAGE"] == "apache/spark:4.1.1-python3"
    copies = [shlex.split(a) for a in spark.all("COPY")]
    job = ["operator/hrl_autoscaler/tools/spark/iot_job.py", "/opt/hrl-autoscaler/iot_job.py"]
    assert job in copies
    assert (REPO / job[0]).is_file(), f"{job[0]} (the IoT job) is missing from the build context"
    patterns = dockerignore_patterns()
    for words in copies:
        for source in [w for w in words if not w.startswith("--")][:-1]:
            assert not ignored(source, patterns), f"COPY {source} is excluded by .dockerignore"
    runs = " ".join(spark.all("RUN"))
    assert "[k8s]" in runs  # the kubernetes client for the in-place agent
    assert "find_spec('torch')" in runs
    assert spark.all("USER")[-1] not in ("0", "root")


def test_the_builder_installs_runtime_dependencies_only(image: BuiltImage) -> None:
    print("\n".join(image.log))
    result = image.python(
        "import importlib.util as u, json, hrl_autoscaler;"
        "print(json.dumps({m: u.find_spec(m) is not None for m in "
        "('torch', 'stable_baselines3', 'pyspark', 'pytest', 'kopf', 'kubernetes')}));"
        "print(hrl_autoscaler.__file__)"
    )
    assert result.returncode == 0, result.stderr
    found_line, location = result.stdout.strip().splitlines()
    found = json.loads(found_line)
    assert found == {
        "torch": False,
        "stable_baselines3": False,
        "pyspark": False,
        "pytest": False,
        "kopf": True,
        "kubernetes": True,
    }
    # installed into the venv, not imported from the checkout
    assert location.startswith(str(image.venv)), location
    help_run = subprocess.run(
        [str(image.venv / "bin" / "hrl-autoscaler"), "run", "--help"],
        env=image.runtime_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert help_run.returncode == 0, help_run.stderr
    assert "--config" in help_run.stdout


def test_the_copied_policies_load_and_are_the_fallback_location(image: BuiltImage) -> None:
    result = image.python(
        "import json, os; from pathlib import Path;"
        "from hrl_autoscaler.runtime.policies.artifacts import default_policies_dir;"
        "from hrl_autoscaler.runtime.service.wiring import load_policies;"
        "p = load_policies(default_policies_dir());"
        "os.environ.pop('HRL_AUTOSCALER_POLICIES');"
        "print(json.dumps({'meta': sorted(p.meta), 'errors': p.meta_errors,"
        " 'fallback': str(default_policies_dir())}))"
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["meta"] == ["r_meta", "slo"]
    assert loaded["errors"] == {}
    # installed from a wheel, the repository's policies/ is out of reach: /app/policies it is
    assert loaded["fallback"] == "/app/policies"
    assert not list(image.policies.rglob("*.png")), ".dockerignore keeps training plots out"


def test_the_operator_runs_read_only_as_a_non_root_user(
    image: BuiltImage, devenv: DevEnvHandle
) -> None:
    root = image.root
    user = "65532"
    for path in (image.venv, image.policies):
        subprocess.run(["chmod", "-R", "a-w", str(path)], check=True)
    home = root / "home"
    home.mkdir(mode=0o555)
    scratch = Path(image.runtime_env["TMPDIR"])
    scratch.mkdir(parents=True, exist_ok=True)
    scratch.chmod(0o1777)
    etc = root / "etc"
    etc.mkdir()
    kubeconfig = etc / "kubeconfig"
    shutil.copy(devenv.kubeconfig, kubeconfig)
    kubeconfig.chmod(0o644)
    config = operator_config(
        devenv.prometheus_url, kubeconfig, 30.0, namespaces=["image-e2e"], http_host="127.0.0.1"
    )
    (etc / "config.yaml").write_text(yaml.safe_dump(config))
    port_file = scratch / "operator.port"
    env = {**image.runtime_env, "HOME": str(home), "POD_NAME": "image-e2e"}
    argv = [
        "/usr/bin/env",
        "-i",
        *(f"{k}={v}" for k, v in env.items()),
        shutil.which("setpriv") or "setpriv",
        f"--reuid={user}",
        f"--regid={user}",
        "--clear-groups",
        "--",
        str(image.venv / "bin" / "hrl-autoscaler"),
        "run",
        "--config",
        str(etc / "config.yaml"),
        "--port-file",
        str(port_file),
    ]
    before = {p for p in root.rglob("*") if not p.is_relative_to(scratch)}
    log = root / "operator.log"
    process = ManagedProcess.start("operator-image", argv, log)
    try:
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            process.ensure_running()
            assert time.monotonic() < deadline, process.log_tail()
            time.sleep(0.1)
        url = f"http://127.0.0.1:{port_file.read_text().strip()}"
        statuses: dict[str, int] = {}
        while time.monotonic() < deadline:
            process.ensure_running()
            try:
                statuses = {
                    p: httpx.get(url + p, timeout=2).status_code for p in ("/healthz", "/readyz")
                }
            except httpx.HTTPError:
                statuses = {}
            if statuses == {"/healthz": 200, "/readyz": 200}:
                break
            time.sleep(0.2)
        assert statuses == {"/healthz": 200, "/readyz": 200}, process.log_tail()
        metrics = httpx.get(url + "/metrics", timeout=5).text
        assert "hrl_autoscaler_" in metrics
        status = Path(f"/proc/{process.record.pid}/status").read_text()
        assert re.search(rf"^Uid:\s+{user}\s", status, re.MULTILINE), status
    finally:
        process.stop()
    text = log.read_text(errors="replace")
    assert process.exit_code() == 0, text[-3000:]
    for problem in ("Traceback", "Permission denied", "Read-only file system", "Forbidden"):
        assert problem not in text, text[-3000:]
    # it ran as the image's user, and wrote nothing outside the /tmp emptyDir
    assert "loaded policy ppo" in text
    after = {p for p in root.rglob("*") if not p.is_relative_to(scratch)} - {log}
    assert after == before, sorted(map(str, after - before))
    written = sorted(str(p.relative_to(scratch)) for p in scratch.rglob("*"))
    print(f"written to TMPDIR while running: {written}")
