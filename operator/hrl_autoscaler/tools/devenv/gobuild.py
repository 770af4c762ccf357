"""Build Go binaries from the Go module proxy, with progress, into the cache.

Why wrapper modules: ``go install k8s.io/kubernetes/cmd/kube-apiserver@v1.N.M`` fails, because
Kubernetes' go.mod points its staging modules (``k8s.io/api``, ``k8s.io/apiserver``, ...) at
``./staging/...`` directories that a dependency's replace lines cannot reach. A throwaway module
that requires ``k8s.io/kubernetes`` and replaces each staging module with its published
``v0.N.M`` tag builds the same code. The replace list is read from the upstream go.mod, so a
version bump needs no hand edits.

Builds run with ``-p 2`` (the machines have two cores), ``CGO_ENABLED=0`` and ``-trimpath``; the
module and build caches live under the project cache so a rerun on the same machine downloads and
compiles nothing twice. Wall time and peak memory of each build are stored in
``build-info.json`` next to the binary. The go commands themselves run through
:class:`~.gorunner.GoRunner`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hrl_autoscaler.tools.devenv.gorunner import BuildError, GoRunner, Progress

PARALLELISM = "2"

_STAGING_RE = re.compile(r"^\s*(?:replace\s+)?(\S+)\s*=>\s*\./staging/\S+\s*$")
_GO_DIRECTIVE_RE = re.compile(r"^go\s+(\d+\.\d+(?:\.\d+)?)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class BuildStats:
    """What one build cost, kept for the notes and for capacity planning."""

    name: str
    version: str
    go_version: str
    wall_seconds: float
    peak_rss_mib: float
    finished_at: str


def staging_modules(gomod: str) -> list[str]:
    """Module paths that an upstream go.mod replaces with ``./staging/...`` directories."""
    return [m.group(1) for line in gomod.splitlines() if (m := _STAGING_RE.match(line))]


def go_directive(gomod: str) -> str:
    """The ``go`` version a go.mod declares (a wrapper module must declare at least that)."""
    match = _GO_DIRECTIVE_RE.search(gomod)
    if match is None:
        raise BuildError("upstream go.mod has no `go` directive")
    return match.group(1)


def staging_version(kubernetes_version: str) -> str:
    """``v1.35.4`` -> ``v0.35.4``: the tag the staging modules publish for a release."""
    match = re.fullmatch(r"v1\.(\d+\.\d+)", kubernetes_version)
    if match is None:
        raise BuildError(f"not a Kubernetes release version: {kubernetes_version!r}")
    return f"v0.{match.group(1)}"


def wrapper_gomod(module: str, go: str, requires: dict[str, str], replaces: dict[str, str]) -> str:
    """Text of a throwaway go.mod; ``replaces`` maps module path -> published version."""
    lines = [f"module {module}", "", f"go {go}", "", "require ("]
    lines += [f"\t{path} {version}" for path, version in requires.items()]
    lines.append(")")
    if replaces:
        lines += ["", "replace ("]
        lines += [f"\t{path} => {path} {version}" for path, version in replaces.items()]
        lines.append(")")
    return "\n".join(lines) + "\n"


Builder = Callable[[GoRunner, Path, Path, str], None]


def _build_flags(ldflags: str) -> list[str]:
    return ["-p", PARALLELISM, "-trimpath", "-v", "-ldflags", ldflags]


def _mod_flags(env: dict[str, str]) -> dict[str, str]:
    return {"GOFLAGS": f"{env.get('GOFLAGS', '')} -mod=mod".strip()}


def _release_time(info: dict[str, Any]) -> str:
    """Commit time of a module version (from the proxy's .info file): a reproducible buildDate."""
    try:
        stamp = json.loads(Path(info["Info"]).read_text())["Time"]
    except (KeyError, OSError, ValueError):
        return "1970-01-01T00:00:00Z"
    return str(stamp).replace("+00:00", "Z")


def build_kube_apiserver(go: GoRunner, work: Path, output: Path, version: str) -> None:
    """Build kube-apiserver through a wrapper module, version stamped for ``/version``."""
    _build_kubernetes_command(go, work, output, version, "kube-apiserver")


def build_kubectl(go: GoRunner, work: Path, output: Path, version: str) -> None:
    """Build kubectl from the same wrapper module as kube-apiserver (``cmd/kubectl``)."""
    _build_kubernetes_command(go, work, output, version, "kubectl")


def build_kubelet(go: GoRunner, work: Path, output: Path, version: str) -> None:
    """Build kubelet (the local node's agent) from the same wrapper module as kube-apiserver."""
    _build_kubernetes_command(go, work, output, version, "kubelet")


def build_kube_controller_manager(go: GoRunner, work: Path, output: Path, version: str) -> None:
    """Build kube-controller-manager (service-account tokens, endpoints, replica sets)."""
    _build_kubernetes_command(go, work, output, version, "kube-controller-manager")


def build_kube_scheduler(go: GoRunner, work: Path, output: Path, version: str) -> None:
    """Build kube-scheduler, which binds the local node's pods."""
    _build_kubernetes_command(go, work, output, version, "kube-scheduler")


def build_kube_proxy(go: GoRunner, work: Path, output: Path, version: str) -> None:
    """Build kube-proxy, which makes Service ClusterIPs reachable from pods (iptables rules)."""
    _build_kubernetes_command(go, work, output, version, "kube-proxy")


def _build_kubernetes_command(
    go: GoRunner, work: Path, output: Path, version: str, command: str
) -> None:
    """Build ``k8s.io/kubernetes/cmd/<command>`` at ``version`` through a wrapper module."""
    go.say(f"reading k8s.io/kubernetes@{version} go.mod from the module proxy")
    info = go.download_json(f"k8s.io/kubernetes@{version}")
    upstream = Path(info["GoMod"]).read_text()
    staging = staging_modules(upstream)
    if not staging:
        raise BuildError(f"no ./staging replace lines in k8s.io/kubernetes@{version} go.mod")
    go.say(f"{len(staging)} staging modules -> {staging_version(version)}")
    gomod = wrapper_gomod(
        f"hrl-autoscaler.local/build/{command}",
        go_directive(upstream),
        {"k8s.io/kubernetes": version},
        dict.fromkeys(staging, staging_version(version)),
    )
    work.mkdir(parents=True, exist_ok=True)
    (work / "go.mod").write_text(gomod)
    major, minor = version[1:].split(".")[:2]
    build_date = _release_time(info)
    stamps = {
        "gitVersion": version,
        "gitMajor": major,
        "gitMinor": minor,
        "gitTreeState": "clean",
        "buildDate": build_date,
    }
    ldflags = " ".join(
        f"-X {pkg}.{key}={value}"
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        for key, value in stamps.items()
    )
    go.run(
        [
            "build",
            *_build_flags(f"-s -w {ldflags}"),
            "-o",
            str(output),
            f"k8s.io/kubernetes/cmd/{command}",
        ],
        cwd=work,
        phase=f"compiling {command}",
        env=_mod_flags(go.env),
    )


def build_etcd(go: GoRunner, work: Path, output: Path, version: str) -> None:
    """Build etcd's server main package (``go.etcd.io/etcd/server/v3``) via a wrapper module."""
    module = "go.etcd.io/etcd/server/v3"
    info = go.download_json(f"{module}@{version}")
    upstream = Path(info["GoMod"]).read_text()
    work.mkdir(parents=True, exist_ok=True)
    gomod = wrapper_gomod(
        "hrl-autoscaler.local/build/etcd", go_directive(upstream), {module: version}, {}
    )
    (work / "go.mod").write_text(gomod)
    go.run(
        [
            "build",
            *_build_flags(f"-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA={version}"),
            "-o",
            str(output),
            module,
        ],
        cwd=work,
        phase="compiling etcd",
        env=_mod_flags(go.env),
    )


def helm_release(version: str) -> tuple[str, str, str]:
    """``v3.21.4-k8s1.35`` -> (``v3.21.4``, ``1``, ``35``): the helm release and stamped Kubernetes.

    The cache key carries the Kubernetes version stamped into the build, so a helm built before
    the stamp (which assumed Kubernetes v1.20) is never reused.
    """
    match = re.fullmatch(r"(v\d+\.\d+\.\d+)-k8s(\d+)\.(\d+)", version)
    if match is None:
        raise BuildError(f"helm version must look like v3.21.4-k8s1.35, got {version!r}")
    return match.group(1), match.group(2), match.group(3)


def helm_ldflags(version: str) -> str:
    """The ldflags helm's own Makefile sets: version stamp and the Kubernetes version it assumes.

    Without ``k8sVersionMajor/Minor`` a helm built by ``go install`` assumes Kubernetes v1.20 when
    no cluster is asked (``helm template``, ``helm lint``), so a chart with ``kubeVersion: >=1.27``
    fails to render; upstream's Makefile stamps the client-go version into both packages.
    """
    release, major, minor = helm_release(version)
    stamp = "helm.sh/helm/v3/internal/version"
    flags = [f"-s -w -X {stamp}.version={release} -X {stamp}.gitTreeState=clean"]
    for pkg in ("helm.sh/helm/v3/pkg/lint/rules", "helm.sh/helm/v3/pkg/chartutil"):
        flags.append(f"-X {pkg}.k8sVersionMajor={major} -X {pkg}.k8sVersionMinor={minor}")
    return " ".join(flags)


def build_helm(go: GoRunner, work: Path, output: Path, version: str) -> None:
    """``go install helm.sh/helm/v3/cmd/helm@release`` with upstream's ldflags (see above)."""
    work.mkdir(parents=True, exist_ok=True)
    ldflags = helm_ldflags(version)
    version = helm_release(version)[0]
    go.run(
        ["install", *_build_flags(ldflags), f"helm.sh/helm/v3/cmd/helm@{version}"],
        cwd=work,
        phase="compiling helm",
        env={"GOBIN": str(output.parent)},
    )


def build_actionlint(go: GoRunner, work: Path, output: Path, version: str) -> None:
    """``go install github.com/rhysd/actionlint/cmd/actionlint@version`` (a small build)."""
    work.mkdir(parents=True, exist_ok=True)
    ldflags = f"-s -w -X github.com/rhysd/actionlint.version={version}"
    go.run(
        [
            "install",
            *_build_flags(ldflags),
            f"github.com/rhysd/actionlint/cmd/actionlint@{version}",
        ],
        cwd=work,
        phase="compiling actionlint",
        env={"GOBIN": str(output.parent)},
    )


def prometheus_release(module_version: str) -> str:
    """``v0.316.0`` -> ``3.16.0``: Prometheus 3 tags its Go module ``v0.3MM.P`` for 3.MM.P."""
    match = re.fullmatch(r"v0\.(\d)(\d\d)\.(\d+)", module_version)
    if match is None:
        raise BuildError(f"not a Prometheus 3 module version: {module_version!r}")
    major, minor, patch = match.groups()
    return f"{major}.{int(minor)}.{patch}"


def build_prometheus(go: GoRunner, work: Path, output: Path, version: str) -> None:
    """``go install github.com/prometheus/prometheus/cmd/prometheus@version`` without the web UI
    (its assets are generated by npm, not in the module; the API and the scraping are whole),
    stamped with the release it is (``v0.316.0`` -> ``3.16.0``). Upstream's build tags
    ``remove_all_sd,enable_kubernetes_sd`` link only the Kubernetes service discovery (besides
    the static, file and HTTP ones that are always in), not the twenty cloud SDKs: minutes less
    on a cold CI machine."""
    work.mkdir(parents=True, exist_ok=True)
    release = prometheus_release(version)
    ldflags = f"-s -w -X github.com/prometheus/common/version.Version={release}"
    go.run(
        [
            "install",
            *_build_flags(ldflags),
            "-tags",
            "remove_all_sd,enable_kubernetes_sd",
            f"github.com/prometheus/prometheus/cmd/prometheus@{version}",
        ],
        cwd=work,
        phase="compiling prometheus",
        env={"GOBIN": str(output.parent)},
    )


_VERSION_ARGS = {
    "kube-apiserver": ["--version"],
    "etcd": ["--version"],
    "helm": ["version"],
    "kubectl": ["version", "--client"],
    "coredns": ["-version"],
    "actionlint": ["-version"],
}


def build_into_cache(
    name: str, version: str, bin_root: Path, builder: Builder, progress: Progress
) -> BuildStats:
    """Build one binary into a temporary directory, check it runs, then rename it into place."""
    bin_root.mkdir(parents=True, exist_ok=True)
    label = f"{name} {version}"
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-{version}-", dir=bin_root))
    final = bin_root / f"{name}-{version}"
    try:
        go = GoRunner(label, bin_root.parent, bin_root / "logs" / f"{name}-{version}.log", progress)
        go_version = go.version()
        go.say(f"building once with {go_version}; this takes minutes; log: {go.log_path}")
        output = tmp / name
        builder(go, tmp / "src", output, version)
        if not output.is_file():
            raise BuildError(f"[{label}] the build finished but {output} is missing")
        check = subprocess.run(
            [str(output), *_VERSION_ARGS.get(name, ["--version"])],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        first_line = (check.stdout or check.stderr).strip().splitlines()[:1]
        go.say(f"built; it reports: {first_line[0] if first_line else '(nothing)'}")
        stats = BuildStats(
            name=name,
            version=version,
            go_version=go_version,
            wall_seconds=round(go.elapsed(), 1),
            peak_rss_mib=round(go.peak_rss_kib / 1024, 1),
            finished_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )
        (tmp / "build-info.json").write_text(json.dumps(asdict(stats), indent=2) + "\n")
        shutil.rmtree(tmp / "src", ignore_errors=True)
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache is for every user of the machine
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
        progress(
            f"[{label}] cached at {final} (wall {stats.wall_seconds:.0f}s, "
            f"peak memory {stats.peak_rss_mib:.0f} MiB)"
        )
        return stats
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
