"""Content hashes of an image's inputs: the cache key of a build.

A build is reused exactly when every input is byte-identical: the Dockerfile, the files of the
build context it copies (pyproject.toml, README.md, operator/, policies/, minus what
.dockerignore drops, as the build would), the base's hash and the recipe version. Timestamps
do not count, so a fresh checkout of the same commit hits the cache.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from hrl_autoscaler.tools.devenv.images.settings import (
    RECIPE_VERSION,
    BaseSettings,
    ImageSettings,
)


def dockerignore_patterns(text: str) -> list[re.Pattern[str]]:
    """.dockerignore lines as regexes (``**``, ``*``, ``?``); ``!`` exceptions are refused."""
    patterns = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("!"):
            raise ValueError(f".dockerignore: exceptions ({line}) are not supported by the hash")
        regex = re.escape(line.strip("/")).replace(r"\*\*/", "(?:.*/)?")
        regex = regex.replace(r"\*\*", ".*").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        patterns.append(re.compile(regex))
    return patterns


def ignored(relative: str, patterns: list[re.Pattern[str]]) -> bool:
    """Docker's rule: a path is excluded when it or one of its parents matches."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(p.fullmatch(prefix) for p in patterns for prefix in prefixes)


def context_files(repo: Path, files: Iterable[str], trees: Iterable[str]) -> Iterator[str]:
    """The relative paths of the inputs, sorted, as the build context would hold them."""
    ignore_file = repo / ".dockerignore"
    patterns = dockerignore_patterns(ignore_file.read_text()) if ignore_file.is_file() else []
    found: set[str] = set()
    for name in files:
        if (repo / name).is_file():
            found.add(name)
    for tree in trees:
        for path in (repo / tree).rglob("*"):
            relative = path.relative_to(repo).as_posix()
            if path.is_file() and not ignored(relative, patterns):
                found.add(relative)
    yield from sorted(found)


def hash_files(repo: Path, relatives: Iterable[str], extra: dict[str, str]) -> str:
    """sha256 over ``extra`` (sorted JSON) and every file's path and bytes."""
    digest = hashlib.sha256()
    digest.update(json.dumps(extra, sort_keys=True).encode())
    for relative in relatives:
        digest.update(b"\0file\0" + relative.encode() + b"\0")
        with (repo / relative).open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def base_hash(base: BaseSettings) -> str:
    """The base's inputs: suite, variant, packages, mirror, trim list, env, recipe version."""
    spec = {
        "recipe": RECIPE_VERSION,
        "suite": base.suite,
        "variant": base.variant,
        "packages": sorted(base.packages),
        "mirror": base.mirror,
        "trim": list(base.trim),
        "env": list(base.env),
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def image_hash(settings: ImageSettings, base_content_hash: str) -> str:
    """An image's inputs: the build context, the target, the ref, the base.

    The whole Dockerfile counts for every target (a change to one stage rebuilds all kinds):
    simpler than parsing stages, and the stages share the base and the builder anyway."""
    extra = {
        "recipe": RECIPE_VERSION,
        "base": base_content_hash,
        "target": settings.target,
        "ref": settings.ref,
    }
    relatives = list(context_files(settings.repo, settings.files, settings.trees))
    return hash_files(settings.repo, relatives, extra)


#: The operator image's hash (the name it had before the Spark image was added).
operator_hash = image_hash
