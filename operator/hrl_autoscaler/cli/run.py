"""``hrl-autoscaler run``: the operator's command line (flags override the config file)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from pydantic import ValidationError

DESCRIPTION = (
    "Watch SparkApplications labelled hrl-autoscaler.io/enabled=true, decide "
    "their executor counts from Prometheus metrics every decision interval (PPO + "
    "guardrails, DS2 fallback), retune reward weights every meta interval (TD3), and "
    "report with events, a state ConfigMap per application and /metrics. Settings: "
    "defaults < --config YAML < HRL_AUTOSCALER_* environment < flags."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="YAML settings file (keys: the fields of OperatorSettings in "
        "hrl_autoscaler/config/operator.py); also $HRL_AUTOSCALER_CONFIG",
    )
    parser.add_argument("--kubeconfig", type=Path, help="default: in-cluster, else $KUBECONFIG")
    parser.add_argument(
        "--prometheus-url", help="Prometheus base URL (default http://localhost:9090)"
    )
    parser.add_argument(
        "--namespace",
        action="append",
        dest="namespaces",
        metavar="NS",
        help="watch this namespace (repeatable; default: all)",
    )
    parser.add_argument("--decision-interval", type=float, metavar="S", help="fast loop period, s")
    parser.add_argument("--meta-interval", type=float, metavar="S", help="slow loop period, s")
    parser.add_argument("--policies", type=Path, metavar="DIR", help="policy artifacts directory")
    parser.add_argument("--http-port", type=int, help="/metrics and /healthz port (0 = any free)")
    parser.add_argument("--port-file", type=Path, help="write the bound HTTP port here")
    parser.add_argument(
        "--peering",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="kopf peering between replicas (needs manifests/peering.yaml); default off",
    )
    parser.add_argument(
        "--peering-priority", type=int, help="this replica's priority (default random)"
    )
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    # kopf logs every watch event and httpx every query at INFO; our loggers say what matters.
    if level != "DEBUG":
        for noisy in ("kopf", "aiohttp.access", "httpx", "httpcore"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def run(args: argparse.Namespace) -> int:
    from hrl_autoscaler.config import load_operator_settings

    try:
        settings = load_operator_settings(
            args.config,
            kubeconfig=args.kubeconfig,
            prometheus_url=args.prometheus_url,
            namespaces=tuple(args.namespaces) if args.namespaces else None,
            decision_interval_s=args.decision_interval,
            meta_interval_s=args.meta_interval,
            policies_dir=args.policies,
            http_port=args.http_port,
            peering=args.peering,
            peering_priority=args.peering_priority,
            log_level=args.log_level,
        )
    except (ValidationError, ValueError) as exc:
        print(f"hrl-autoscaler run: invalid settings: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    try:
        from hrl_autoscaler.runtime.handlers import run as run_operator
    except ImportError as exc:
        print(f"the operator needs the [k8s] extra (kopf, kubernetes): {exc}", file=sys.stderr)
        return 2
    return run_operator(settings, args.port_file)
