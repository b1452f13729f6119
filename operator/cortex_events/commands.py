"""The tool commands beside ``run``, ``demo``, ``check`` and ``fake-cortex``: ``kubeconfig``
(the chart's identity for a run outside the cluster) and ``events`` (what was recorded)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any


def add_tool_commands(commands: Any) -> None:
    """Add the commands to ``commands``, the parser's subparsers."""
    kubeconfig = commands.add_parser(
        "kubeconfig",
        help="a kubeconfig with a token of the chart's ServiceAccount, to run outside the cluster",
        description="Write a kubeconfig that acts as the chart's ServiceAccount (TokenRequest, "
        "with your own kubeconfig) and print the chart's settings as export lines: "
        'eval "$(cortex-events kubeconfig -n NAMESPACE)"',
    )
    kubeconfig.add_argument(
        "-n", "--namespace", required=True, help="the namespace the chart is installed in"
    )
    kubeconfig.add_argument(
        "--serviceaccount",
        metavar="NAME",
        help="the ServiceAccount (default: the one of the chart's Deployment in the namespace)",
    )
    kubeconfig.add_argument(
        "--duration", default="12h", help="how long the token is valid (default 12h)"
    )
    kubeconfig.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("cortex-events.kubeconfig"),
        metavar="FILE",
        help="where to write it (default ./cortex-events.kubeconfig, mode 0600)",
    )


def _kubeconfig(args: argparse.Namespace) -> int:
    from cortex_events.cli import CommandError
    from cortex_events.kubeconfig import KubeconfigError, write_kubeconfig

    try:
        return write_kubeconfig(args.namespace, args.serviceaccount, args.duration, args.output)
    except KubeconfigError as error:
        raise CommandError(str(error)) from None
    except OSError as error:
        raise CommandError(f"cannot write {args.output}: {error.strerror}") from None


TOOL_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "kubeconfig": _kubeconfig,
}
