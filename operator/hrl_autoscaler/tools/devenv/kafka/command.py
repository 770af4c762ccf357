"""``hrl-autoscaler dev kafka``: a real Kafka broker in the foreground until Ctrl-C.

Kept apart from ``dev up`` (whose processes outlive the command and are recorded in its
state file): a broker for a demo or a manual run of the load generator, the job and the lag
exporter is started when wanted and gone when the terminal is closed.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from hrl_autoscaler.tools.argtypes import integer


def _say(message: str) -> None:
    print(message, flush=True)


def add_parser(sub: Any) -> None:
    """Register ``kafka`` under ``hrl-autoscaler dev`` (``sub``: its subparsers)."""
    from hrl_autoscaler.tools.devenv.kafka.broker import KafkaSettings
    from hrl_autoscaler.tools.devenv.kafka.jars import KafkaDistribution

    d = KafkaSettings.__dataclass_fields__
    kafka = sub.add_parser(
        "kafka",
        help="run a single-node Kafka broker (KRaft) in the foreground until Ctrl-C",
        description=f"Run Apache Kafka {KafkaDistribution().version} (jars fetched once from "
        "Maven Central with mvn) as one KRaft broker, print its bootstrap address, and stop it "
        "on Ctrl-C or SIGTERM. For pods on the local node: --listen 0.0.0.0 --advertise "
        "$(hostname -I | cut -d' ' -f1).",
    )
    kafka.add_argument("--listen", default=d["listen_host"].default, help="address to bind")
    kafka.add_argument(
        "--port", type=integer(0, 65535), default=9092, help="client port (0 = any free)"
    )
    kafka.add_argument(
        "--advertise",
        default=None,
        help="host clients are told to connect to (default: --listen; required with 0.0.0.0)",
    )
    kafka.add_argument("--data-dir", type=Path, help="default: a temporary directory")
    kafka.add_argument(
        "--partitions",
        type=integer(1),
        default=d["num_partitions"].default,
        help="partitions of auto-created topics (default: %(default)s)",
    )
    kafka.add_argument(
        "--topic",
        action="append",
        default=[],
        metavar="NAME",
        help="create this topic with --partitions partitions (repeatable)",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``hrl-autoscaler dev kafka``."""
    from hrl_autoscaler.tools.devenv.kafka.broker import (
        KafkaBroker,
        KafkaBrokerError,
        KafkaSettings,
    )
    from hrl_autoscaler.tools.devenv.kafka.jars import KafkaJarsError

    try:
        settings = KafkaSettings(
            listen_host=args.listen,
            port=args.port,
            advertised_host=args.advertise,
            data_dir=args.data_dir,
            num_partitions=args.partitions,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def _on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, _on_signal)
    broker = KafkaBroker(settings)
    try:
        broker.start()
        if args.topic:
            broker.create_topics(dict.fromkeys(args.topic, args.partitions))
        _say(f"bootstrap: {broker.bootstrap}")
        _say(f"log:       {broker.log_path}")
        _say("Ctrl-C to stop")
        stop.wait()
        return 0
    except (KafkaJarsError, KafkaBrokerError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    finally:
        broker.stop()
        signal.signal(signal.SIGTERM, previous)


__all__ = ["add_parser", "run"]
