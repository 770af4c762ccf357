"""``hrl-autoscaler explain [NAMESPACE/]NAME``: one application's settings, their origins, and
its recent decisions, weights, holds, fallbacks and budget share.

Also ``kubectl hrl-autoscaler explain`` once the ``kubectl-hrl_autoscaler`` script (same CLI) is
on the PATH: kubectl runs ``kubectl-hrl_autoscaler`` for ``kubectl hrl-autoscaler``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

DESCRIPTION = (
    "Explain one SparkApplication managed by hrl-autoscaler: each setting in force and where it "
    "came from (built-in default, the operator's config, or an annotation; rejected annotations "
    "with the values accepted), the last decisions with their metrics and reasons, the weights' "
    "history, holds and fallbacks, and its ExecutorBudget share. Reads the application, its "
    "state ConfigMap hrl-autoscaler-state-NAME, its Events and the ExecutorBudgets; writes "
    "nothing. Exit code 2 when the application does not exist, is not managed, or the API "
    "server is unreachable."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.add_argument("app", metavar="[NAMESPACE/]NAME", help="the SparkApplication")
    parser.add_argument(
        "-n",
        "--namespace",
        help="its namespace when NAME has none (default: the kubeconfig context's)",
    )
    parser.add_argument(
        "-o",
        "--output",
        choices=["table", "json"],
        default="table",
        help="table (default) or json (stable keys, for scripts)",
    )
    parser.add_argument("--kubeconfig", type=Path, help="default: in-cluster, else $KUBECONFIG")
    parser.add_argument("--context", help="the kubeconfig context to use (default: current)")
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="the operator's settings file, read as `hrl-autoscaler run --config` reads it "
        "(with the HRL_AUTOSCALER_* environment); also $HRL_AUTOSCALER_CONFIG. Default: the "
        "chart's ConfigMap (labelled app.kubernetes.io/part-of=spark-hrl-autoscaler), else the "
        "built-in defaults",
    )
    parser.add_argument(
        "--operator-configmap",
        metavar="[NS/]NAME",
        help="the chart's settings ConfigMap to read (default: found by its labels)",
    )


def _split(app: str, namespace: str | None) -> tuple[str | None, str]:
    if app.count("/") > 1 or not app.strip("/"):
        raise ValueError(f"{app!r} is not [NAMESPACE/]NAME")
    if "/" in app:
        ns, name = app.split("/")
        if not ns or not name:
            raise ValueError(f"{app!r} is not [NAMESPACE/]NAME")
        return ns, name
    return namespace, app


def run(args: argparse.Namespace) -> int:
    from rich.markup import escape

    from hrl_autoscaler.cli.common import console, out
    from hrl_autoscaler.config.operator import CONFIG_FILE_ENV

    try:
        from hrl_autoscaler.runtime.k8s.client import close_client
        from hrl_autoscaler.tools.explain import opconfig
        from hrl_autoscaler.tools.explain.assemble import explain
        from hrl_autoscaler.tools.explain.gather import (
            ExplainError,
            connect,
            default_namespace,
            gather,
        )
        from hrl_autoscaler.tools.explain.render import render, to_json
    except ImportError as exc:
        print(f"explain needs the [k8s] extra (kubernetes): {exc}", file=sys.stderr)
        return 2

    namespace, name = _split(args.app, args.namespace)
    from_file = args.config is not None or bool(os.environ.get(CONFIG_FILE_ENV))
    try:
        operator = opconfig.from_file(args.config) if from_file else None
        if namespace is None:
            namespace = default_namespace(args.kubeconfig, args.context)
        api = connect(args.kubeconfig, args.context)
        try:
            found = gather(
                api,
                namespace,
                name,
                operator_configmap=args.operator_configmap,
                discover_config=operator is None,
            )
        finally:
            close_client(api)
        if operator is None:
            if found.operator_config is not None:
                operator = opconfig.from_configmap(*found.operator_config)
            else:
                operator = opconfig.built_in(
                    "built-in defaults only (no --config, no chart ConfigMap found: the "
                    "operator may run with other defaults)"
                )
    except ExplainError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True, highlight=False)
        return 2
    explanation = explain(found, operator)
    if args.output == "json":
        print(to_json(explanation))
    else:
        render(explanation, out)
    return 0


def kubectl_main() -> int:
    """``kubectl-hrl_autoscaler``: kubectl's plugin name for ``kubectl hrl-autoscaler ...``;
    the same subcommands as ``hrl-autoscaler``."""
    from hrl_autoscaler.cli import main

    return main(sys.argv[1:])
