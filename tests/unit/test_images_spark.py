"""The Spark image's pure parts: its settings, its cache key, its archive beside the operator's,
its Dockerfile target and the pinned Kafka jars. No root, buildah or network here: the image is
built and run on the real node by tests/e2e/test_spark_k8s_image.py."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from pathlib import Path

import pytest

from hrl_autoscaler.tools.devenv.images import build
from hrl_autoscaler.tools.devenv.images.cli import add_parser
from hrl_autoscaler.tools.devenv.images.hashing import (
    context_files,
    dockerignore_patterns,
    ignored,
    image_hash,
    operator_hash,
)
from hrl_autoscaler.tools.devenv.images.settings import (
    REPO,
    ImageSettings,
    OperatorSettings,
    SparkImageSettings,
    StorageSettings,
    image_settings,
)
from hrl_autoscaler.tools.spark import kafka_jars

ENTRYPOINT = "operator/hrl_autoscaler/tools/spark/entrypoint.sh"

# -- settings -------------------------------------------------------------------------------------


def test_the_spark_image_has_its_own_name_target_and_archive() -> None:
    spark, operator = SparkImageSettings(tag="1.2.3"), OperatorSettings(tag="1.2.3")
    assert spark.ref == "localhost/spark-hrl-autoscaler-spark:1.2.3"
    assert spark.target == "spark-job"
    assert operator.ref == "localhost/spark-hrl-autoscaler:1.2.3"
    assert operator.target == "operator"
    assert spark.archive_name != operator.archive_name
    assert operator.archive_name == build.ARCHIVE_NAME  # the operator's cache layout is kept
    assert any("repo1.maven.org" in url for url in spark.probes)


def test_targets_are_chosen_by_name_and_a_wrong_name_lists_the_accepted_ones() -> None:
    assert isinstance(image_settings("spark-job"), SparkImageSettings)
    assert isinstance(image_settings("operator"), OperatorSettings)
    with pytest.raises(ValueError, match=r"'sparkjob'.*\['operator', 'spark-job'\]"):
        image_settings("sparkjob")


def test_the_cli_builds_either_target() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["image", "build", "--target", "spark-job"])
    assert args.target == "spark-job"
    assert parser.parse_args(["image", "import", "--address", "/s"]).target == "operator"
    with pytest.raises(SystemExit):
        parser.parse_args(["image", "build", "--target", "nope"])


# -- the cache key --------------------------------------------------------------------------------


def _fake_repo(root: Path) -> SparkImageSettings:
    spark_dir = root / "operator" / "hrl_autoscaler" / "tools" / "spark"
    spark_dir.mkdir(parents=True)
    (root / "policies").mkdir()
    (root / "Dockerfile").write_text("FROM ${PYTHON_IMAGE} AS spark-job\n")
    (root / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "9.9.9"\n')
    (root / "README.md").write_text("readme\n")
    (spark_dir / "entrypoint.sh").write_text("#!/bin/bash\n")
    (spark_dir / "kafka_jars.py").write_text("JARS = ()\n")
    (root / "policies" / "policy.npz").write_bytes(b"weights")
    return SparkImageSettings(repo=root, tag="9.9.9", build_ca_bundle=None)


def test_the_spark_hash_follows_its_inputs(tmp_path: Path) -> None:
    settings = _fake_repo(tmp_path)
    first = image_hash(settings, "base")
    assert image_hash(settings, "base") == first
    (tmp_path / "policies" / "policy.npz").write_bytes(b"retrained")  # not copied: not an input
    assert image_hash(settings, "base") == first
    seen = {first}
    changes = [
        ("operator/hrl_autoscaler/tools/spark/entrypoint.sh", "#!/bin/bash\nexec java\n"),
        ("operator/hrl_autoscaler/tools/spark/kafka_jars.py", "JARS = ('x',)\n"),
        ("Dockerfile", "FROM ${PYTHON_IMAGE} AS spark-job\nUSER 185\n"),
        ("pyproject.toml", '[project]\nname = "x"\nversion = "9.9.9"\n# pin\n'),
    ]
    for relative, text in changes:
        (tmp_path / relative).write_text(text)
        changed = image_hash(settings, "base")
        assert changed not in seen, f"{relative} is not an input of the Spark image's hash"
        seen.add(changed)
    assert image_hash(settings, "other base") not in seen
    operator = OperatorSettings(repo=tmp_path, tag="9.9.9", build_ca_bundle=None)
    assert operator_hash(operator, "base") not in seen  # same context, other target and name


def test_the_real_spark_context_holds_the_entrypoint_and_the_job() -> None:
    settings = SparkImageSettings()
    files = list(context_files(REPO, settings.files, settings.trees))
    for needed in (ENTRYPOINT, "operator/hrl_autoscaler/tools/spark/sum_job.py", "Dockerfile"):
        assert needed in files
    assert not any(f.startswith("policies/") for f in files)


def _write_archive(storage: StorageSettings, settings: ImageSettings, content_hash: str) -> Path:
    directory = build.archive_dir(storage, content_hash)
    directory.mkdir(parents=True)
    (directory / settings.archive_name).write_bytes(b"oci")
    return directory


def test_pruning_drops_only_older_archives_of_the_same_kind(tmp_path: Path) -> None:
    storage = StorageSettings(root=tmp_path)
    spark, operator = SparkImageSettings(tag="1"), OperatorSettings(tag="1")
    operator_dir = _write_archive(storage, operator, "a" * 64)
    _write_archive(storage, spark, "b" * 64)
    interrupted = build.archive_dir(storage, "c" * 64)
    interrupted.mkdir()
    (interrupted / Path(spark.archive_name).with_suffix(".partial").name).write_bytes(b"")
    new_spark = _write_archive(storage, spark, "d" * 64)
    build._prune(storage, keep=new_spark, archive_name=spark.archive_name)
    assert sorted(p.name for p in storage.archives.iterdir()) == sorted(
        [operator_dir.name, new_spark.name]
    )


def test_a_cached_spark_image_is_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hrl_autoscaler.tools.devenv.images import checks
    from hrl_autoscaler.tools.devenv.images.hashing import base_hash
    from hrl_autoscaler.tools.devenv.images.settings import BaseSettings

    settings = _fake_repo(tmp_path / "repo")
    base = BaseSettings(mirror="http://m/debian")
    storage = StorageSettings(root=tmp_path / "cache")
    content_hash = image_hash(settings, base_hash(base))
    directory = _write_archive(storage, settings, content_hash)
    archive = directory / settings.archive_name
    record = {
        "ref": settings.ref,
        "archive": str(archive),
        "digest": "sha256:ab",
        "content_hash": content_hash,
        "size_bytes": 3,
        "build_seconds": 400.0,
    }
    (directory / "image.json").write_text(json.dumps(record))
    monkeypatch.setattr(checks, "require_root", lambda: pytest.fail("a cache hit checked root"))
    said: list[str] = []
    hit = build.ensure_spark_image(said.append, settings=settings, base=base, storage=storage)
    assert hit.cached
    assert hit.ref == "localhost/spark-hrl-autoscaler-spark:9.9.9"
    assert "cached" in said[0]


# -- the Dockerfile's spark-job target ------------------------------------------------------------


def _stage(name: str) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    stage: list[tuple[str, str]] | None = None
    found: list[tuple[str, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        if keyword.upper() == "FROM":
            stage = found if rest.endswith(f" AS {name}") else None
        if stage is not None:
            stage.append((keyword.upper(), rest.strip()))
    return found


def test_the_spark_job_target_is_on_the_debian_base_with_java_pyspark_and_kafka() -> None:
    stage = _stage("spark-job")
    assert stage[0] == ("FROM", "${PYTHON_IMAGE} AS spark-job")  # the operator's base
    runs = " ".join(rest for keyword, rest in stage if keyword == "RUN")
    assert "openjdk-17-jre-headless" in runs
    # pyspark pinned by pyproject's [spark] extra; kafka-python for the job's offset commits
    assert "[k8s,spark,kafka]" in runs
    assert "find_spec('torch')" in runs
    assert "hrl_autoscaler.tools.spark.kafka_jars" in runs
    assert "--uid 185" in runs
    env = " ".join(rest for keyword, rest in stage if keyword == "ENV")
    assert "SPARK_HOME=/opt/hrl-autoscaler/venv/lib/python3.11/site-packages/pyspark" in env
    assert [rest for keyword, rest in stage if keyword == "USER"][-1] == "185"
    [entrypoint] = [rest for keyword, rest in stage if keyword == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["/opt/entrypoint.sh"]
    patterns = dockerignore_patterns((REPO / ".dockerignore").read_text())
    copies = [shlex.split(rest) for keyword, rest in stage if keyword == "COPY"]
    for words in copies:
        for source in [w for w in words if not w.startswith("--")][:-1]:
            assert (REPO / source).exists(), f"COPY {source}: not in the repository"
            assert not ignored(source, patterns), f"COPY {source} is excluded by .dockerignore"
    assert any(ENTRYPOINT in words for words in copies)
    jobs = [
        w for words in copies if words[-1].startswith("/opt/hrl-autoscaler/") for w in words[:-1]
    ]
    for job in ("iot_job.py", "sum_job.py", "rate_job.py"):  # what the tests submit
        assert f"operator/hrl_autoscaler/tools/spark/{job}" in jobs
    assert (REPO / ENTRYPOINT).stat().st_mode & 0o111, "the entrypoint must be executable"


# -- the Kafka jars -------------------------------------------------------------------------------


def test_the_kafka_jars_are_pinned_by_exact_url_and_sha256() -> None:
    names = {jar.artifact: jar for jar in kafka_jars.KAFKA_JARS}
    assert set(names) == {
        "spark-sql-kafka-0-10_2.13",
        "spark-token-provider-kafka-0-10_2.13",
        "kafka-clients",
        "commons-pool2",
    }
    assert names["spark-sql-kafka-0-10_2.13"].version == "4.1.1"
    assert names["spark-sql-kafka-0-10_2.13"].url() == (
        "https://repo1.maven.org/maven2/org/apache/spark/spark-sql-kafka-0-10_2.13/4.1.1/"
        "spark-sql-kafka-0-10_2.13-4.1.1.jar"
    )
    for jar in kafka_jars.KAFKA_JARS:
        assert re.fullmatch(r"[0-9a-f]{64}", jar.sha256), jar
        assert jar.size_bytes > 0


def test_the_pyspark_pin_matches_the_connector() -> None:
    text = (REPO / "pyproject.toml").read_text()
    assert f'"pyspark=={kafka_jars.SPARK_VERSION}"' in text


def test_a_changed_jar_is_refused() -> None:
    data = b"jar bytes"
    jar = kafka_jars.Jar("g", "a", "1", hashlib.sha256(data).hexdigest(), len(data))
    kafka_jars.verify(jar, data)
    with pytest.raises(kafka_jars.JarChecksumError, match=r"a-1\.jar: got 8 bytes"):
        kafka_jars.verify(jar, data[:-1])
    with pytest.raises(ValueError, match="https"):
        kafka_jars.fetch(jar, Path("/nonexistent"), repository="http://plain")


def test_the_jar_fetcher_refuses_a_missing_directory(capsys: pytest.CaptureFixture[str]) -> None:
    assert kafka_jars.main(["/nonexistent/jars"]) == 66
    assert "$SPARK_HOME/jars" in capsys.readouterr().err
    assert kafka_jars.main([]) == 64
