"""Whether Spark can run here: a Spark installation (``$SPARK_HOME`` or the pip ``pyspark``
package) and a Java recent enough for Spark 4, for :mod:`.standalone` and its callers."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

MIN_JAVA_MAJOR = 17
"""Spark 4 needs Java 17 or later."""


class SparkSetupError(RuntimeError):
    """Spark cannot run here (no Java, wrong Java, no Spark home); the message says what to do."""


def find_spark_home() -> Path:
    """``$SPARK_HOME``, else the directory of the installed ``pyspark`` package.

    A user's ``SPARK_HOME`` (a full Spark distribution) wins over the pip package, as it does
    for ``spark-submit`` and pyspark's own launcher.
    """
    env_home = os.environ.get("SPARK_HOME")
    if env_home:
        home = Path(env_home)
    else:
        try:
            import pyspark
        except ImportError as exc:
            raise SparkSetupError(
                "pyspark is not installed: pip install 'spark-hrl-autoscaler[spark]' (or set "
                "SPARK_HOME to a Spark 4 distribution and install the same pyspark version)"
            ) from exc
        home = Path(str(pyspark.__file__)).parent
    if not (home / "bin" / "spark-class").is_file():
        raise SparkSetupError(f"SPARK_HOME {home} has no bin/spark-class: not a Spark installation")
    return home


def find_java() -> Path:
    """The ``java`` binary Spark will use: ``$JAVA_HOME/bin/java``, else ``java`` on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    if candidate is not None and candidate.is_file():
        return candidate
    found = shutil.which("java")
    if found is None:
        where = f"JAVA_HOME={java_home} has no bin/java and " if java_home else ""
        raise SparkSetupError(
            f"{where}no `java` on PATH: Spark 4 needs Java {MIN_JAVA_MAJOR}+ "
            "(Debian: apt-get install openjdk-17-jre-headless)"
        )
    return Path(found)


def java_major_version(java: Path) -> int:
    """The major version of ``java`` (17 for ``17.0.15``, 8 for ``1.8.0_392``)."""
    result = subprocess.run(
        [str(java), "-version"], capture_output=True, text=True, timeout=60, check=False
    )
    text = result.stderr + result.stdout
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if match is None:
        raise SparkSetupError(f"cannot read the version of {java}: {text.strip()[:200]}")
    major = int(match.group(1))
    if major == 1 and match.group(2):  # 1.8 -> 8
        major = int(match.group(2))
    return major


def check_java() -> Path:
    """The java binary, after checking that it is recent enough for Spark 4."""
    java = find_java()
    major = java_major_version(java)
    if major < MIN_JAVA_MAJOR:
        raise SparkSetupError(
            f"{java} is Java {major}; Spark 4 needs Java {MIN_JAVA_MAJOR}+ "
            "(set JAVA_HOME to a newer JDK or install openjdk-17-jre-headless)"
        )
    return java


__all__ = [
    "MIN_JAVA_MAJOR",
    "SparkSetupError",
    "check_java",
    "find_java",
    "find_spark_home",
    "java_major_version",
]
