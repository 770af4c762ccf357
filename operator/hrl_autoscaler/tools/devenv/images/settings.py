"""What an image build is made of: typed settings with the reason for each default, the
cache layout under the project cache, and the mirror the base is bootstrapped from.

Nothing here runs a tool, so the unit tests check it without root or buildah.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from hrl_autoscaler.tools.devenv.binaries import cache_root

#: The repository (the build context): five levels above this file.
REPO = Path(__file__).resolve().parents[5]
DEFAULT_MIRROR = "http://deb.debian.org/debian"
#: Bumped whenever the recipe itself changes (trim, export, flags), so old caches are not reused.
RECIPE_VERSION = "1"


def project_version(repo: Path = REPO) -> str:
    """``[project].version`` of pyproject.toml: the tag, so the chart's default tag fits."""
    data = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))
    return str(data["project"]["version"])


def apt_mirror(suite: str = "bookworm", etc_apt: Path = Path("/etc/apt")) -> str:
    """The host's Debian mirror for ``suite`` (one-line or deb822 sources), else deb.debian.org.

    The host's mirror is the one known to be reachable from here (it may be a local proxy);
    security and other suites (``bookworm-security``) are not a full archive and are skipped.
    """
    files = sorted(etc_apt.glob("sources.list.d/*.sources"))
    for path in files:
        for stanza in path.read_text(encoding="utf-8", errors="replace").split("\n\n"):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                key, sep, value = line.partition(":")
                if sep and not line.startswith((" ", "#")):
                    fields[key.strip().lower()] = value.strip()
            types = fields.get("types", "").split()
            if "deb" in types and suite in fields.get("suites", "").split() and "uris" in fields:
                return fields["uris"].split()[0].rstrip("/")
    lists = [etc_apt / "sources.list", *sorted(etc_apt.glob("sources.list.d/*.list"))]
    for path in lists:
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            match = re.match(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s", line.strip() + " ")
            if match and match.group(2) == suite:
                return match.group(1).rstrip("/")
    return DEFAULT_MIRROR


@dataclass(frozen=True)
class BaseSettings:
    """The Debian base that stands in for ``python:3.11.14-slim-bookworm``."""

    #: bookworm's python3 is 3.11, which the package requires (and the upstream base pins).
    suite: str = "bookworm"
    #: minbase: dpkg, apt and essentials only; the slim image is about the same.
    variant: str = "minbase"
    #: python-is-python3 because the Dockerfile calls ``python``; python3-venv for ``-m venv``
    #: (with the pip wheel for ensurepip); ca-certificates so pip can verify PyPI.
    packages: tuple[str, ...] = ("python3", "python3-venv", "python-is-python3", "ca-certificates")
    mirror: str = field(default_factory=apt_mirror)
    #: Shipped in the base but read by nobody at run time: apt lists, docs, man pages, locales
    #: other than C (about 70 MB of a 280 MB root).
    trim: tuple[str, ...] = (
        "var/lib/apt/lists",
        "var/cache/apt",
        "usr/share/doc",
        "usr/share/man",
        "usr/share/info",
        "usr/share/locale",
        "var/log",
    )
    #: What the upstream base sets: PATH and a UTF-8 locale (C.UTF-8 needs no locales package).
    env: tuple[str, ...] = (
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG=C.UTF-8",
    )
    repository: str = "localhost/hrl-autoscaler-base"


@dataclass(frozen=True)
class ImageSettings:
    """One image built from the project's Dockerfile on the Debian base: its target, its name,
    the inputs of its content hash. The defaults are the operator's (the default target)."""

    repo: Path = REPO
    target: str = "operator"
    #: ``localhost/`` is a registry host for Docker's reference grammar, so kubelet and
    #: containerd keep the name as it is (no ``docker.io/library/`` prefix) and, with
    #: ``imagePullPolicy: IfNotPresent`` or ``Never``, never try to pull it.
    repository: str = "localhost/spark-hrl-autoscaler"
    tag: str = field(default_factory=project_version)
    #: The build context's inputs besides the trees (walked whole).
    files: tuple[str, ...] = ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md")
    trees: tuple[str, ...] = ("operator", "policies")
    #: The host's CA bundle, bind-mounted over the image's for RUN steps only: a machine behind a
    #: TLS-inspecting proxy trusts it, Debian's bundle does not, and pip must reach PyPI. Not
    #: committed to any layer (buildah's RUN volumes are not), so the image keeps Debian's CAs.
    build_ca_bundle: Path | None = field(default_factory=lambda: _host_ca_bundle())
    #: The archive's file name in its cache directory: one name per kind of image, so pruning
    #: one kind's older archives leaves the other kinds' alone.
    archive_name: str = "spark-hrl-autoscaler.oci.tar"
    #: URLs the build downloads from besides PyPI and the Debian mirror, probed before a build
    #: so an unreachable one fails in seconds with its name, not minutes into the build.
    probes: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"


@dataclass(frozen=True)
class OperatorSettings(ImageSettings):
    """The operator image: the Dockerfile's default target."""


#: Maven Central, where the spark-job target fetches the Kafka connector's pinned jars.
MAVEN_CENTRAL_PROBE = (
    "https://repo1.maven.org/maven2/org/apache/spark/spark-parent_2.13/4.1.1/"
    "spark-parent_2.13-4.1.1.pom"
)


@dataclass(frozen=True)
class SparkImageSettings(ImageSettings):
    """The Spark image (driver and executors): the Dockerfile's ``spark-job`` target, with
    Debian's OpenJDK 17, pyspark and the Kafka connector's jars (about 1 GB unpacked)."""

    target: str = "spark-job"
    repository: str = "localhost/spark-hrl-autoscaler-spark"
    #: policies/ is not copied into this target, so it is not an input.
    trees: tuple[str, ...] = ("operator",)
    archive_name: str = "spark-hrl-autoscaler-spark.oci.tar"
    probes: tuple[str, ...] = (MAVEN_CENTRAL_PROBE,)


#: The targets ``hrl-autoscaler dev image build --target`` accepts, and their settings.
IMAGE_KINDS: dict[str, type[ImageSettings]] = {
    "operator": OperatorSettings,
    "spark-job": SparkImageSettings,
}


def image_settings(target: str) -> ImageSettings:
    """The settings of the Dockerfile target ``target``; a clear error for any other name."""
    kind = IMAGE_KINDS.get(target)
    if kind is None:
        raise ValueError(f"image target {target!r}: accepted values are {sorted(IMAGE_KINDS)}")
    return kind()


def _host_ca_bundle() -> Path | None:
    for candidate in (os.environ.get("SSL_CERT_FILE"), "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


@dataclass(frozen=True)
class StorageSettings:
    """Where buildah keeps its images, and how it runs RUN steps here.

    overlay works on this kernel for root (ext4 underneath) and is much faster than vfs, which
    copies every layer whole; chroot isolation because the machine's root cannot create every
    namespace runc's OCI isolation asks for, and it shares the host network, which pip needs.
    """

    #: Its own directory under ``<cache>/images``, which the node's images (pause) share.
    root: Path = field(default_factory=lambda: cache_root() / "images" / "buildah")
    driver: str = field(
        default_factory=lambda: os.environ.get("HRL_AUTOSCALER_IMAGE_STORAGE_DRIVER", "overlay")
    )
    isolation: str = "chroot"

    @property
    def graph_root(self) -> Path:
        return self.root / "storage" / "root"

    @property
    def run_root(self) -> Path:
        return self.root / "storage" / "run"

    @property
    def tmp(self) -> Path:
        """buildah's TMPDIR: its RUN cache mounts (pip's cache) live there, not in /var/tmp."""
        return self.root / "tmp"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def archives(self) -> Path:
        return self.root / "archives"
