"""``hrl-autoscaler dev``: build, start, inspect and stop the local control plane.

The subcommands work across processes: ``up`` starts daemonised processes and records them in
the state directory; ``status`` and ``down`` read that record later, from any shell.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from hrl_autoscaler.tools.devenv import binaries as bins
from hrl_autoscaler.tools.devenv.binaries import default_state_dir
from hrl_autoscaler.tools.devenv.gorunner import BuildError
from hrl_autoscaler.tools.devenv.images import cli as image_cli
from hrl_autoscaler.tools.devenv.kafka import command as kafka_cli

if TYPE_CHECKING:  # the kubernetes client loads only when a subcommand runs, never for --help
    from hrl_autoscaler.tools.devenv.session import DevEnvState

DESCRIPTION = """\
A real Kubernetes API (kube-apiserver + etcd, no nodes) and a real Prometheus on 127.0.0.1,
for running the operator, the demo and the e2e tests without a cluster or Docker.

  build    build kube-apiserver, etcd, helm, kubectl and actionlint once (Go module proxy; minutes)
  up       start everything in the background and print KUBECONFIG and the Prometheus URL
  status   show whether each process is alive and ready
  down     stop everything that `up` started
"""


def _say(message: str) -> None:
    print(message, flush=True)


def _state_dir_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help=f"where state.json, logs, certificates and the kubeconfig live "
        f"(default: {default_state_dir()})",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The subcommands of ``hrl-autoscaler dev``."""
    parser.description = DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    sub = parser.add_subparsers(dest="dev_command", required=True, metavar="COMMAND")

    sub.add_parser(
        "build",
        help="build the control-plane binaries once (cached by version)",
        description=f"Build kube-apiserver {bins.KUBERNETES_VERSION}, etcd {bins.ETCD_VERSION}, "
        f"helm {bins.HELM_VERSION}, kubectl {bins.KUBERNETES_VERSION} and actionlint "
        f"{bins.ACTIONLINT_VERSION} (the workflow lint), and the node's kubelet, "
        f"kube-controller-manager, kube-scheduler, kube-proxy and CoreDNS "
        f"{bins.COREDNS_VERSION} with Go into "
        f"{bins.bin_dir()} (skipped when cached), and "
        f"check that Prometheus ({bins.PROMETHEUS_BINARY}) is installed.",
    )

    up = sub.add_parser(
        "up",
        help="start etcd, kube-apiserver and Prometheus (optionally a node, Kafka) in the "
        "background",
        description="Start the local control plane in the background, apply CRDs, and print "
        "the kubeconfig path and Prometheus URL. Builds missing binaries first.",
    )
    _state_dir_arg(up)
    up.add_argument(
        "--crds",
        type=Path,
        action="append",
        default=None,
        metavar="PATH",
        help="CRD file or directory to apply (repeatable; default: the project's "
        "manifests/crds/ when run from a checkout)",
    )
    up.add_argument("--no-prometheus", action="store_true", help="start without Prometheus")
    up.add_argument(
        "--node",
        action="store_true",
        help="also run one real node on this machine (root): kube-controller-manager, "
        "kube-scheduler, containerd, kubelet, kube-proxy, CNI and CoreDNS",
    )
    up.add_argument(
        "--kafka",
        action="store_true",
        help="also run a single-node Kafka broker (KRaft; jars fetched once with mvn) for the "
        "load generator and the IoT job; with --node it listens on the address pods reach",
    )
    up.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for readiness (default 60)"
    )

    status = sub.add_parser(
        "status",
        help="show the recorded processes and whether they are alive and ready",
        description="Exit code 0 when every recorded process is alive and ready, 1 otherwise.",
    )
    _state_dir_arg(status)
    status.add_argument("--json", action="store_true", help="print machine-readable JSON")

    down = sub.add_parser("down", help="stop everything `up` started and delete its data")
    _state_dir_arg(down)
    image_cli.add_parser(sub)
    kafka_cli.add_parser(sub)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m hrl_autoscaler.tools.devenv``: ``hrl-autoscaler dev``'s."""
    parser = argparse.ArgumentParser(
        prog="hrl-autoscaler dev",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return parser


def _cmd_build() -> int:
    found = bins.ensure_binaries(_say, require_prometheus=False)
    for name, path in asdict(found).items():
        if name != "prometheus":
            _say(f"{name}: {path}")
    for name, path in bins.find_node_binaries().items():
        _say(f"{name}: {path}")
    try:
        _say(f"prometheus: {bins.find_prometheus()}")
    except bins.BinaryMissingError as exc:
        _say(f"warning: {exc}")
    return 0


def _print_endpoints(state: DevEnvState) -> None:
    _say(f"kubeconfig:  {state.kubeconfig}")
    _say(f"api server:  {state.api_url}")
    _say(f"prometheus:  {state.prometheus_url or '(not started)'}")
    _say(f"logs:        {Path(state.state_dir) / 'logs'}")
    if state.kafka_bootstrap:
        _say(f"kafka:       {state.kafka_bootstrap}")
    if state.node:
        _say(f"node:        {state.node['node_name']}")
        _say(f"containerd:  {state.node['containerd_address']} (ctr -n k8s.io images import ...)")
    _say(f"export KUBECONFIG={state.kubeconfig}")


def _cmd_up(args: argparse.Namespace, state_dir: Path) -> int:
    from hrl_autoscaler.tools.devenv.crds import project_crd_dir
    from hrl_autoscaler.tools.devenv.recorded import component_status, stop_recorded
    from hrl_autoscaler.tools.devenv.session import DevEnv, load_state

    existing = load_state(state_dir)
    if existing is not None:
        statuses = component_status(existing)
        if all(s.alive for s in statuses):
            _say("already up")
            _print_endpoints(existing)
            return 0
        _say("a previous run left a partial state; cleaning it up")
        for line in stop_recorded(state_dir):
            _say(f"  {line}")
    crds = args.crds
    if crds is None:
        default = project_crd_dir()
        crds = [default] if default is not None else []
        if default is None:
            _say("no CRDs applied (no manifests/crds/ found; pass --crds)")
    env = DevEnv(
        state_dir,
        crds=crds,
        prometheus=not args.no_prometheus,
        build=True,
        daemon=True,
        ready_timeout=args.timeout,
        progress=_say,
        node=args.node,
        kafka=args.kafka,
    )
    env.start()
    assert env.state is not None
    _say(f"up in {env.state.ready_seconds:.1f}s")
    _print_endpoints(env.state)
    return 0


def _cmd_status(args: argparse.Namespace, state_dir: Path) -> int:
    from hrl_autoscaler.tools.devenv.recorded import component_status
    from hrl_autoscaler.tools.devenv.session import load_state

    state = load_state(state_dir)
    if state is None:
        if args.json:
            _say(json.dumps({"running": False, "state_dir": str(state_dir)}))
        else:
            _say(f"not running (no {state_dir / 'state.json'})")
        return 1
    statuses = component_status(state)
    healthy = all(s.alive and s.ready for s in statuses)
    if args.json:
        payload = {
            "running": healthy,
            "kubeconfig": state.kubeconfig,
            "api_url": state.api_url,
            "prometheus_url": state.prometheus_url,
            "kafka_bootstrap": state.kafka_bootstrap,
            "components": [asdict(s) for s in statuses],
        }
        _say(json.dumps(payload, indent=2))
        return 0 if healthy else 1
    _print_endpoints(state)
    for s in statuses:
        condition = "ready" if s.ready else ("alive, not ready" if s.alive else "NOT RUNNING")
        _say(f"{s.name:<15} pid {s.pid:<8} {condition}")
    return 0 if healthy else 1


def _cmd_down(state_dir: Path) -> int:
    from hrl_autoscaler.tools.devenv.processes import ManagedProcess
    from hrl_autoscaler.tools.devenv.recorded import stop_recorded
    from hrl_autoscaler.tools.devenv.session import load_state

    state = load_state(state_dir)
    if state is not None and state.node:
        # The node first, and its mounts and rules swept before the data dir is deleted.
        from hrl_autoscaler.tools.devenv.node.localnode import NODE_PROCESSES
        from hrl_autoscaler.tools.devenv.node.teardown import teardown_recorded

        for record in reversed(state.processes):
            if record.name in NODE_PROCESSES and record.alive():
                ManagedProcess.attach(record).stop()
        left = teardown_recorded(state.node)
        _say("node stopped and swept" + ("" if left.empty() else f"; left behind: {left}"))
    done = stop_recorded(state_dir)
    if not done:
        _say("nothing to stop")
    for line in done:
        _say(line)
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the parsed ``hrl-autoscaler dev`` (or ``python -m hrl_autoscaler.tools.devenv``)."""
    state_dir: Path = getattr(args, "state_dir", None) or default_state_dir()
    if args.dev_command == "image":
        return image_cli.run(args)
    if args.dev_command == "kafka":
        return kafka_cli.run(args)
    if args.dev_command != "build":
        try:
            import hrl_autoscaler.tools.devenv.session  # noqa: F401  (the kubernetes client)
        except ImportError as exc:
            raise SystemExit(f"the local control plane needs the [k8s] extra: {exc}") from None
    try:
        if args.dev_command == "build":
            return _cmd_build()
        if args.dev_command == "up":
            return _cmd_up(args, state_dir)
        if args.dev_command == "status":
            return _cmd_status(args, state_dir)
        return _cmd_down(state_dir)
    except (bins.BinaryMissingError, BuildError, RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m hrl_autoscaler.tools.devenv`` (the Makefile builds with it)."""
    return run(build_parser().parse_args(argv))
