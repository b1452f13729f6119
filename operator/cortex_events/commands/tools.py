"""The tool commands beside ``run``, ``demo``, ``check`` and ``fake-cortex``: ``kubeconfig``
(the chart's identity for a run outside the cluster) and ``events`` (what was recorded)."""

from __future__ import annotations

import argparse
import logging
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
    add_events_command(commands)


def add_events_command(commands: Any) -> None:
    from cortex_events.commands.flags import add_settings_flags

    events = commands.add_parser(
        "events",
        help="list what this operator recorded in Cortex (events and deploys)",
        description="List the custom events and deploys this operator recorded in Cortex for "
        "this cluster, oldest first, through the operator's client and rate limit. Without "
        "--tag, every entity the cluster names (CortexEntity tags, cortex.io/tag values).",
    )
    events.add_argument(
        "--tag", action="append", default=[], metavar="TAG", help="an entity (repeatable)"
    )
    events.add_argument(
        "--type", action="append", default=[], metavar="TYPE",
        help="an event or deploy type, e.g. POD_FAILURE or DEPLOY (repeatable)",
    )  # fmt: skip
    events.add_argument(
        "--since", metavar="WHEN", help="30m, 2h, 7d ago, or an ISO-8601 time (default: all)"
    )
    events.add_argument(
        "--limit", type=int, default=50, metavar="N", help="the last N (default 50; 0: all)"
    )
    add_settings_flags(events)


def _events(args: argparse.Namespace) -> int:
    from cortex_events.commands.check import tags_in_use
    from cortex_events.commands.events import ListingError, list_recorded
    from cortex_events.commands.flags import CommandError, UsageError, load_settings
    from cortex_events.kube.client import allow_api_json_depth

    allow_api_json_depth()  # CortexEntities are read: one nested deep must not stop it
    logging.getLogger().addHandler(logging.NullHandler())  # the table is the output
    settings = load_settings(args)
    tags = args.tag
    if not tags:
        try:
            tags = tags_in_use(settings)
        except RuntimeError as error:
            raise CommandError(f"{error} (name the entities with --tag)") from None
    try:
        return list_recorded(settings, tags, types=args.type, since=args.since, limit=args.limit)
    except ListingError as error:
        raise UsageError(str(error)) from None


def _kubeconfig(args: argparse.Namespace) -> int:
    from cortex_events.commands.flags import CommandError
    from cortex_events.commands.kubeconfig import KubeconfigError, write_kubeconfig

    try:
        return write_kubeconfig(args.namespace, args.serviceaccount, args.duration, args.output)
    except KubeconfigError as error:
        raise CommandError(str(error)) from None
    except OSError as error:
        raise CommandError(f"cannot write {args.output}: {error.strerror}") from None


TOOL_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "kubeconfig": _kubeconfig,
    "events": _events,
}
