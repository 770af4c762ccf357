"""Property tests of the operator's untrusted inputs, at bench scale.

The unit suite runs each Hypothesis property with a few hundred generated inputs (CI's time is
shared); this runs the same properties with ``--examples`` each (10,000 by default) and prints,
per property, how many inputs were tried and how many failed. Targets: the annotations
(``resolve_settings``), Prometheus' answers (``parse_vector`` and the collector), policy files
(damaged archives, wrong shapes with a right digest, any metadata), ExecutorBudget objects, the
in-place agent's target, excluded periods, and trace and calibration files. With the default
10,000 per property that is over 100,000 generated inputs.

    .venv/bin/python bench/fuzz_inputs.py --examples 10000 --json reports/bench/fuzz.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The property tests: every one must accept any input without an unexpected exception.
PROPERTIES = (
    "tests/unit/test_annotations.py::test_resolve_settings_never_raises_and_always_gives_usable_settings",
    "tests/unit/test_prometheus_collector.py",
    "tests/unit/test_fuzz_policy_files.py",
    "tests/unit/test_fuzz_inputs.py",
)
_TEST = re.compile(r"^(tests/\S+::\S+):\s*$", re.M)
_PASSING = re.compile(r"(\d+) passing, (\d+) failing, and (\d+) invalid")


def parse_statistics(text: str) -> dict[str, dict[str, int]]:
    """Generated examples per property from ``--hypothesis-show-statistics`` output."""
    found: dict[str, dict[str, int]] = {}
    starts = [(m.start(), m.group(1)) for m in _TEST.finditer(text)]
    for i, (start, name) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        passing = failing = invalid = 0
        for m in _PASSING.finditer(text, start, end):
            passing += int(m.group(1))
            failing += int(m.group(2))
            invalid += int(m.group(3))
        found[name] = {"passing": passing, "failing": failing, "invalid": invalid}
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=10_000, help="inputs per property")
    parser.add_argument("--json", type=Path, help="write the counts here")
    args = parser.parse_args(argv)
    env = {**os.environ, "HRL_FUZZ_EXAMPLES": str(args.examples)}
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--hypothesis-show-statistics",
            *PROPERTIES,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    stats = parse_statistics(done.stdout)
    print(f"{'property':<100} {'inputs':>8} {'failing':>8}")
    for name, counts in stats.items():
        tried = counts["passing"] + counts["failing"]
        print(f"{name:<100} {tried:>8} {counts['failing']:>8}")
    total = sum(c["passing"] + c["failing"] for c in stats.values())
    failing = sum(c["failing"] for c in stats.values())
    print(
        f"{total} generated inputs, {failing} failing, pytest exit {done.returncode}, "
        f"{seconds:.0f} s"
    )
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-2000:], sep="\n")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {"examples": args.examples, "properties": stats, "seconds": seconds}
        args.json.write_text(json.dumps(report, indent=2))
    return 0 if done.returncode == 0 and failing == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
