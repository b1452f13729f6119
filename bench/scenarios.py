"""The benchmark's scenarios. Each returns plain data (JSON-ready dicts).

* `delivery_and_latency`: the operator under a backlog larger than its budget, then at a steady
  rate below it (one operator process, stands of its own).
* `scale`: the operator, the no-op kopf baseline and the naive kopf baseline with growing
  numbers of Pods (the operator's partly in Deployments, StatefulSets and Jobs), ending with a
  restart of the operator and of the naive baseline.

Both run against the `Stands` a `bench.backends.Backend` makes: the Kubernetes API stand-in, or a
real control plane (`bench.realcluster`).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import stand
from bench.backends import Backend, Stands
from bench.procs import BenchError, Proc, wait_settled
from cortex_events_sim.fake_cortex import FakeCortex, RecordedRequest

logger = logging.getLogger("bench")

OUR_USER = "operator"
NOOP_USER = "noop"
NAIVE_USER = "naive"


@dataclass(frozen=True)
class Config:
    """Sizes of one benchmark run. `FULL` and `SMOKE` are the two documented ones."""

    budget: int = 600
    """The operator's CORTEX_RATE_LIMIT (requests a minute) in every scenario."""
    cortex_limit: int = 1000
    """The emulator's per-key limit, Cortex's own."""
    backlog: int = 720
    delivery_entities: int = 10
    latency_rate: float = 5.0
    latency_changes: int = 150
    scales: tuple[int, ...] = (1000, 5000, 10000)
    entities: int = 100
    owned_share: float = 0.1
    """At scale, the share of the operator's Pods in Deployments; as many are in StatefulSets,
    and as many in Jobs."""
    owner_pods: int = 10
    """Pods in each of those Deployments, StatefulSets and Jobs."""
    quiet: float = 3.0
    """Seconds without CPU use or requests after which a process counts as settled."""
    baselines: bool = True

    def as_json(self) -> dict[str, Any]:
        return {
            "budget_per_minute": self.budget,
            "cortex_limit_per_minute": self.cortex_limit,
            "backlog": self.backlog,
            "delivery_entities": self.delivery_entities,
            "latency_changes_per_second": self.latency_rate,
            "latency_changes": self.latency_changes,
            "scales": list(self.scales),
            "entities": self.entities,
            "owned_share": self.owned_share,
            "owner_pods": self.owner_pods,
            "quiet_seconds": self.quiet,
            "baselines": self.baselines,
        }


FULL = Config()
SMOKE = Config(
    backlog=24,
    delivery_entities=4,
    latency_changes=10,
    scales=(40,),
    entities=8,
    owner_pods=4,
    quiet=1.0,
)


def wait_until(probe: Callable[[], bool], *, timeout: float, what: str, proc: Proc) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        proc.check_alive()
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


def accepted(requests: Sequence[RecordedRequest], *methods: str) -> list[RecordedRequest]:
    return [r for r in requests if r.status == 200 and r.method in methods]


def custom_data(request: RecordedRequest) -> dict[str, Any]:
    body = request.body if isinstance(request.body, dict) else {}
    data = body.get("customData")
    return data if isinstance(data, dict) else {}


def busiest_minute(requests: Sequence[RecordedRequest]) -> int:
    """The most requests (429s excluded) in any 60-second window."""
    times = sorted(r.at for r in requests if r.status != 429)
    best = start = 0
    for end, moment in enumerate(times):
        while times[start] <= moment - 60.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks (the same as numpy's default)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def duplicate_keys(cortex: FakeCortex) -> int:
    """Events beyond the first per (entity, eventKey)."""
    keys = collections.Counter(
        (e.tag, (e.custom_data or {}).get("eventKey")) for e in cortex.state.events()
    )
    return sum(n - 1 for n in keys.values() if n > 1)


# --- 1 and 2: delivery under backlog, latency at a steady rate --------------------------------


def wait_drained(st: Stands, proc: Proc, *, timeout: float, what: str) -> None:
    """Until the Pods have stopped changing and the operator has delivered every change: each
    Pod in the phase it stays in, the operator's queue empty, Cortex asked nothing for 1 s."""
    deadline = time.monotonic() + timeout
    seen, quiet_since = -1, time.monotonic()
    while True:
        proc.check_alive()
        now = time.monotonic()
        if (count := st.request_count()) != seen:
            seen, quiet_since = count, now
        elif (
            now - quiet_since >= 1.0
            and st.pods_running()
            and proc.metrics().get("cortex_events_queue_depth", 1.0) == 0
        ):
            return
        if now > deadline:
            raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


def delivery_and_latency(config: Config, workdir: Path, backend: Backend) -> dict[str, Any]:
    with backend.stands(workdir, rate_limit=config.cortex_limit, role="delivery") as st:
        proc = Proc.ours(
            st.env(OUR_USER, CORTEX_RATE_LIMIT=str(config.budget)),
            workdir / "operator-delivery.log",
        )
        kube_mark = st.kube_request_count()
        proc.start()
        try:
            wait_until(
                lambda: st.listed_since(OUR_USER, kube_mark),
                timeout=60,
                what="the operator to list pods",
                proc=proc,
            )
            # One pod per entity first, so that every entity's ledger is loaded before the clock
            # starts: the backlog then measures sending, not the start-up.
            warm = [
                (stand.pod_name("warm", i), stand.entity_tag(i))
                for i in range(config.delivery_entities)
            ]
            st.create_pods(warm)
            wait_until(
                lambda: len(accepted(st.requests(), "POST")) >= len(warm),
                timeout=60,
                what="the warm-up events",
                proc=proc,
            )
            wait_drained(st, proc, timeout=60, what="the warm-up pods' changes")
            time.sleep(2.0)  # the token bucket refills
            delivery = _backlog(config, st, proc)
            time.sleep(2.0)
            latency = _steady(config, st, proc)
            writes = st.workload_writes(OUR_USER, since=kube_mark)
            duplicates = duplicate_keys(st.cortex)
            too_many = sum(1 for r in st.requests() if r.status == 429)
        finally:
            proc.stop()
    delivery["self_caused_429"] = too_many
    return {
        "delivery": delivery,
        "latency": latency,
        "workload_writes": len(writes),
        "duplicate_events": duplicates,
    }


def _backlog(config: Config, st: Stands, proc: Proc) -> dict[str, Any]:
    """Many new Pods at once; timed until Cortex holds every change made to them. Where the
    cluster moves Pods on (scheduled, then Running and Ready), a Pod whose event was sent
    before it moved is updated in place: those PUTs are part of the backlog too."""
    mark = st.request_count()
    batch = [
        (stand.pod_name("backlog", i), stand.entity_tag(i % config.delivery_entities))
        for i in range(config.backlog)
    ]
    names = {name for name, _ in batch}

    def recorded() -> int:
        return len(
            {custom_data(r).get("name") for r in accepted(st.requests(mark), "POST")} & names
        )

    began = time.time()
    st.create_pods(batch)
    created = time.time() - began
    per_second = config.budget / 60.0
    timeout = config.backlog / per_second * 2 + 60
    wait_until(
        lambda: recorded() >= config.backlog,
        timeout=timeout,
        what=f"an event for each of the {config.backlog} pods of the backlog",
        proc=proc,
    )
    wait_drained(st, proc, timeout=timeout, what="the backlog's last changes")
    requests = st.requests(mark)
    events = accepted(requests, "POST", "PUT")
    seconds = max(r.at for r in events) - began
    rate = len(events) / seconds
    return {
        "budget_per_minute": config.budget,
        "backlog": config.backlog,
        "create_seconds": round(created, 2),
        "pods_recorded": recorded(),
        "events_accepted": len(events),
        "posts": len(accepted(requests, "POST")),
        "puts": len(accepted(requests, "PUT")),
        "seconds": round(seconds, 2),
        "events_per_second": round(rate, 3),
        "ratio_to_budget": round(rate / per_second, 4),
        "requests": len(requests),
        "busiest_minute_requests": busiest_minute(st.requests()),
    }


def _steady(config: Config, st: Stands, proc: Proc) -> dict[str, Any]:
    """New Pods (each one's event is created) and those Pods becoming ready (the event is
    updated in place), ``latency_rate`` changes a second in all.

    On the stand-in the benchmark makes each Pod ready itself, alternating with the creations;
    where the cluster does (kwok), Pods are created at half the rate and each becomes ready
    when kwok writes its status, which the audit log dates."""
    mark = st.request_count()
    # (what, pod uid, wall-clock time of the change)
    changes = (
        _created_then_readied(config, st, proc) if st.kubelet else _created_and_readied(config, st)
    )

    def accepted_at() -> dict[tuple[str, str], float]:
        seen: dict[tuple[str, str], float] = {}
        for request in accepted(st.requests(mark), "POST", "PUT"):
            data = custom_data(request)
            uid = str(data.get("uid"))
            if request.method == "POST":
                seen.setdefault(("created", uid), request.at)
            if data.get("ready") is True:
                seen.setdefault(("ready", uid), request.at)
        return seen

    wait_until(
        lambda: all((what, uid) in accepted_at() for what, uid, _ in changes),
        timeout=60,
        what="every steady change to reach Cortex",
        proc=proc,
    )
    seen = accepted_at()
    latencies = [seen[(what, uid)] - at for what, uid, at in changes]
    return {
        "changes_per_second": config.latency_rate,
        "changes": len(latencies),
        "made_ready_by": "kwok" if st.kubelet else "the benchmark",
        "p50_seconds": round(percentile(latencies, 0.50), 4),
        "p95_seconds": round(percentile(latencies, 0.95), 4),
        "p99_seconds": round(percentile(latencies, 0.99), 4),
        "max_seconds": round(max(latencies), 4),
        "mean_seconds": round(statistics.fmean(latencies), 4),
    }


def _created_and_readied(config: Config, st: Stands) -> list[tuple[str, str, float]]:
    """Alternately a new Pod and the previous Pod made ready, by the benchmark."""
    changes: list[tuple[str, str, float]] = []
    uids: dict[int, str] = {}
    interval = 1.0 / config.latency_rate
    start = time.monotonic()
    for number in range(config.latency_changes):
        delay = start + number * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        index = number // 2
        name = stand.pod_name("steady", index)
        if number % 2 == 0:
            tag = stand.entity_tag(index % config.delivery_entities)
            at = time.time()
            (obj,) = st.create_pods([(name, tag)])
            uids[index] = obj["metadata"]["uid"]
            changes.append(("created", uids[index], at))
        else:
            at = time.time()
            st.mark_ready(name)
            changes.append(("ready", uids[index], at))
    return changes


def _created_then_readied(config: Config, st: Stands, proc: Proc) -> list[tuple[str, str, float]]:
    """New Pods at half the rate; the cluster makes each ready (the other half of the changes)."""
    changes: list[tuple[str, str, float]] = []
    uids: dict[str, str] = {}
    interval = 2.0 / config.latency_rate
    count = (config.latency_changes + 1) // 2
    start = time.monotonic()
    for index in range(count):
        delay = start + index * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        name = stand.pod_name("steady", index)
        tag = stand.entity_tag(index % config.delivery_entities)
        at = time.time()
        (obj,) = st.create_pods([(name, tag)])
        uids[name] = obj["metadata"]["uid"]
        changes.append(("created", uids[name], at))
    readied = list(uids)[: config.latency_changes // 2]
    wait_until(
        lambda: len(st.ready_changed_at(readied)) == len(readied),
        timeout=60,
        what="the steady pods to become ready",
        proc=proc,
    )
    for name, at in st.ready_changed_at(readied).items():
        changes.append(("ready", uids[name], at))
    return changes


# --- 3, 4 and 5: memory and CPU at scale, restart cost, baselines ----------------------------


@contextmanager
def _stopped_on_error(proc: Proc) -> Iterator[None]:
    try:
        yield
    except BaseException:
        with contextlib.suppress(BenchError):
            proc.stop()
        raise


def _calls(requests: Sequence[RecordedRequest], entities: int) -> dict[str, Any]:
    by_tag = collections.Counter(r.tag for r in requests)
    return {
        "cortex_calls": len(requests),
        "by_method": dict(collections.Counter(r.method for r in requests)),
        "calls_per_entity": round(len(requests) / entities, 3),
        "max_calls_one_entity": max(by_tag.values(), default=0),
    }


def _usage_row(settled_seconds: float, proc: Proc) -> dict[str, Any]:
    used = proc.usage()
    return {
        "rss_mib": round(used.rss_mib, 1),
        "peak_rss_mib": round(used.peak_rss_mib, 1),
        "cpu_seconds": round(used.cpu_seconds, 2),
        "settle_seconds": round(settled_seconds, 2),
    }


def _ours_ready(proc: Proc, events: int) -> Callable[[], bool]:
    def ready() -> bool:
        metrics = proc.metrics()
        handled = metrics.get("cortex_events_deduplicated_total", 0.0) + metrics.get(
            "cortex_events_sent_total", 0.0
        )
        return metrics.get("cortex_events_queue_depth", 1.0) == 0 and handled >= events

    return ready


def _start_ours(
    config: Config, st: Stands, pods: int, events: int, log: Path
) -> tuple[Proc, dict[str, Any]]:
    """Start the operator with ``pods`` Pods and their workloads' ``events`` recorded; wait
    until it has handled each event once and settled."""
    proc = Proc.ours(st.env(OUR_USER, CORTEX_RATE_LIMIT=str(config.budget)), log)
    mark = st.request_count()
    known = {(e.tag, (e.custom_data or {}).get("eventKey")) for e in st.cortex.state.events()}
    proc.start()
    with _stopped_on_error(proc):
        settled = wait_settled(
            proc,
            activity=st.activity,
            ready=_ours_ready(proc, events),
            quiet=config.quiet,
            timeout=120 + pods / 50,
        )
    row = _usage_row(settled.seconds, proc)
    requests = st.requests(mark)
    row.update(_calls(requests, config.entities))
    row["duplicate_posts"] = sum(
        1 for r in accepted(requests, "POST") if (r.tag, custom_data(r).get("eventKey")) in known
    )
    return proc, row


def _start_noop(config: Config, st: Stands, log: Path) -> tuple[Proc, dict[str, Any]]:
    proc = Proc.baseline("noop", st.env(NOOP_USER), log)
    mark = st.kube_request_count()
    proc.start()
    with _stopped_on_error(proc):
        settled = wait_settled(
            proc,
            activity=st.activity,
            ready=lambda: st.listed_since(NOOP_USER, mark),
            quiet=config.quiet,
            timeout=120,
        )
    return proc, _usage_row(settled.seconds, proc)


def _start_naive(config: Config, st: Stands, pods: int, log: Path) -> tuple[Proc, dict[str, Any]]:
    proc = Proc.baseline("naive", st.env(NAIVE_USER), log)
    mark = st.request_count()
    kube_mark = st.kube_request_count()
    uids_before = {custom_data(r).get("uid") for r in accepted(st.requests(), "POST")}
    proc.start()
    with _stopped_on_error(proc):
        settled = wait_settled(
            proc,
            activity=st.activity,
            ready=lambda: (
                st.listed_since(NAIVE_USER, kube_mark)
                and len(accepted(st.requests(), "POST")) >= pods
            ),
            quiet=config.quiet,
            timeout=120 + pods / 10,
        )
    row = _usage_row(settled.seconds, proc)
    requests = st.requests(mark)
    row.update(_calls(requests, config.entities))
    row["duplicate_posts"] = sum(
        1 for r in accepted(requests, "POST") if custom_data(r).get("uid") in uids_before
    )
    row["workload_writes"] = len(st.workload_writes(NAIVE_USER, since=kube_mark))
    return proc, row


def scale(config: Config, workdir: Path, backend: Backend) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    restart: dict[str, Any] = {}
    with ExitStack() as stack:
        ours = stack.enter_context(
            backend.stands(workdir, rate_limit=config.cortex_limit, role="scale")
        )
        # The naive baseline writes to its Pods, so it gets Pods of its own; its emulator has
        # no rate limit, else 10,000 Pods would take it over ten minutes at Cortex's limit.
        naive = (
            stack.enter_context(backend.stands(workdir, rate_limit=None, role="naive"))
            if config.baselines
            else None
        )
        ours_mark = ours.kube_request_count()
        naive_mark = naive.kube_request_count() if naive is not None else 0
        ours_before = stand.Population(0, config.owned_share, config.owner_pods)
        naive_before = stand.Population(0)  # bare Pods: it maps a Pod by its own annotation only
        recorded: collections.Counter[str] = collections.Counter()
        pods = 0
        for size in config.scales:
            after = dataclasses.replace(ours_before, pods=size)
            logger.info(
                "scale: %d pods (%d bare, %d in each of Deployments, StatefulSets and Jobs) "
                "over %d entities",
                size,
                after.bare,
                after.owners * after.owner_pods,
                config.entities,
            )
            created = ours.grow(stand.Growth(ours_before, after), config.entities)
            recorded += stand.seed_recorded(ours.cortex, created)
            del created  # 10,000 Pods as the API returned them: not kept while processes run
            if naive is not None:
                naive_after = stand.Population(size)
                naive.grow(stand.Growth(naive_before, naive_after), config.entities, objects=False)
                naive_before = naive_after
            ours_before = after
            pods = size
            events = sum(recorded.values())
            last = size == config.scales[-1]
            row: dict[str, Any] = {
                "pods": size,
                "entities": config.entities,
                "workloads": after.as_json(),
                "events_recorded": dict(sorted(recorded.items())),
            }

            proc, row["operator"] = _start_ours(
                config, ours, size, events, workdir / f"operator-{size}.log"
            )
            try:
                if last:
                    proc.stop()
                    logger.info("restart: the operator with %d pods recorded", size)
                    proc, restart["operator"] = _start_ours(
                        config, ours, size, events, workdir / f"operator-{size}-restart.log"
                    )
            finally:
                proc.stop()
            if naive is not None:
                proc, row["noop"] = _start_noop(config, ours, workdir / f"noop-{size}.log")
                proc.stop()
                proc, row["naive"] = _start_naive(
                    config, naive, size, workdir / f"naive-{size}.log"
                )
                try:
                    if last:
                        proc.stop()
                        logger.info("restart: the naive baseline with %d pods handled", size)
                        proc, restart["naive"] = _start_naive(
                            config, naive, size, workdir / f"naive-{size}-restart.log"
                        )
                finally:
                    proc.stop()
            rows.append(row)
        restart["pods"] = pods
        writes = {
            "operator": len(ours.workload_writes(OUR_USER, since=ours_mark)),
            "noop": len(ours.workload_writes(NOOP_USER, since=ours_mark)),
        }
        duplicates = {"operator": duplicate_keys(ours.cortex)}
        if naive is not None:
            writes["naive"] = len(naive.workload_writes(NAIVE_USER, since=naive_mark))
            duplicates["naive"] = _naive_duplicates(naive.cortex)
    return {
        "scale": rows,
        "restart": restart,
        "workload_writes": writes,
        "workload_writes_per_pod": {k: round(v / max(pods, 1), 3) for k, v in writes.items()},
        "duplicate_events": duplicates,
    }


def _naive_duplicates(cortex: FakeCortex) -> int:
    """Events beyond the first per Pod uid (the naive baseline has no eventKey)."""
    uids = collections.Counter((e.custom_data or {}).get("uid") for e in cortex.state.events())
    return sum(n - 1 for n in uids.values() if n > 1)
