"""What the Dockerfile promises that the built image cannot show.

tests/e2e/test_image.py builds the ``operator`` target and examines the image; what stays here
is what that build cannot see: the defaults users get from ``docker build .`` (the base is
only swapped with ``--build-arg`` here), the HEALTHCHECK (a Docker-only field, dropped from
OCI images), and the ``spark-job`` target's job files (that image is built and run on the node
by tests/e2e/test_spark_k8s_image.py; tests/unit/test_images_spark.py checks the rest).
"""

from __future__ import annotations

import json
import re
import shlex

from hrl_autoscaler.tools.devenv.images.hashing import dockerignore_patterns, ignored
from hrl_autoscaler.tools.devenv.images.settings import REPO

DOCKERFILE = REPO / "Dockerfile"


def _instructions() -> tuple[dict[str, str], dict[str, list[tuple[str, str]]], list[str]]:
    """Global ARG defaults, each stage's (keyword, args), and the stage names in order."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    args: dict[str, str] = {}
    stages: dict[str, list[tuple[str, str]]] = {}
    order: list[str] = []
    current: list[tuple[str, str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            base, _, name = rest.partition(" AS ")
            current = stages.setdefault(name.strip(), [("FROM", base.strip())])
            order.append(name.strip())
        elif current is None:
            name, _, default = rest.partition("=")
            args[name] = default
        else:
            current.append((keyword, rest))
    return args, stages, order


def _all(stage: list[tuple[str, str]], keyword: str) -> list[str]:
    return [rest for k, rest in stage if k == keyword]


def test_docker_build_still_means_the_operator_on_the_pinned_python_image() -> None:
    args, stages, order = _instructions()
    assert order[-1] == "operator", "the operator must stay the default (last) target"
    assert args["PYTHON_IMAGE"] == "python:3.11.14-slim-bookworm"
    assert _all(stages["operator"], "FROM") == ["${PYTHON_IMAGE}"]
    assert _all(stages["builder"], "FROM") == ["${PYTHON_IMAGE}"]
    for name, stage in stages.items():
        base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], _all(stage, "FROM")[0])
        if base in stages:
            continue
        tag = base.split("@")[0].rsplit(":", 1)[-1]
        assert re.search(r"\d+\.\d+\.\d+", tag), f"stage {name}: {base} is not pinned"


def test_the_operator_declares_a_healthcheck_on_healthz() -> None:
    _, stages, _ = _instructions()
    [healthcheck] = _all(stages["operator"], "HEALTHCHECK")
    assert "/healthz" in healthcheck
    assert json.loads(_all(stages["operator"], "ENTRYPOINT")[0]) == ["hrl-autoscaler"]


def test_the_spark_job_target_copies_the_job_and_installs_without_torch() -> None:
    args, stages, _ = _instructions()
    spark = stages["spark-job"]
    assert _all(spark, "FROM") == ["${PYTHON_IMAGE}"]  # the operator's Debian base
    assert "SPARK_IMAGE" not in args
    copies = [shlex.split(a) for a in _all(spark, "COPY")]
    job = "operator/hrl_autoscaler/tools/spark/iot_job.py"
    # its own COPY line, to the path the example SparkApplications name (test_manifests)
    assert [job, "/opt/hrl-autoscaler/iot_job.py"] in copies
    assert (REPO / job).is_file(), f"{job} (the IoT job) is missing from the build context"
    patterns = dockerignore_patterns((REPO / ".dockerignore").read_text())
    for words in copies:
        for source in [w for w in words if not w.startswith("--")][:-1]:
            assert not ignored(source, patterns), f"COPY {source} is excluded by .dockerignore"
    runs = " ".join(_all(spark, "RUN"))
    assert "[k8s," in runs  # the kubernetes client for the in-place agent
    assert "find_spec('torch')" in runs
    assert _all(spark, "USER")[-1] not in ("0", "root")
