"""The queue's metrics by delivery class, and what folding Pod churn reports."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import generate_latest

from cortex_events.controllers.entity_status import EntityActivity
from cortex_events.delivery.queue import EventQueue, Fold, Outgoing
from cortex_events.domain.mapping import Target
from cortex_events.domain.model import ALL_EVENT_TYPES, WorkloadRef
from cortex_events.domain.podsummary import Change, PodChange
from cortex_events.domain.priority import Priority
from cortex_events.domain.render import EventBody
from cortex_events.ops.observability import Metrics, OperatorListener

T0 = datetime(2026, 12, 2, tzinfo=UTC)


def item(key: str, priority: Priority, change: Change | None = None) -> Outgoing:
    fold = None
    if change is not None:
        owner = WorkloadRef("Deployment", "shop", "web", "dep-1")
        pod = WorkloadRef("Pod", "shop", "web-1", "pod-1")
        fold = Fold(PodChange(owner, pod, change, T0), Target("web", ALL_EVENT_TYPES, {}, ()))
    body = EventBody(key, "POD_CREATION", T0, "", {"eventKey": key})
    return Outgoing("web", body, True, (), priority=priority, fold=fold)


def sample(text: str, line_start: str) -> float:
    (line,) = [line for line in text.splitlines() if line.startswith(line_start)]
    return float(line.rsplit(" ", 1)[1])


async def test_depth_and_oldest_by_class_and_the_pressure_are_read_when_scraped() -> None:
    metrics, queue = Metrics(), EventQueue()
    metrics.watch_queue(queue, lambda: 42.0, lambda: 3)
    old = item("old", Priority.CHURN)
    old.seen_at -= 30
    await queue.submit(old)
    await queue.submit(item("new", Priority.CHURN))
    await queue.submit(item("oom", Priority.FAILURE))
    text = generate_latest(metrics.registry).decode()
    assert sample(text, 'cortex_events_queue_depth_by_class{class="churn"}') == 2
    assert sample(text, 'cortex_events_queue_depth_by_class{class="failure"}') == 1
    assert sample(text, 'cortex_events_queue_depth_by_class{class="housekeeping"}') == 0
    assert sample(text, 'cortex_events_queue_oldest_seconds{class="churn"}') >= 30
    assert sample(text, 'cortex_events_queue_oldest_seconds{class="workload"}') == 0
    assert sample(text, "cortex_events_pod_churn_pressure_seconds") == 42
    assert sample(text, "cortex_events_pod_summaries_waiting") == 3


def test_folded_changes_skipped_updates_and_folding_are_counted() -> None:
    metrics = Metrics()
    listener = OperatorListener(metrics, EntityActivity())
    listener.folded(item("pod/pod-1/created", Priority.CHURN, Change.CREATED))
    listener.folded(item("pod/pod-1/deleted", Priority.CHURN, Change.DELETED))
    listener.folded(item("pod/pod-2/deleted", Priority.CHURN, Change.DELETED))
    listener.pod_update_skipped(item("pod/pod-3/created", Priority.CHURN, Change.CREATED))
    listener.folding(True, 75.0)
    text = generate_latest(metrics.registry).decode()
    assert sample(text, 'cortex_events_pod_changes_folded_total{change="created"}') == 1
    assert sample(text, 'cortex_events_pod_changes_folded_total{change="deleted"}') == 2
    assert sample(text, "cortex_events_pod_updates_skipped_total") == 1
    assert sample(text, "cortex_events_pod_folding ") == 1
    listener.folding(False, 20.0)
    assert sample(generate_latest(metrics.registry).decode(), "cortex_events_pod_folding ") == 0
