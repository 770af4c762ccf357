"""``hrl-autoscaler kafka-lag-exporter``: serve consumer-group lag for Prometheus.

Runs until SIGTERM or Ctrl-C. Kafka is read on each scrape (see :mod:`.exporter`), so the
scrape interval is the read interval and an idle exporter costs nothing.
"""

from __future__ import annotations

import argparse
import logging
import re
import signal
import threading
from types import FrameType

from hrl_autoscaler.tools.argtypes import integer
from hrl_autoscaler.tools.kafka_lag.reader import KAFKA_CLIENT

DESCRIPTION = """\
Export Kafka consumer-group lag for Prometheus, under the names KMinion uses:

  kafka_consumergroup_group_lag{group, topic[, namespace]}   records behind the log end
  kafka_consumergroup_group_offset{group, topic[, namespace]} committed offsets (sum)
  kafka_topic_partition_high_water_mark{topic, partition}    log-end offsets
  kafka_lag_exporter_up, kafka_lag_exporter_errors_total     the exporter's health

The operator's backlog query is `sum by (namespace, group) (kafka_consumergroup_group_lag)`
with group = the SparkApplication's name (the IoT job commits under its app name), so pass
--namespace with the applications' namespace. When Kafka does not answer, the lag series are
left out of the scrape (never stale values) and the error counter goes up.

Example:
  hrl-autoscaler kafka-lag-exporter --bootstrap 127.0.0.1:9092 --namespace spark-apps --port 9308
"""

_GROUP = re.compile(r"[A-Za-z0-9._-]{1,249}")


def _bootstrap(text: str) -> str:
    servers = [s.strip() for s in text.split(",") if s.strip()]
    if not servers or any(not re.fullmatch(r"[^:\s]+:\d{1,5}", s) for s in servers):
        raise argparse.ArgumentTypeError(f"must be HOST:PORT[,HOST:PORT...], got {text!r}")
    return ",".join(servers)


def _group(text: str) -> str:
    if not _GROUP.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"must be 1-249 letters, digits, '.', '_' or '-', got {text!r}"
        )
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--bootstrap", required=True, type=_bootstrap, help="Kafka bootstrap servers HOST:PORT"
    )
    parser.add_argument(
        "--group",
        action="append",
        type=_group,
        default=[],
        help="consumer group to export (repeatable; default: every group on the cluster)",
    )
    parser.add_argument(
        "--namespace", help="value of a `namespace` label on the lag series (the apps' namespace)"
    )
    parser.add_argument(
        "--port", type=integer(0, 65535), default=9308, help="HTTP port (default: %(default)s)"
    )
    parser.add_argument(
        "--listen",
        default="0.0.0.0",  # noqa: S104 - Prometheus scrapes the exporter from outside
        help="address to bind (default: %(default)s)",
    )
    parser.add_argument(
        "--request-timeout-ms",
        type=integer(100),
        default=5000,
        help="Kafka request timeout, ms: bounds a scrape when Kafka is down (default: %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    from prometheus_client import start_http_server

    from hrl_autoscaler.tools.kafka_lag.exporter import build_registry
    from hrl_autoscaler.tools.kafka_lag.reader import kafka_admin

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        import kafka  # noqa: F401  (fail fast, before serving, when the extra is missing)
    except ImportError:
        raise ValueError(f"kafka-lag-exporter needs the [kafka] extra ({KAFKA_CLIENT})") from None
    registry, collector = build_registry(
        lambda: kafka_admin(args.bootstrap, args.request_timeout_ms),
        args.group,
        args.namespace,
    )
    try:
        server, _thread = start_http_server(args.port, addr=args.listen, registry=registry)
    except OSError as exc:
        raise ValueError(f"--port {args.port}: cannot listen on {args.listen}: {exc}") from None
    port = server.server_address[1]
    print(
        f"serving consumer-group lag of {args.bootstrap} on http://{args.listen}:{port}/metrics",
        flush=True,
    )
    stop = threading.Event()

    def _on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        collector.close()
    return 0


__all__ = ["DESCRIPTION", "add_arguments", "run"]
