"""The operator image itself: the project's real Dockerfile built by buildah, then inspected,
run and imported into containerd.

:func:`ensure_operator_image` builds the ``operator`` target on a debootstrapped Debian bookworm
base (``--build-arg PYTHON_IMAGE``, the only change to what ``docker build .`` does) into an
OCI archive, cached by the hash of its inputs. These tests take that archive as the subject:
its config (non-root numeric user, entrypoint, environment, port), containers made from it with
``buildah from oci-archive:`` and run with chroot isolation as the image's own user (no torch,
the policies in /app/policies, the operator answering /healthz and /readyz against the real
control plane, nothing written outside /tmp), the cache, and ``ctr images import`` into a
containerd started here. They need root and buildah (``make image-deps``); without them they
skip and say so.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from hrl_autoscaler.tools.devenv.components import operator_config
from hrl_autoscaler.tools.devenv.images import BuiltImage, ensure_operator_image, import_image
from hrl_autoscaler.tools.devenv.images.build import operator_content_hash
from hrl_autoscaler.tools.devenv.images.commands import buildah
from hrl_autoscaler.tools.devenv.images.containerd import list_refs
from hrl_autoscaler.tools.devenv.images.settings import (
    REPO,
    OperatorSettings,
    StorageSettings,
    project_version,
)
from hrl_autoscaler.tools.devenv.testing import DevEnvHandle

pytestmark = pytest.mark.node

IMAGE_USER = "65532"
STORAGE = StorageSettings()
#: buildah run's bundles (and anything else it writes) under the cache, not /var/tmp.
BUILDAH_ENV = {**os.environ, "TMPDIR": str(STORAGE.tmp)}


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "building and running the image needs root (debootstrap, buildah chroot)"
    missing = [t for t in ("buildah", "debootstrap", "ctr", "containerd") if not shutil.which(t)]
    if missing:
        return f"{', '.join(missing)} missing: `make image-deps` installs them"
    return None


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _buildah(*args: str, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        buildah(STORAGE, *args),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        env=BUILDAH_ENV,
    )


@pytest.fixture(scope="module")
def built() -> Iterator[BuiltImage]:
    reason = _why_not()
    if reason:
        pytest.skip(reason)
    image = ensure_operator_image(_progress)
    yield image
    # `buildah from oci-archive:` stored a copy (650 MB unpacked) under the archive's name; a
    # rebuild would leave it dangling, so it goes (the archive is the artifact).
    _buildah("rmi", "--force", image.ref)


Container = Callable[[], str]


@pytest.fixture
def container(built: BuiltImage) -> Iterator[Container]:
    """Working containers made from the archive (the artifact, not buildah's build cache)."""
    names: list[str] = []

    def make() -> str:
        name = f"hrl-image-test-{os.getpid()}-{len(names)}"
        result = _buildah("from", "--name", name, f"oci-archive:{built.archive}")
        assert result.returncode == 0, result.stderr
        names.append(name)
        return name

    yield make
    for name in names:
        _buildah("rm", name)


def run_in(name: str, *argv: str, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """``buildah run`` with chroot isolation and no ``--user``: the image's USER applies."""
    return _buildah("run", "--isolation", "chroot", *extra, name, "--", *argv, timeout_s=120)


def upper_dir(name: str) -> Path:
    """The container's writable overlay layer: every file a run wrote lands here."""
    merged = _buildah("mount", name)
    assert merged.returncode == 0, merged.stderr
    upper = Path(merged.stdout.strip()).parent / "diff"
    assert upper.is_dir(), f"{upper}: the test needs the overlay storage driver"
    return upper


def written(upper: Path) -> set[str]:
    return {str(p.relative_to(upper)) for p in upper.rglob("*")}


# -- what the image says ----------------------------------------------------------------------


def test_the_config_is_non_root_with_the_operator_entrypoint(
    built: BuiltImage, container: Container
) -> None:
    name = container()
    inspected = json.loads(_buildah("inspect", "--type", "container", name).stdout)
    config = inspected["OCIv1"]["config"]
    assert config["User"] == f"{IMAGE_USER}:{IMAGE_USER}"  # numeric: runAsNonRoot can check it
    assert config["Entrypoint"] == ["hrl-autoscaler"]
    assert config["Cmd"] == ["run"]
    assert config["WorkingDir"] == "/app"
    assert "8080/tcp" in config["ExposedPorts"]
    env = dict(pair.split("=", 1) for pair in config["Env"])
    assert env["HRL_AUTOSCALER_POLICIES"] == "/app/policies"
    assert env["PATH"].startswith("/opt/venv/bin:")
    for var in ("HOME", "TMPDIR", "MPLCONFIGDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
        assert env[var].startswith("/tmp"), f"{var} must point into the /tmp emptyDir"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert config["Labels"]["org.opencontainers.image.version"] == project_version()
    assert built.ref == f"localhost/spark-hrl-autoscaler:{project_version()}"
    assert built.digest.startswith("sha256:")
    print(f"\n{built.ref} {built.digest} {built.size_bytes / 1e6:.0f} MB archive")


def test_it_runs_as_its_user_with_the_runtime_dependencies_only(container: Container) -> None:
    name = container()
    identity = run_in(name, "id", "-u")
    assert identity.stdout.strip() == IMAGE_USER, identity.stderr
    release = run_in(name, "sh", "-c", ". /etc/os-release; echo $VERSION_CODENAME; python -V")
    assert release.stdout.split() == ["bookworm", "Python", release.stdout.split()[-1]]
    assert release.stdout.split()[-1].startswith("3.11.")
    probe = run_in(
        name,
        "python",
        "-c",
        "import importlib.util as u, json, hrl_autoscaler;"
        "print(json.dumps({m: u.find_spec(m) is not None for m in "
        "('torch', 'stable_baselines3', 'pyspark', 'pytest', 'kopf', 'kubernetes')}));"
        "print(hrl_autoscaler.__file__)",
    )
    assert probe.returncode == 0, probe.stderr
    found_line, location = probe.stdout.strip().splitlines()
    assert json.loads(found_line) == {
        "torch": False,
        "stable_baselines3": False,
        "pyspark": False,
        "pytest": False,
        "kopf": True,
        "kubernetes": True,
    }
    assert location.startswith("/opt/venv/lib/python3.11/site-packages/"), location
    helped = run_in(name, "hrl-autoscaler", "run", "--help")
    assert helped.returncode == 0, helped.stderr
    assert "--config" in helped.stdout
    checked = run_in(name, "pip", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_policies_load_from_app_policies(container: Container) -> None:
    name = container()
    loaded = run_in(
        name,
        "python",
        "-c",
        "import json, os;"
        "from hrl_autoscaler.runtime.policies.artifacts import default_policies_dir;"
        "from hrl_autoscaler.runtime.service.wiring import load_policies;"
        "p = load_policies(default_policies_dir());"
        "os.environ.pop('HRL_AUTOSCALER_POLICIES');"
        "print(json.dumps({'meta': sorted(p.meta), 'errors': p.meta_errors,"
        " 'fallback': str(default_policies_dir())}))",
    )
    assert loaded.returncode == 0, loaded.stderr
    result = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert result == {"meta": ["r_meta", "slo"], "errors": {}, "fallback": "/app/policies"}
    listing = run_in(name, "find", "/app/policies", "-type", "f")
    files = listing.stdout.split()
    assert any(f.startswith("/app/policies/ppo/") for f in files), files
    assert not [f for f in files if f.endswith(".png")], ".dockerignore keeps training plots out"


# -- the operator, from the image, against the real control plane -----------------------------


def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids, from /proc/<pid>/stat (no CONFIG_PROC_CHILDREN needed)."""
    tree: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return tree


def _operator_pid(root_pid: int) -> int | None:
    """The ``hrl-autoscaler run`` process under ``buildah run`` (chroot: same PID namespace)."""
    tree = _children()
    pending = [root_pid]
    while pending:
        pid = pending.pop()
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if comm == "hrl-autoscaler":
            return pid
        pending += tree.get(pid, [])
    return None


def test_the_operator_runs_from_the_image_and_writes_nothing_outside_tmp(
    container: Container, devenv: DevEnvHandle
) -> None:
    name = container()
    upper = upper_dir(name)
    assert run_in(name, "true").returncode == 0
    baseline = written(upper)  # what buildah's chroot itself puts there (/etc/hosts, /run)
    # /tmp is an emptyDir in the chart: a host directory here, writable by the image's user.
    scratch = Path(tempfile.mkdtemp(prefix="hrl-image-tmp-"))
    try:
        scratch.chmod(0o1777)
        kubeconfig = scratch / "kubeconfig"
        shutil.copy(devenv.kubeconfig, kubeconfig)
        config = operator_config(
            devenv.prometheus_url,
            Path("/tmp/kubeconfig"),
            30.0,
            namespaces=["image-e2e"],
            http_host="127.0.0.1",
        )
        (scratch / "config.yaml").write_text(yaml.safe_dump(config))
        for path in (kubeconfig, scratch / "config.yaml"):
            path.chmod(0o644)
        port_file = scratch / "operator.port"
        log_path = scratch.parent / f"{scratch.name}.log"
        argv = buildah(
            STORAGE,
            "run",
            "--isolation",
            "chroot",
            "--network",
            "host",
            "--volume",
            f"{scratch}:/tmp",
            "--env",
            "POD_NAME=image-e2e",
            name,
            "--",
            "hrl-autoscaler",
            "run",
            "--config",
            "/tmp/config.yaml",
            "--port-file",
            "/tmp/operator.port",
        )
        with log_path.open("w") as log:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=BUILDAH_ENV)
        try:
            deadline = time.monotonic() + 90
            statuses: dict[str, int] = {}
            while time.monotonic() < deadline:
                assert process.poll() is None, log_path.read_text()[-3000:]
                port = port_file.read_text().strip() if port_file.exists() else ""
                if port:
                    url = f"http://127.0.0.1:{port}"
                    try:
                        statuses = {
                            p: httpx.get(url + p, timeout=2).status_code
                            for p in ("/healthz", "/readyz")
                        }
                    except httpx.HTTPError:
                        statuses = {}
                    if statuses == {"/healthz": 200, "/readyz": 200}:
                        break
                time.sleep(0.3)
            assert statuses == {"/healthz": 200, "/readyz": 200}, log_path.read_text()[-3000:]
            assert "hrl_autoscaler_" in httpx.get(url + "/metrics", timeout=5).text
            pid = _operator_pid(process.pid)
            assert pid is not None, "the operator process was not found under buildah run"
            status = Path(f"/proc/{pid}/status").read_text()
            assert f"\nUid:\t{IMAGE_USER}\t" in status, status
            os.kill(pid, signal.SIGTERM)  # as kubelet stops a pod: the operator's own shutdown
            assert process.wait(timeout=60) == 0, log_path.read_text()[-3000:]
        finally:
            if process.poll() is None:
                # Killing buildah alone orphans its chroot children: the operator goes first.
                left = _operator_pid(process.pid)
                if left is not None:
                    os.kill(left, signal.SIGKILL)
                process.terminate()
                process.wait(timeout=30)
        text = log_path.read_text(errors="replace")
        for problem in ("Traceback", "Permission denied", "Read-only file system", "Forbidden"):
            assert problem not in text, text[-3000:]
        assert "loaded policy ppo" in text
        print(f"written to /tmp: {sorted(p.name for p in scratch.iterdir())}")
        log_path.unlink()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    assert written(upper) - baseline == set(), "the operator wrote into the image's filesystem"


# -- the cache --------------------------------------------------------------------------------


def test_a_second_call_is_a_cache_hit_and_an_input_change_is_not(
    built: BuiltImage, tmp_path: Path
) -> None:
    started = time.monotonic()
    again = ensure_operator_image(_progress)
    assert time.monotonic() - started < 5.0
    assert again.cached
    assert (again.digest, again.content_hash, again.archive) == (
        built.digest,
        built.content_hash,
        built.archive,
    )
    # a copy of the build context hashes the same; one changed byte in operator/ does not
    copy = tmp_path / "context"
    for name in ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md"):
        copy.mkdir(exist_ok=True)
        shutil.copy2(REPO / name, copy / name)
    for tree in ("operator", "policies"):
        shutil.copytree(REPO / tree, copy / tree, ignore=shutil.ignore_patterns("__pycache__"))
    settings = OperatorSettings(repo=copy)
    assert operator_content_hash(settings) == built.content_hash
    init = copy / "operator" / "hrl_autoscaler" / "__init__.py"
    init.write_text(init.read_text() + "\n# changed\n")
    assert operator_content_hash(settings) != built.content_hash


# -- into containerd ---------------------------------------------------------------------------


@pytest.fixture
def containerd(tmp_path: Path) -> Iterator[str]:
    """Debian's containerd with its own root, state and socket (no CRI), stopped after."""
    base = Path(tempfile.mkdtemp(prefix="hrl-ctd-", dir="/tmp"))  # short: sockets max 108 bytes
    socket = base / "containerd.sock"
    config = {
        "version": 2,
        "root": str(base / "root"),
        "state": str(base / "state"),
        "disabled_plugins": ["io.containerd.grpc.v1.cri"],
        "grpc": {"address": str(socket)},
        "ttrpc": {"address": f"{socket}.ttrpc"},
        "debug": {"address": ""},
        "metrics": {"address": ""},
    }
    (base / "config.toml").write_text(_toml(config))
    log = (tmp_path / "containerd.log").open("w")
    process = subprocess.Popen(
        ["containerd", "--config", str(base / "config.toml")], stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 30
        while not socket.exists():
            assert process.poll() is None, (tmp_path / "containerd.log").read_text()
            assert time.monotonic() < deadline, "containerd did not listen within 30 s"
            time.sleep(0.1)
        yield str(socket)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
        mounts = [
            line for line in Path("/proc/mounts").read_text().splitlines() if str(base) in line
        ]
        shutil.rmtree(base, ignore_errors=True)
        assert mounts == [], mounts


def _toml(config: dict[str, object]) -> str:
    lines = []
    tables = []
    for key, value in config.items():
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    for key, table in tables:
        lines.append(f"[{key}]")
        lines += [f"  {k} = {json.dumps(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def test_the_archive_imports_into_containerd_under_its_ref(
    built: BuiltImage, containerd: str
) -> None:
    started = time.monotonic()
    ref = import_image(built.archive, containerd)
    took = time.monotonic() - started
    assert ref == built.ref == f"localhost/spark-hrl-autoscaler:{project_version()}"
    listed = subprocess.run(
        ["ctr", "--address", containerd, "-n", "k8s.io", "images", "ls"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    [row] = [line.split() for line in listed.splitlines() if line.startswith(ref + " ")]
    assert built.digest in row
    assert "linux/amd64" in row
    # the digest name too, as a pull records it: a chart pinning image.digest resolves it
    assert f"localhost/spark-hrl-autoscaler@{built.digest}" in list_refs(containerd)
    assert list_refs(containerd, "default") == []  # only the namespace asked for
    assert import_image(built.archive, containerd) == ref  # again: idempotent
    print(f"\nimported {ref} ({built.digest}) in {took:.1f} s")


def test_containerd_runs_it_as_its_user_on_a_read_only_root(
    built: BuiltImage, containerd: str
) -> None:
    """What kubelet will ask for (containerd, runc, readOnlyRootFilesystem, an emptyDir on
    /tmp), short of a pod: ``ctr run`` of the imported image."""
    ref = import_image(built.archive, containerd)
    task = f"hrl-image-test-{os.getpid()}"
    script = (
        "id -u; hrl-autoscaler run --help >/dev/null && echo help-ok;"
        " touch /app/x 2>/dev/null || echo root-read-only;"
        " touch /tmp/y && echo tmp-writable;"
        " python -c 'import importlib.util as u; print(u.find_spec(\"torch\") is None)'"
    )
    ctr = ["ctr", "--address", containerd, "-n", "k8s.io"]
    # --cgroup "": runc's own leaf cgroup only, removed with the task (the default path
    # /k8s.io/<id> would leave its parent /k8s.io behind).
    options = ["--rm", "--read-only", "--cgroup", ""]
    options += ["--mount", "type=tmpfs,src=tmpfs,dst=/tmp,options=rw:nosuid:nodev"]
    result = subprocess.run(
        [*ctr, "run", *options, ref, task, "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    expected = [IMAGE_USER, "help-ok", "root-read-only", "tmp-writable", "True"]
    assert result.stdout.split() == expected
    leftovers = [str(p) for p in Path("/sys/fs/cgroup").glob(f"*/{task}")]
    assert leftovers == []
