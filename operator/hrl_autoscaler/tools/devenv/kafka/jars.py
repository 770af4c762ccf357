"""The Kafka broker's jars, resolved from Maven Central once and cached by version.

There is no Debian package of a current Kafka and the project downloads nothing but from
package registries, so the broker is the ``org.apache.kafka:kafka_2.13`` artifact and its
runtime closure, which Maven resolves from a generated pom (``dependency:copy-dependencies``)
into ``<cache>/kafka/<version>/libs``. The fetch goes to a partial directory that is renamed
into place, under a file lock, so two test processes never see or make a half-filled
directory; a cached directory costs one ``stat``.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hrl_autoscaler.tools.devenv.binaries import cache_root

Progress = Callable[[str], None]

MVN_TIMEOUT_SECONDS = 900.0
"""A cold fetch is ~45 MB of jars: about a minute on a good link; a quarter hour is a hang."""


class KafkaJarsError(RuntimeError):
    """The broker's jars cannot be had (no mvn, no java, Maven Central refused); says why."""


@dataclass(frozen=True)
class KafkaDistribution:
    """Which Kafka the broker is, as Maven coordinates.

    ``version`` 4.1.1: the current release line, KRaft only (no ZooKeeper to start).
    Spark 4.1.1's ``spark-sql-kafka-0-10`` connector resolves ``kafka-clients`` 3.9.1, and
    4.x brokers serve 3.x clients (4.0 dropped only pre-2.1 protocol versions):
    tests/unit/test_kafka_spark.py runs exactly that pair. ``scala`` 2.13: the only Scala
    build of 4.x.
    ``log4j_binding``: Kafka 4 logs through log4j2 (its ``log4j-core`` is in the closure) but
    its dependencies log through SLF4J 1.7, which needs ``log4j-slf4j-impl`` of the same
    log4j2 release to reach the same log file instead of being dropped with a warning.
    """

    version: str = "4.1.1"
    scala: str = "2.13"
    log4j_binding: str = "org.apache.logging.log4j:log4j-slf4j-impl:2.24.3"

    def __post_init__(self) -> None:
        for name in ("version", "scala"):
            value = getattr(self, name)
            if not value or not all(part.isdigit() for part in value.split(".")):
                raise ValueError(f"KafkaDistribution.{name} must be dotted digits, got {value!r}")
        if self.log4j_binding.count(":") != 2:
            raise ValueError(
                "KafkaDistribution.log4j_binding must be GROUP:ARTIFACT:VERSION, "
                f"got {self.log4j_binding!r}"
            )

    @property
    def artifact(self) -> str:
        return f"org.apache.kafka:kafka_{self.scala}:{self.version}"

    def libs_dir(self) -> Path:
        """Where the jars of this version live once fetched."""
        return cache_root() / "kafka" / f"{self.scala}-{self.version}" / "libs"

    def pom(self) -> str:
        """A throwaway project whose runtime dependencies are exactly the broker's classpath."""
        deps = "".join(_dependency(c) for c in (self.artifact, self.log4j_binding))
        return (
            '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
            "  <modelVersion>4.0.0</modelVersion>\n"
            "  <groupId>local.hrl-autoscaler</groupId>\n"
            "  <artifactId>kafka-broker-libs</artifactId>\n"
            "  <version>1</version>\n"
            f"  <dependencies>{deps}\n  </dependencies>\n"
            "</project>\n"
        )


def _dependency(coordinates: str) -> str:
    group, artifact, version = coordinates.split(":")
    return (
        f"\n    <dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
        f"<version>{version}</version></dependency>"
    )


def java_binary() -> Path:
    """The ``java`` on PATH, or KafkaJarsError saying how to get one."""
    found = shutil.which("java")
    if found is None:
        raise KafkaJarsError(
            "the Kafka broker needs Java 17+ on PATH: apt-get install openjdk-17-jre-headless"
        )
    return Path(found)


def _complete(libs: Path, dist: KafkaDistribution) -> bool:
    return (libs / f"kafka_{dist.scala}-{dist.version}.jar").is_file()


@contextmanager
def _fetch_lock(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".fetch.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_kafka_libs(dist: KafkaDistribution | None = None, progress: Progress = print) -> Path:
    """The directory of the broker's jars, fetched with Maven on first use."""
    dist = dist or KafkaDistribution()
    libs = dist.libs_dir()
    if _complete(libs, dist):
        return libs
    java_binary()
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaJarsError(
            f"fetching Kafka {dist.version} needs Maven on PATH (apt-get install maven), "
            f"or put its jars in {libs}"
        )
    with _fetch_lock(libs.parent):
        if _complete(libs, dist):  # another process fetched it while we waited
            return libs
        progress(f"fetching Kafka {dist.version} jars from Maven Central into {libs}")
        with tempfile.TemporaryDirectory(prefix="kafka-pom-") as work:
            pom = Path(work) / "pom.xml"
            pom.write_text(dist.pom())
            partial = libs.with_name("libs.partial")
            shutil.rmtree(partial, ignore_errors=True)
            argv = [
                mvn,
                "-q",
                "-B",
                "-f",
                str(pom),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={partial}",
            ]
            try:
                done = subprocess.run(
                    argv, capture_output=True, text=True, timeout=MVN_TIMEOUT_SECONDS, check=False
                )
            except subprocess.TimeoutExpired:
                raise KafkaJarsError(
                    f"mvn did not fetch Kafka {dist.version} in {MVN_TIMEOUT_SECONDS:.0f} s"
                ) from None
            if done.returncode != 0 or not _complete(partial, dist):
                tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
                raise KafkaJarsError(
                    f"mvn could not fetch {dist.artifact} (exit {done.returncode}); is Maven "
                    f"Central reachable? Its output:\n{tail}"
                )
            shutil.rmtree(libs, ignore_errors=True)
            partial.rename(libs)
    return libs


__all__ = [
    "KafkaDistribution",
    "KafkaJarsError",
    "ensure_kafka_libs",
    "java_binary",
]
