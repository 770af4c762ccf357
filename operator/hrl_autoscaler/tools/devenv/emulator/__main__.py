"""``python -m hrl_autoscaler.tools.devenv.emulator``: run the emulated Spark data plane."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from hrl_autoscaler.tools.devenv.emulator.server import Emulator, api_from_kubeconfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hrl-autoscaler-emulator",
        description="Play the Spark Operator and Spark for every SparkApplication on the API "
        "server: status transitions, simulated executors and load, Spark 4 metrics for Prometheus.",
    )
    parser.add_argument(
        "--kubeconfig", type=Path, required=True, help="admin kubeconfig of the API server"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="metrics port on 127.0.0.1 (0 = any free port)"
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per wall second"
    )
    parser.add_argument(
        "--tick", type=float, default=1.0, help="wall seconds between simulation steps"
    )
    parser.add_argument("--port-file", type=Path, help="write the chosen port here once serving")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        emulator = Emulator(
            api_from_kubeconfig(args.kubeconfig), args.port, args.speed, args.tick
        ).start()
    except (OSError, ValueError) as exc:
        print(f"emulator: cannot start: {exc}", file=sys.stderr)
        return 2
    if args.port_file:
        args.port_file.write_text(str(emulator.port))
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
