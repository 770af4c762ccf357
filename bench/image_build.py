"""Cold and warm build times of the operator image, and its size.

Cold means from nothing: a fresh buildah storage (so the base is debootstrapped again and pip's
cache mount starts empty) in a temporary directory, leaving the project cache alone. Then the
same call again (warm: a cache hit), and the size of the archive and of the unpacked image.
Needs root and ``make image-deps``; PyPI and the Debian mirror must be reachable.

    sudo .venv/bin/python bench/image_build.py --json reports/bench/image.json
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from hrl_autoscaler.tools.devenv.images import StorageSettings, ensure_operator_image
from hrl_autoscaler.tools.devenv.images.commands import buildah

_PHASE = re.compile(r"(debootstrap done|committed|Dockerfile built|exported .*) in (\d+) s")


def unpacked_bytes(storage: StorageSettings, archive: Path) -> int:
    """The image's size once unpacked (what a node's disk holds), via buildah's own count."""
    name = f"bench-{time.monotonic_ns()}"
    subprocess.run(
        buildah(storage, "from", "--name", name, f"oci-archive:{archive}"),
        capture_output=True,
        check=True,
    )
    try:
        merged = subprocess.run(
            buildah(storage, "mount", name), capture_output=True, text=True, check=True
        ).stdout.strip()
        du = subprocess.run(["du", "-sb", merged], capture_output=True, text=True, check=True)
        return int(du.stdout.split()[0])
    finally:
        subprocess.run(buildah(storage, "rm", name), capture_output=True, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=None, help="write the numbers here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary storage")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="hrl-image-bench-"))
    storage = StorageSettings(root=root)
    phases: dict[str, float] = {}

    def progress(message: str) -> None:
        print(message, flush=True)
        match = _PHASE.search(message)
        if match:
            label = match.group(1).split()[0]
            phases[label] = float(match.group(2))

    try:
        started = time.monotonic()
        cold = ensure_operator_image(progress, storage=storage)
        cold_s = time.monotonic() - started
        started = time.monotonic()
        warm = ensure_operator_image(progress, storage=storage)
        warm_s = time.monotonic() - started
        if not warm.cached:  # an input changed while the cold build ran
            raise SystemExit("the second call rebuilt: leave the tree alone during the bench")
        result = {
            "ref": cold.ref,
            "digest": cold.digest,
            "cold_total_s": round(cold_s, 1),
            "cold_base_debootstrap_s": phases.get("debootstrap"),
            "cold_base_commit_s": phases.get("committed"),
            "cold_dockerfile_s": phases.get("Dockerfile"),
            "cold_export_s": phases.get("exported"),
            "warm_s": round(warm_s, 3),
            "archive_bytes": cold.size_bytes,
            "unpacked_bytes": unpacked_bytes(storage, cold.archive),
        }
    finally:
        if not args.keep:
            subprocess.run(buildah(storage, "rm", "--all"), capture_output=True, check=False)
            subprocess.run(buildah(storage, "rmi", "--all", "--force"), capture_output=True)
            shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
