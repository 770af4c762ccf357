"""The pure parts of the image build: mirror lookup, content hashing, command lines, errors.

No root, buildah or network: the build itself is the subject of tests/e2e/test_image.py.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from hrl_autoscaler.tools.devenv.images import build, checks
from hrl_autoscaler.tools.devenv.images.commands import (
    ImageBuildError,
    Runner,
    bud_args,
    debootstrap_args,
    diagnose,
    push_args,
)
from hrl_autoscaler.tools.devenv.images.containerd import (
    archive_digest,
    archive_ref,
    ctr_import_args,
)
from hrl_autoscaler.tools.devenv.images.hashing import base_hash, context_files, operator_hash
from hrl_autoscaler.tools.devenv.images.settings import (
    REPO,
    BaseSettings,
    OperatorSettings,
    StorageSettings,
    apt_mirror,
    project_version,
)

# -- the mirror -----------------------------------------------------------------------------------


def test_the_mirror_is_the_hosts_bookworm_source_not_security(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://security.example/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n\n"
        "Types: deb\n# a comment\nURIs: http://mirror.example/debian/\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n"
    )
    assert apt_mirror("bookworm", tmp_path) == "http://mirror.example/debian"


def test_the_mirror_from_a_one_line_sources_list(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text(
        "deb http://sec.example/debian-security bookworm-security main\n"
        "deb [arch=amd64] http://old.example/debian bookworm main contrib\n"
    )
    assert apt_mirror("bookworm", tmp_path) == "http://old.example/debian"


def test_the_mirror_defaults_to_deb_debian_org(tmp_path: Path) -> None:
    assert apt_mirror("bookworm", tmp_path) == "http://deb.debian.org/debian"


# -- the cache key --------------------------------------------------------------------------------


def _fake_repo(root: Path) -> OperatorSettings:
    (root / "operator" / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "policies" / "ppo").mkdir(parents=True)
    (root / "Dockerfile").write_text("FROM ${PYTHON_IMAGE} AS operator\n")
    (root / ".dockerignore").write_text("**/__pycache__\npolicies/**/learning_curve.png\n")
    (root / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "9.9.9"\n')
    (root / "README.md").write_text("readme\n")
    (root / "operator" / "pkg" / "a.py").write_text("A = 1\n")
    (root / "operator" / "pkg" / "__pycache__" / "a.pyc").write_bytes(b"x")
    (root / "policies" / "ppo" / "policy.npz").write_bytes(b"weights")
    (root / "policies" / "ppo" / "learning_curve.png").write_bytes(b"png")
    (root / "tests").mkdir()
    (root / "tests" / "t.py").write_text("")
    return OperatorSettings(repo=root, tag="9.9.9", build_ca_bundle=None)


def test_the_hashed_files_are_the_build_context_minus_dockerignore(tmp_path: Path) -> None:
    settings = _fake_repo(tmp_path)
    assert list(context_files(tmp_path, settings.files, settings.trees)) == [
        ".dockerignore",
        "Dockerfile",
        "README.md",
        "operator/pkg/a.py",
        "policies/ppo/policy.npz",
        "pyproject.toml",
    ]


def test_the_hash_follows_content_only(tmp_path: Path) -> None:
    settings = _fake_repo(tmp_path)
    first = operator_hash(settings, "base")
    source = tmp_path / "operator" / "pkg" / "a.py"
    os.utime(source, (1, 1))  # a touch: same bytes
    (tmp_path / "operator" / "pkg" / "__pycache__" / "b.pyc").write_bytes(b"y")  # ignored
    (tmp_path / "tests" / "t.py").write_text("changed")  # outside the context
    (tmp_path / "policies" / "ppo" / "learning_curve.png").write_bytes(b"other")  # ignored
    assert operator_hash(settings, "base") == first
    source.write_text("A = 2\n")
    second = operator_hash(settings, "base")
    assert second != first
    (tmp_path / "operator" / "pkg" / "new.py").write_text("")
    assert operator_hash(settings, "base") not in (first, second)
    assert operator_hash(settings, "other base") != operator_hash(settings, "base")


def test_every_input_of_the_base_changes_its_hash() -> None:
    base = BaseSettings(mirror="http://m/debian")
    variants = [
        BaseSettings(mirror="http://other/debian"),
        BaseSettings(mirror="http://m/debian", suite="trixie"),
        BaseSettings(mirror="http://m/debian", packages=(*base.packages, "curl")),
        BaseSettings(mirror="http://m/debian", trim=()),
    ]
    assert len({base_hash(b) for b in [base, *variants]}) == 5
    reordered = BaseSettings(mirror="http://m/debian", packages=tuple(reversed(base.packages)))
    assert base_hash(reordered) == base_hash(base)


def test_the_real_context_hashes_the_dockerfile_and_the_package() -> None:
    files = list(context_files(REPO, OperatorSettings().files, OperatorSettings().trees))
    assert "Dockerfile" in files
    assert "pyproject.toml" in files
    assert "operator/hrl_autoscaler/__init__.py" in files
    assert any(f.startswith("policies/ppo/") for f in files)
    assert not any("__pycache__" in f or f.startswith("tests/") for f in files)


# -- command lines --------------------------------------------------------------------------------


def test_buildah_builds_the_real_dockerfile_with_only_the_base_changed(tmp_path: Path) -> None:
    storage = StorageSettings(root=tmp_path, driver="overlay")
    settings = OperatorSettings(repo=REPO, tag="1.2.3", build_ca_bundle=Path("/ca.pem"))
    args = bud_args(storage, settings, "localhost/base:abc", "localhost/x:build")
    assert args[:7] == [
        "buildah",
        "--root",
        str(tmp_path / "storage" / "root"),
        "--runroot",
        str(tmp_path / "storage" / "run"),
        "--storage-driver",
        "overlay",
    ]
    assert args[7] == "bud"
    joined = " ".join(args)
    assert "--build-arg PYTHON_IMAGE=localhost/base:abc" in joined
    assert "--target operator" in joined
    assert "--isolation chroot" in joined
    assert "--network host" in joined
    assert f"--file {REPO / 'Dockerfile'}" in joined
    assert "--volume /ca.pem:/etc/ssl/certs/ca-certificates.crt:ro" in joined
    assert args[-1] == str(REPO)  # the repository is the context
    assert settings.ref == "localhost/spark-hrl-autoscaler:1.2.3"


def test_the_export_names_the_image_in_the_archive(tmp_path: Path) -> None:
    storage = StorageSettings(root=tmp_path, driver="vfs")
    args = push_args(storage, "localhost/x:build", tmp_path / "a.tar", "localhost/x:1")
    assert args[-1] == f"oci-archive:{tmp_path / 'a.tar'}:localhost/x:1"
    assert "--storage-driver" in args
    assert "vfs" in args


def test_debootstrap_gets_the_variant_packages_and_mirror(tmp_path: Path) -> None:
    base = BaseSettings(mirror="http://m/debian")
    assert debootstrap_args(base, tmp_path) == [
        "debootstrap",
        "--variant=minbase",
        "--include=python3,python3-venv,python-is-python3,ca-certificates",
        "bookworm",
        str(tmp_path),
        "http://m/debian",
    ]


def test_the_default_tag_is_the_project_version() -> None:
    assert OperatorSettings().tag == project_version() == "0.1.0"


def test_ctr_imports_into_the_namespace_with_the_snapshotter(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar"
    assert ctr_import_args(archive, "/run/c.sock", "k8s.io", None) == [
        "ctr", "--address", "/run/c.sock", "--namespace", "k8s.io", "images", "import", str(archive)
    ]  # fmt: skip
    assert "--snapshotter" in ctr_import_args(archive, "/s", "k8s.io", "native")


def _oci_archive(path: Path, index: dict[str, object]) -> None:
    data = json.dumps(index).encode()
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("index.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def test_the_imported_ref_is_the_archives_ref_name(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar"
    ref = "localhost/spark-hrl-autoscaler:0.1.0"
    manifest = {"digest": "sha256:ab", "annotations": {"org.opencontainers.image.ref.name": ref}}
    _oci_archive(archive, {"schemaVersion": 2, "manifests": [manifest]})
    assert archive_ref(archive) == ref
    assert archive_digest(archive) == "sha256:ab"
    _oci_archive(archive, {"schemaVersion": 2, "manifests": [{"digest": "sha256:ab"}]})
    with pytest.raises(ImageBuildError, match="one named image"):
        archive_ref(archive)


# -- errors that name the fix ---------------------------------------------------------------------


def test_not_root_says_so() -> None:
    with pytest.raises(ImageBuildError, match="needs root"):
        checks.require_root(euid=1000)
    checks.require_root(euid=0)


def test_missing_tools_point_at_make_image_deps() -> None:
    def which(name: str) -> str | None:
        return "/bin/tar" if name == "tar" else None

    with pytest.raises(ImageBuildError, match=r"buildah, ctr not found.*image-deps.*containerd"):
        checks.require_tools(["buildah", "tar", "ctr"], which=which)


def test_an_unreachable_service_is_named_with_its_fix() -> None:
    with pytest.raises(ImageBuildError, match=r"PyPI is unreachable.*the network"):
        checks.probe("http://127.0.0.1:9/simple/", "PyPI", "check the network", timeout_s=2)


@pytest.mark.parametrize(
    ("output", "fix"),
    [
        ("SSLError(CERTIFICATE_VERIFY_FAILED)", "TLS-inspecting proxy"),
        ("ERROR: No matching distribution found for kopf", "PyPI is unreachable"),
        ("E: Failed getting release file http://m/dists/bookworm/Release", "Debian mirror"),
        ("all fine", ""),
    ],
)
def test_build_failures_are_diagnosed(output: str, fix: str) -> None:
    assert fix in diagnose(output) if fix else diagnose(output) == ""


def test_a_failed_command_reports_its_log_and_fix(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    runner = Runner(log, lambda _: None)
    script = "echo 'Could not fetch URL https://pypi.org/simple/kopf/' >&2; exit 3"
    with pytest.raises(ImageBuildError) as caught:
        runner.run("pip", ["sh", "-c", script])
    message = str(caught.value)
    assert "pip failed (exit 3)" in message
    assert str(log) in message
    assert "fix: PyPI is unreachable" in message
    assert runner.run("echo", ["echo", "hello"], capture=True) == "hello\n"


# -- the cache ------------------------------------------------------------------------------------


def test_a_cache_hit_needs_neither_root_nor_buildah(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _fake_repo(tmp_path / "repo")
    base = BaseSettings(mirror="http://m/debian")
    storage = StorageSettings(root=tmp_path / "cache")
    content_hash = build.operator_content_hash(settings, base)
    directory = build.archive_dir(storage, content_hash)
    directory.mkdir(parents=True)
    archive = directory / build.ARCHIVE_NAME
    archive.write_bytes(b"12345")
    record = {
        "ref": settings.ref,
        "archive": str(archive),
        "digest": "sha256:ab",
        "content_hash": content_hash,
        "size_bytes": 5,
        "build_seconds": 100.0,
    }
    (directory / "image.json").write_text(json.dumps(record))

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("a cache hit checked for root")

    monkeypatch.setattr(checks, "require_root", refuse)
    said: list[str] = []
    hit = build.ensure_operator_image(said.append, settings=settings, base=base, storage=storage)
    assert hit.cached
    assert hit.archive == archive
    assert hit.size_bytes == 5
    assert hit.ref == "localhost/spark-hrl-autoscaler:9.9.9"
    assert "cached" in said[0]
    archive.write_bytes(b"123")  # truncated: not a hit any more
    with pytest.raises(AssertionError, match="checked for root"):
        build.ensure_operator_image(said.append, settings=settings, base=base, storage=storage)
