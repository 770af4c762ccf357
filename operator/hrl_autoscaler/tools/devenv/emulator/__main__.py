"""``python -m hrl_autoscaler.tools.devenv.emulator``: run the emulated Spark data plane."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from hrl_autoscaler.tools.devenv.emulator.server import Emulator, api_from_kubeconfig
from hrl_autoscaler.tools.devenv.sparkop.launch import start_submitter
from hrl_autoscaler.tools.spark.spark_setup import SparkSetupError


def _log_dir(args: argparse.Namespace) -> Path:
    return (args.port_file.parent if args.port_file else Path.cwd()) / "spark-submit"


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
    parser.add_argument(
        "--spark-submit",
        action="store_true",
        help="also play the Spark Operator's submission role for real: applications annotated "
        "emulator.hrl-autoscaler.io/mode=spark-submit are run with spark-submit --master "
        "k8s://<the kubeconfig's server> --deploy-mode cluster (needs pyspark and Java 17)",
    )
    parser.add_argument(
        "--submit-log-dir", type=Path, help="spark-submit logs (default: beside --port-file)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        emulator = Emulator(
            api_from_kubeconfig(args.kubeconfig), args.port, args.speed, args.tick
        ).start()
    except (OSError, ValueError) as exc:
        print(f"emulator: cannot start: {exc}", file=sys.stderr)
        return 2
    submitter = None
    if args.spark_submit:
        try:
            submitter = start_submitter(args.kubeconfig, args.submit_log_dir or _log_dir(args))
        except (OSError, ValueError, SparkSetupError) as exc:
            print(f"emulator: cannot play the submission role: {exc}", file=sys.stderr)
            emulator.stop()
            return 2
    if args.port_file:
        args.port_file.write_text(str(emulator.port))
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    if submitter is not None:
        submitter.stop()
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
