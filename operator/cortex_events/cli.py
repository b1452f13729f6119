"""The ``cortex-events`` console command.

Every mistake a user can make here ends in one line on stderr and a non-zero exit, never a
traceback: a bad flag, a missing key, an unreachable cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from cortex_events import __version__
from cortex_events.commands.flags import (
    CONNECTION_FLAGS,
    RUN_FLAGS,
    CommandError,
    MissingKey,
    UsageError,
    add_settings_flags,
    load_settings,
)
from cortex_events.commands.tools import TOOL_COMMANDS, add_tool_commands

EXIT_USAGE = 2
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130
SIMULATOR = "cortex_events_sim"
NO_SIMULATOR = (
    f"this install has no simulator ({SIMULATOR}): the operator's image runs the operator only; "
    "demo and fake-cortex run from the package installed with pip, or the fake-cortex image"
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cortex-events",
        description="Record Kubernetes workload lifecycle changes as Cortex custom events.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = commands.add_parser("run", help="run the operator against the current cluster")
    run.add_argument("--dry-run", action="store_true", default=None, help="send nothing to Cortex")
    run.add_argument("--log-format", choices=["json", "text"], help="log line format")
    run.add_argument(
        "--log-level",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level",
    )
    add_settings_flags(run, CONNECTION_FLAGS + RUN_FLAGS)

    demo = commands.add_parser(
        "demo", help="run the operator against a simulated cluster and Cortex (no cluster, no key)"
    )
    demo.add_argument("--keep", action="store_true", help="keep running after the scenario")

    check = commands.add_parser("check", help="verify the configuration end to end")
    add_settings_flags(check)

    fake = commands.add_parser("fake-cortex", help="serve the Cortex custom-events emulator")
    fake.add_argument("--port", type=int, required=True, help="port to listen on")
    fake.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    fake.add_argument("--api-key", help="the only Bearer key accepted")
    fake.add_argument(
        "--entity", action="append", metavar="TAG", help="an existing entity tag (repeatable)"
    )
    fake.add_argument("--rate-limit", type=int, metavar="PER_MIN", help="requests per minute")
    fake.add_argument(
        "--descriptor",
        action="append",
        metavar="FILE",
        help="entity descriptors for the catalog, YAML or JSON (repeatable)",
    )
    add_tool_commands(commands)
    return parser


def _run(args: argparse.Namespace) -> int:
    import kopf

    from cortex_events.app import OperatorApp
    from cortex_events.config.secret import Redactor
    from cortex_events.kube.client import allow_api_json_depth, check_cluster
    from cortex_events.ops.health import ListenError
    from cortex_events.ops.logconfig import CREDENTIALS_REFUSED, configure_logging

    settings = load_settings(args)
    allow_api_json_depth()
    secrets = Redactor([settings.api_key.get_secret_value()] if settings.api_key else [])
    configure_logging(level=settings.log_level, fmt=settings.log_format, secrets=secrets)
    problem = check_cluster()
    if problem:
        raise CommandError(problem)
    # One redactor for the logs and the app: a key read again from its file joins both.
    app = OperatorApp(settings, secrets=secrets)
    try:
        asyncio.run(app.run())
    except ListenError as error:
        raise CommandError(str(error)) from None
    except kopf.LoginError:
        raise CommandError(CREDENTIALS_REFUSED[0].lower() + CREDENTIALS_REFUSED[1:]) from None
    # Ctrl-C interrupts a run: a non-zero status, as a shell expects. SIGTERM is how Kubernetes
    # (or a service manager) asks for a stop: a clean stop exits 0.
    interrupts = app.interrupts
    return EXIT_INTERRUPTED if interrupts and interrupts.received == signal.SIGINT else 0


def _without_simulator(missing: ModuleNotFoundError) -> Exception:
    """What to raise for ``missing``: one line where the simulator is not installed (the
    operator's image), the error itself where something else is missing."""
    return CommandError(NO_SIMULATOR) if missing.name == SIMULATOR else missing


def _demo(args: argparse.Namespace) -> int:
    try:
        from cortex_events_sim.demo import run_demo
    except ModuleNotFoundError as missing:
        raise _without_simulator(missing) from None

    return run_demo(keep=args.keep)


def _check(args: argparse.Namespace) -> int:
    from cortex_events.commands.check import run_check
    from cortex_events.kube.client import allow_api_json_depth

    allow_api_json_depth()
    # The table is the output: a library's warning (a retry) must not print above it.
    logging.getLogger().addHandler(logging.NullHandler())
    try:
        settings = load_settings(args)
    except MissingKey as missing:
        # The Kubernetes side is worth checking without a key; the Cortex rows say why not.
        return run_check(load_settings(args, dry_run=True), no_key=str(missing))
    return run_check(settings)


def _fake_cortex(args: argparse.Namespace) -> int:
    try:
        from cortex_events_sim.fake_cortex import serve
        from cortex_events_sim.fake_cortex.descriptors import read_descriptor_files
    except ModuleNotFoundError as missing:
        raise _without_simulator(missing) from None

    if not 0 < args.port < 65536:
        raise UsageError(f"--port must be between 1 and 65535 (got {args.port})")
    try:
        descriptors = read_descriptor_files(args.descriptor or [])
    except ValueError as error:
        raise UsageError(str(error)) from None
    return serve(
        args.port,
        host=args.host,
        api_key=args.api_key,
        entities=args.entity,
        rate_limit=args.rate_limit,
        descriptors=descriptors,
    )


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": _run,
    "demo": _demo,
    "check": _check,
    "fake-cortex": _fake_cortex,
    **TOOL_COMMANDS,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return COMMANDS[args.command](args)
    except UsageError as error:
        print(f"cortex-events: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except CommandError as error:
        print(f"cortex-events: error: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
