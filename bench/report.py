"""Ratios, targets and the printed table of a benchmark run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

TARGET_RSS_MIB = 120.0
TARGET_RSS_VS_NOOP = 1.6
TARGET_DELIVERY_RATIO = 0.97
TARGET_P99_SECONDS = 0.5
TARGET_CALLS_PER_ENTITY = 3.0
TARGET_FAILURE_P99_SECONDS = 10.0
TARGET_REQUESTS_PER_REPLACED_POD = 0.2
CHURN_NAMES = {
    "before": "before (one queue, an event per Pod)",
    "each": "classes, podEvents each",
    "auto": "classes, podEvents auto",
}


def ratio(ours: float | None, theirs: float | None) -> float | None:
    if ours is None or theirs is None or theirs == 0:
        return None
    return round(ours / theirs, 3)


def ratios(results: dict[str, Any]) -> dict[str, Any]:
    """Each of the operator's figures divided by the baselines' same figure."""
    per_scale = []
    for row in results.get("scale", []):
        ours = row["operator"]
        entry: dict[str, Any] = {"pods": row["pods"]}
        for name in ("noop", "naive"):
            theirs = row.get(name)
            if theirs is None:
                continue
            entry[f"rss_vs_{name}"] = ratio(ours["rss_mib"], theirs["rss_mib"])
            entry[f"cpu_vs_{name}"] = ratio(ours["cpu_seconds"], theirs["cpu_seconds"])
            entry[f"settle_vs_{name}"] = ratio(ours["settle_seconds"], theirs["settle_seconds"])
        per_scale.append(entry)
    out: dict[str, Any] = {"scale": per_scale}
    restart = results.get("restart", {})
    if "operator" in restart and "naive" in restart:
        ours, theirs = restart["operator"], restart["naive"]
        out["restart"] = {
            key: ratio(ours[key], theirs[key])
            for key in ("cortex_calls", "duplicate_posts", "settle_seconds", "rss_mib")
        }
    writes = results.get("workload_writes_per_pod", {})
    if "naive" in writes:
        out["workload_writes_per_pod_vs_naive"] = ratio(writes["operator"], writes["naive"])
    return out


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with the measured value and whether it was met."""
    found: list[dict[str, Any]] = []

    def add(name: str, target: str, value: Any, met: bool | None) -> None:
        found.append({"name": name, "target": target, "value": value, "met": met})

    delivery = results.get("delivery")
    if delivery:
        add(
            "delivery ratio",
            f">= {TARGET_DELIVERY_RATIO}",
            delivery["ratio_to_budget"],
            delivery["ratio_to_budget"] >= TARGET_DELIVERY_RATIO,
        )
        add("self-caused 429s", "0", delivery["self_caused_429"], delivery["self_caused_429"] == 0)
    latency = results.get("latency")
    if latency:
        add(
            "latency p99",
            f"<= {TARGET_P99_SECONDS} s",
            latency["p99_seconds"],
            latency["p99_seconds"] <= TARGET_P99_SECONDS,
        )
    rows = results.get("scale") or []
    if rows:
        last = rows[-1]
        rss = last["operator"]["rss_mib"]
        add(
            f"RSS at {last['pods']} pods",
            f"<= {TARGET_RSS_MIB:g} MiB",
            rss,
            rss <= TARGET_RSS_MIB,
        )
        if "noop" in last:
            versus = ratio(rss, last["noop"]["rss_mib"])
            add(
                f"RSS vs no-op kopf at {last['pods']} pods",
                f"<= {TARGET_RSS_VS_NOOP}x",
                versus,
                versus is not None and versus <= TARGET_RSS_VS_NOOP,
            )
    restart = results.get("restart", {}).get("operator")
    if restart:
        add(
            "restart duplicate POSTs",
            "0",
            restart["duplicate_posts"],
            restart["duplicate_posts"] == 0,
        )
        add(
            "restart Cortex calls per entity",
            f"<= {TARGET_CALLS_PER_ENTITY:g}",
            restart["max_calls_one_entity"],
            restart["max_calls_one_entity"] <= TARGET_CALLS_PER_ENTITY,
        )
    auto = (results.get("churn") or {}).get("auto")
    if auto:
        p99 = auto["failure_latency"]["p99_seconds"]
        add("churn: failure p99", f"<= {TARGET_FAILURE_P99_SECONDS:g} s", p99,
            p99 <= TARGET_FAILURE_P99_SECONDS)  # fmt: skip
        spent = auto["requests_per_replaced_pod"]
        add("churn: requests per replaced Pod", f"<= {TARGET_REQUESTS_PER_REPLACED_POD:g}",
            spent, spent <= TARGET_REQUESTS_PER_REPLACED_POD)  # fmt: skip
        accounted = auto["accounted"]
        wrong = accounted["missing"] + accounted["recorded_twice"]
        add("churn: Pod changes not recorded exactly once", "0", wrong, wrong == 0)
    writes = results.get("workload_writes_total")
    if writes is not None:
        add("workload writes by the operator", "0", writes, writes == 0)
    naive = results.get("workload_writes_per_pod", {}).get("naive")
    if naive is not None:
        add("naive baseline's writes per pod (for contrast)", ">= 1", naive, naive >= 1)
    return found


def _grid(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = []
    for cells in (header, *rows):
        lines.append(
            "  ".join(
                str(c).rjust(w) if i else str(c).ljust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()
        )
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _cluster(cluster: dict[str, Any]) -> list[str]:
    """What the Pods ran on and, for a real control plane, what setting it up took."""
    if cluster.get("kind") != "real":
        return ["Cluster: the Kubernetes API stand-in"] if cluster else []
    versions = cluster.get("versions", {})
    setup = cluster.get("setup", {})
    out = [
        f"Cluster: real control plane on loopback, Kubernetes {versions.get('kubernetes', '?')}, "
        f"kwok {versions.get('kwok', '?')}, {cluster.get('nodes')} kwok nodes; started in "
        f"{_fmt(setup.get('control_plane_start_seconds'), 1)} s, chart and identities in "
        f"{_fmt(setup.get('identities_seconds'), 1)} s; audit log "
        f"{_fmt(cluster.get('audit_log_mib'), 1)} MiB"
    ]
    pods = setup.get("pods") or []
    if pods:
        out += [
            "",
            "Setup: bare Pods, Deployments, StatefulSets and Jobs created through the API "
            "(create s), until every Pod is Running and Ready or, a Job's, completed (running "
            "s); setup s adds kwok's last status writes and reading it all back",
        ]
        out += _grid(
            [
                "namespace",
                "pods before",
                "pods made",
                "Deployments",
                "StatefulSets",
                "Jobs",
                "create s",
                "running s",
                "pods/s",
                "setup s",
            ],
            [
                [
                    row["namespace"],
                    str(row["pods_before"]),
                    str(row["pods_created"]),
                    str(row.get("deployments", 0)),
                    str(row.get("statefulsets", 0)),
                    str(row.get("jobs", 0)),
                    _fmt(row["create_seconds"], 1),
                    _fmt(row["running_seconds"], 1),
                    _fmt(row["pods_per_second"], 1),
                    _fmt(row.get("setup_seconds"), 1),
                ]
                for row in pods
            ],
        )
    return out


def _workloads(row: dict[str, Any]) -> str:
    """What the operator's Pods were at one scale, and the events Cortex held for them."""
    made = row["workloads"]
    owned = made["pods_per_owner"]
    held = ", ".join(f"{n} {kind}" for kind, n in row.get("events_recorded", {}).items())
    return (
        f"   {row['pods']} pods: {made['bare_pods']} bare, {made.get('deployments', 0)} "
        f"Deployments, {made['statefulsets']} StatefulSets and {made['jobs']} Jobs (completed) "
        f"of {owned} pods each; Cortex held {held}"
    )


def render(results: dict[str, Any]) -> str:
    """The human-readable table of a run."""
    out: list[str] = []
    machine = results["machine"]
    out.append(
        f"Machine: {machine['cpus']} CPUs ({machine['cpu_model'] or 'unknown model'}), "
        f"{machine['memory_gib']} GiB; Python {machine['python']}, kopf {machine['kopf']}"
    )
    if "load_average_at_start" in results:
        out.append(
            "Load average (1, 5, 15 min): "
            + " ".join(f"{v:g}" for v in results["load_average_at_start"])
            + " at the start, "
            + " ".join(f"{v:g}" for v in results.get("load_average_at_end", []))
            + " at the end"
        )
    out += _cluster(results.get("cluster") or {})
    delivery = results.get("delivery")
    if delivery:
        out += [
            "",
            f"1. Delivery under backlog (budget {delivery['budget_per_minute']}/min, "
            f"backlog {delivery['backlog']} changes, "
            f"Cortex limit {results['config']['cortex_limit_per_minute']}/min)",
        ]
        out += _grid(
            ["", "events/s", "ratio to budget", "self-caused 429s", "busiest minute (requests)"],
            [
                [
                    "operator",
                    _fmt(delivery["events_per_second"]),
                    _fmt(delivery["ratio_to_budget"], 3),
                    str(delivery["self_caused_429"]),
                    str(delivery["busiest_minute_requests"]),
                ]
            ],
        )
    latency = results.get("latency")
    if latency:
        out += [
            "",
            f"2. Latency, change in the API -> accepted by Cortex "
            f"({latency['changes']} changes at {latency['changes_per_second']:g}/s)",
        ]
        out += _grid(
            ["", "p50 s", "p95 s", "p99 s", "max s"],
            [
                [
                    "operator",
                    _fmt(latency["p50_seconds"], 3),
                    _fmt(latency["p95_seconds"], 3),
                    _fmt(latency["p99_seconds"], 3),
                    _fmt(latency["max_seconds"], 3),
                ]
            ],
        )
    rows = results.get("scale") or []
    if rows:
        out += [
            "",
            f"3. Memory and CPU after the initial listing settles ({rows[0]['entities']} entities)",
        ]
        out += [_workloads(row) for row in rows if "workloads" in row]
        grid_rows = []
        by_pods = {r["pods"]: r for r in results.get("ratios", {}).get("scale", [])}
        for row in rows:
            for name in ("operator", "noop", "naive"):
                if name not in row:
                    continue
                figures = row[name]
                versus = by_pods.get(row["pods"], {})
                grid_rows.append(
                    [
                        str(row["pods"]) if name == "operator" else "",
                        {"operator": "operator", "noop": "no-op kopf", "naive": "naive kopf"}[name],
                        _fmt(figures["rss_mib"], 1),
                        _fmt(figures["peak_rss_mib"], 1),
                        _fmt(figures["cpu_seconds"]),
                        _fmt(figures["settle_seconds"], 1),
                        _fmt(versus.get("rss_vs_noop")) if name == "operator" else "",
                        _fmt(versus.get("rss_vs_naive")) if name == "operator" else "",
                        _fmt(versus.get("cpu_vs_noop")) if name == "operator" else "",
                    ]
                )
        out += _grid(
            [
                "pods",
                "",
                "RSS MiB",
                "peak MiB",
                "CPU s",
                "settle s",
                "RSS/no-op",
                "RSS/naive",
                "CPU/no-op",
            ],
            grid_rows,
        )
    restart = results.get("restart") or {}
    if "operator" in restart:
        out += ["", f"4. Restart with {restart['pods']} pods recorded"]
        grid_rows = []
        for name in ("operator", "naive"):
            figures = restart.get(name)
            if figures is None:
                continue
            grid_rows.append(
                [
                    {"operator": "operator", "naive": "naive kopf"}[name],
                    str(figures["cortex_calls"]),
                    _fmt(figures["calls_per_entity"]),
                    str(figures["max_calls_one_entity"]),
                    str(figures["duplicate_posts"]),
                    str(figures.get("workload_writes", 0)),
                    _fmt(figures["settle_seconds"], 1),
                ]
            )
        out += _grid(
            [
                "",
                "Cortex calls",
                "per entity",
                "max one entity",
                "duplicate POSTs",
                "workload writes",
                "settle s",
            ],
            grid_rows,
        )
    writes = results.get("workload_writes_per_pod") or {}
    if writes:
        out += [
            "",
            "5. Workload writes per pod over the whole run: "
            + ", ".join(f"{name} {value:g}" for name, value in writes.items()),
        ]
    out += _churn(results.get("churn") or {})
    if "wall_seconds" in results:
        out += ["", f"Wall time: {results['wall_seconds']:g} s, setup included"]
    found = results.get("targets") or []
    if found:
        out += ["", "Targets"]
        out += _grid(
            ["", "target", "measured", "met"],
            [
                [
                    t["name"],
                    t["target"],
                    _fmt(t["value"], 3),
                    {True: "yes", False: "NO", None: "-"}[t["met"]],
                ]
                for t in found
            ],
        )
    return "\n".join(out)


def _churn(churn: dict[str, Any]) -> list[str]:
    variants = [name for name in CHURN_NAMES if name in churn]
    if not variants:
        return []
    config = churn["config"]
    out = [
        "",
        f"6. Churn: {config['replaced_pods']} Pods replaced at once ({config['deployments']} "
        f"Deployments x {config['replicas']}), {config['failures']} failures and "
        f"{config['rollouts']} rollout starts {config['during_seconds']:g} s into it, budget "
        f"{config['budget_per_minute']}/min",
    ]
    rows = []
    for name in variants:
        run = churn[name]
        failure, rollout, accounted = (
            run["failure_latency"],
            run["rollout_latency"],
            run["accounted"],
        )
        rows.append(
            [
                CHURN_NAMES[name],
                *(_fmt(failure[k], 1) for k in ("p50_seconds", "p99_seconds", "max_seconds")),
                *(_fmt(rollout[k], 1) for k in ("p50_seconds", "p99_seconds", "max_seconds")),
                _fmt(run["requests_per_replaced_pod"], 3),
                _fmt(run["backlog_gone_seconds"], 0),
                f"{accounted['recorded_once']}/{accounted['changes']}",
            ]
        )
    out += _grid(
        ["", "failure p50", "p99", "max", "rollout p50", "p99", "max", "req/Pod", "backlog s",
         "changes once"],
        rows,
    )  # fmt: skip
    return out
