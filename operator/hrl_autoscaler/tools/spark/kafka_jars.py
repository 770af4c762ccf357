"""The Spark Kafka connector's jars, pinned, for the spark-job image's ``$SPARK_HOME/jars``.

The pyspark wheel ships Spark without the Kafka source; ``--packages`` would resolve it from
Maven at every driver start (slow, and impossible in a cluster without internet), so the image
bakes it in. The list is the connector and the compile-scope dependencies of its 4.1.1 pom that
pyspark does not already ship (pyspark has scala-parallel-collections 1.2.0, jsr305 3.0.0 and
kafka-clients' own dependencies: lz4-java, snappy-java, zstd-jni, slf4j-api). kafka-clients and
commons-pool2 are at the versions spark-parent_2.13:4.1.1 names (``kafka.version``,
``commons-pool2.version``).

Run in the image build (stdlib only, so it needs nothing but Python and the network):

    python -m hrl_autoscaler.tools.spark.kafka_jars "$SPARK_HOME/jars"

Each jar is fetched by its exact Maven Central URL and checked against the sha256 pinned here
(computed once from Maven Central; its published .sha1 agreed), so a changed or truncated
download fails the build instead of shipping.
"""

from __future__ import annotations

import hashlib
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

MAVEN_CENTRAL = "https://repo1.maven.org/maven2"


@dataclass(frozen=True)
class Jar:
    """One Maven artifact: its coordinates, and the sha256 and size of its jar."""

    group: str
    artifact: str
    version: str
    sha256: str
    size_bytes: int

    @property
    def filename(self) -> str:
        return f"{self.artifact}-{self.version}.jar"

    def url(self, repository: str = MAVEN_CENTRAL) -> str:
        group_path = self.group.replace(".", "/")
        return f"{repository}/{group_path}/{self.artifact}/{self.version}/{self.filename}"


SPARK_VERSION = "4.1.1"
KAFKA_JARS: tuple[Jar, ...] = (
    Jar(
        "org.apache.spark",
        "spark-sql-kafka-0-10_2.13",
        SPARK_VERSION,
        "9c1ce986f548e6b1dcb0e2dfe2f253a0bc58f2232a32a0c9c6c674dd25a8570c",
        491694,
    ),
    Jar(
        "org.apache.spark",
        "spark-token-provider-kafka-0-10_2.13",
        SPARK_VERSION,
        "e510adc37b03d01d0a190d0dab472b5538e05eaa77454f7e9477156d7a6820ae",
        66579,
    ),
    Jar(
        "org.apache.kafka",
        "kafka-clients",
        "3.9.1",
        "7568b998572d256f0b7bc0afdc1b7a2588b8b08415c62ce314c864a6851ae9d9",
        9215194,
    ),
    Jar(
        "org.apache.commons",
        "commons-pool2",
        "2.12.1",
        "5273c8bc8c0dca2211175c0d27efbd7228efae99689aac001a8e1ef8e872e9ef",
        152289,
    ),
)


class JarChecksumError(RuntimeError):
    """A downloaded jar is not the pinned one."""


def verify(jar: Jar, data: bytes) -> None:
    """Raise unless ``data`` has the pinned size and sha256 of ``jar``."""
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != jar.size_bytes or digest != jar.sha256:
        raise JarChecksumError(
            f"{jar.filename}: got {len(data)} bytes with sha256 {digest}, pinned "
            f"{jar.size_bytes} bytes with sha256 {jar.sha256}"
        )


def fetch(
    jar: Jar, directory: Path, repository: str = MAVEN_CENTRAL, timeout_s: float = 120.0
) -> Path:
    """Download ``jar`` into ``directory`` (verified before it is written under its name)."""
    url = jar.url(repository)
    if not url.startswith("https://"):
        raise ValueError(f"repository must be an https URL, got {repository!r}")
    with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 (https only)
        data = response.read()
    verify(jar, data)
    target = directory / jar.filename
    partial = target.with_suffix(".partial")
    partial.write_bytes(data)
    partial.rename(target)
    return target


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m hrl_autoscaler.tools.spark.kafka_jars JARS_DIR", file=sys.stderr)
        return 64
    directory = Path(args[0])
    if not directory.is_dir():
        print(f"{directory} is not a directory ($SPARK_HOME/jars expected)", file=sys.stderr)
        return 66
    for jar in KAFKA_JARS:
        path = fetch(jar, directory)
        print(f"{path} ({jar.size_bytes} bytes, sha256 {jar.sha256[:12]}...)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
