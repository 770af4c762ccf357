"""``hrl-autoscaler dev image``: build an image (the operator, or the Spark image), import it
into a containerd."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from hrl_autoscaler.tools.devenv.images.build import ensure_image
from hrl_autoscaler.tools.devenv.images.commands import ImageBuildError
from hrl_autoscaler.tools.devenv.images.containerd import import_image
from hrl_autoscaler.tools.devenv.images.settings import IMAGE_KINDS, image_settings


def _say(message: str) -> None:
    print(message, flush=True)


def add_parser(sub: Any) -> None:
    """Register ``image`` under ``hrl-autoscaler dev`` (``sub``: its subparsers)."""
    image = sub.add_parser(
        "image",
        help="build the operator or Spark image from the Dockerfile (no registry, no Docker)",
        description="Build the project's Dockerfile (--target operator, the default, or "
        "spark-job: the Spark driver/executor image) with buildah on a Debian "
        "bookworm base made by debootstrap, into an OCI archive in the cache (rebuilt only "
        "when an input changes); import it into a containerd for kubelet. Needs root and "
        "`make image-deps`.",
    )
    actions = image.add_subparsers(dest="image_command", required=True, metavar="ACTION")
    build = actions.add_parser("build", help="build (or reuse) the image")
    build.add_argument("--force", action="store_true", help="rebuild even when cached")
    load = actions.add_parser("import", help="import the image into containerd (builds first)")
    for parser in (build, load):
        parser.add_argument(
            "--target",
            choices=sorted(IMAGE_KINDS),
            default="operator",
            help="the Dockerfile target (default operator; spark-job: Spark driver/executor)",
        )
    load.add_argument("--address", required=True, help="containerd's socket")
    load.add_argument("--namespace", default="k8s.io", help="default k8s.io (kubelet's)")
    load.add_argument("--snapshotter", default=None, help="containerd's, if not its default")


def run(args: argparse.Namespace) -> int:
    """Run ``hrl-autoscaler dev image ...``."""
    try:
        started = time.monotonic()
        settings = image_settings(getattr(args, "target", "operator"))
        built = ensure_image(settings, _say, force=getattr(args, "force", False))
        elapsed = time.monotonic() - started
        _say(f"ref: {built.ref}")
        _say(f"archive: {built.archive}")
        _say(f"digest: {built.digest}")
        _say(f"content hash: {built.content_hash}")
        _say(f"size: {built.size_bytes / 1e6:.1f} MB")
        took = "cache hit" if built.cached else "built"
        _say(f"time: {elapsed:.1f} s ({took}; the build took {built.build_seconds:.0f} s)")
        if args.image_command == "import":
            ref = import_image(Path(built.archive), args.address, args.namespace, args.snapshotter)
            _say(f"imported into {args.address} ({args.namespace}): {ref}")
        return 0
    except ImageBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
