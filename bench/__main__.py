"""``python -m bench``: run the benchmark, print its table, write its JSON.

From the repository root, with the project installed (``.venv/bin/python -m bench``). The full
run takes about six minutes on two cores; ``--smoke`` runs the small configuration (well under
a minute) that the test suite uses. ``--cluster real`` runs the same parts against a real control
plane with kwok nodes (`bench.realcluster`) instead of the Kubernetes API stand-in.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import churn, report, scenarios
from bench.backends import Backend, StandInBackend
from bench.procinfo import machine
from bench.procs import BenchError
from bench.realcluster import DEFAULT_NODES, RealCluster

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "latest.json"
PARTS = ("delivery", "scale")
OPTIONAL_PARTS = ("churn",)


def _scales(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected e.g. 1000,5000,10000, got {text!r}") from None
    if not values or any(v < 1 for v in values) or list(values) != sorted(values):
        raise argparse.ArgumentTypeError("scales must be positive and ascending")
    return values


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a share such as 0.1, got {text!r}") from None
    if not 0 <= value <= 0.5:
        raise argparse.ArgumentTypeError("the share is between 0 and 0.5 (as many again in Jobs)")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the operator against the Kubernetes API stand-in (or a real "
        "control plane) and the Cortex emulator, with kopf baselines; prints a table and "
        "writes JSON.",
    )
    parser.add_argument("--smoke", action="store_true", help="the small, quick configuration")
    parser.add_argument(
        "--cluster",
        choices=("stand-in", "real"),
        default="stand-in",
        help="the project's Kubernetes API stand-in (default), or a real control plane on "
        "loopback with kwok nodes (needs Go; scripts/k8s-assets builds it)",
    )
    parser.add_argument(
        "--nodes",
        type=int,
        default=DEFAULT_NODES,
        help=f"kwok nodes of the real control plane (default {DEFAULT_NODES})",
    )
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results")
    parser.add_argument("--scales", type=_scales, help="pod counts, e.g. 1000,5000,10000")
    parser.add_argument("--entities", type=int, help="Cortex entities the pods spread over")
    parser.add_argument(
        "--owned-share",
        type=_share,
        help="at scale, the share of the operator's pods in Deployments, as many again in "
        "StatefulSets and in Jobs (default 0.1; 0: bare Pods only)",
    )
    parser.add_argument("--budget", type=int, help="the operator's requests a minute")
    parser.add_argument("--backlog", type=int, help="changes in the delivery backlog")
    parser.add_argument("--latency-changes", type=int, help="changes in the latency run")
    parser.add_argument("--no-baselines", action="store_true", help="skip the kopf baselines")
    parser.add_argument(
        "--parts",
        default=",".join(PARTS),
        help="comma-separated subset of: delivery,scale,churn (churn, about 25 minutes, runs "
        "only when named)",
    )
    parser.add_argument(
        "--churn-variants",
        default=",".join(churn.VARIANTS),
        help="the churn part's operators: before (the commit before delivery classes), each, auto",
    )
    parser.add_argument("--workdir", type=Path, help="keep logs and kubeconfigs here")
    return parser


def _config(args: argparse.Namespace) -> scenarios.Config:
    config = scenarios.SMOKE if args.smoke else scenarios.FULL
    changes: dict[str, Any] = {}
    for name, field in (
        ("scales", "scales"),
        ("entities", "entities"),
        ("owned_share", "owned_share"),
        ("budget", "budget"),
        ("backlog", "backlog"),
        ("latency_changes", "latency_changes"),
    ):
        value = getattr(args, name)
        if value is not None:
            changes[field] = value
    if args.no_baselines:
        changes["baselines"] = False
    return dataclasses.replace(config, **changes)


def _load() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def run(
    config: scenarios.Config,
    parts: set[str],
    workdir: Path,
    backend: Backend,
    churn_config: churn.ChurnConfig = churn.FULL,
    variants: tuple[str, ...] = churn.VARIANTS,
) -> dict[str, Any]:
    started = time.monotonic()
    results: dict[str, Any] = {
        "command": "python -m bench " + " ".join(sys.argv[1:]),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "load_average_at_start": _load(),
        "config": config.as_json(),
    }
    writes = 0
    if "delivery" in parts:
        logging.getLogger("bench").info("delivery and latency")
        measured = scenarios.delivery_and_latency(config, workdir, backend)
        results["delivery"] = measured["delivery"]
        results["latency"] = measured["latency"]
        results["delivery_duplicate_events"] = measured["duplicate_events"]
        writes += measured["workload_writes"]
    if "scale" in parts:
        measured = scenarios.scale(config, workdir, backend)
        results.update(measured)
        writes += measured["workload_writes"]["operator"]
    if "churn" in parts:
        results["churn"] = churn.churn(churn_config, workdir, backend, variants)
    results["workload_writes_total"] = writes
    results["ratios"] = report.ratios(results)
    results["targets"] = report.targets(results)
    results["load_average_at_end"] = _load()
    results["duration_seconds"] = round(time.monotonic() - started, 1)
    return results


def _backend(args: argparse.Namespace, workdir: Path) -> Backend:
    if args.cluster == "real":
        logging.getLogger("bench").info("starting a control plane with %d kwok nodes", args.nodes)
        return RealCluster(workdir, nodes=args.nodes, keep=args.workdir is not None).start()
    return StandInBackend()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if not parts or parts - set(PARTS) - set(OPTIONAL_PARTS):
        _parser().error(f"--parts takes a subset of {','.join(PARTS + OPTIONAL_PARTS)}")
    variants = tuple(v.strip() for v in args.churn_variants.split(",") if v.strip())
    if not variants or set(variants) - set(churn.VARIANTS):
        _parser().error(f"--churn-variants takes a subset of {','.join(churn.VARIANTS)}")
    if args.nodes < 1:
        _parser().error("--nodes must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("cortex_events", "cortex_events_sim", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    config = _config(args)
    with tempfile.TemporaryDirectory(prefix="cortex-events-bench-") as scratch:
        workdir = args.workdir or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        backend: Backend | None = None
        try:
            backend = _backend(args, workdir)
            churn_config = churn.SMOKE if args.smoke else churn.FULL
            results = run(config, parts, workdir, backend, churn_config, variants)
        except BenchError as error:
            print(f"benchmark failed: {error}", file=sys.stderr)
            return 1
        finally:
            if backend is not None:
                backend.close()
        if backend is not None:
            results["cluster"] = backend.describe()
        # From the start of the backend (a real control plane's start-up and setup included).
        results["wall_seconds"] = round(time.monotonic() - started, 1)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(report.render(results))
    print(f"\nJSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
