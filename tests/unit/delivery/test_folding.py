"""Pod churn folded at delivery: summaries that account for every change, once, across restarts;
and every request made at the class of the item it is for."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from cortex_events.cortex.models import CustomEvent, CustomEventRequest
from cortex_events.cortex.ratelimit import current_urgency
from cortex_events.delivery.folding import Pressure
from cortex_events.delivery.ports import NullListener
from cortex_events.delivery.queue import Fold, Outgoing
from cortex_events.domain.intents import EventIntent
from cortex_events.domain.keys import pod_key
from cortex_events.domain.mapping import Target
from cortex_events.domain.model import ALL_EVENT_TYPES, EventType, WorkloadRef
from cortex_events.domain.podsummary import SummaryBook, pod_change
from cortex_events.domain.priority import Priority, priority_of
from cortex_events.domain.quiet import PodEvents
from cortex_events.domain.render import render
from tests.support.cortex_double import MemoryCortex
from tests.support.delivery_stack import DeliveryStack

T0 = datetime(2026, 12, 2, 10, 1, tzinfo=UTC)
CLUSTER = "test"
WEB = WorkloadRef("Deployment", "shop", "web", "dep-1")
TARGET = Target("web", ALL_EVENT_TYPES, {"team": "payments"}, ("shop/web",))
TYPES = {
    "created": EventType.POD_CREATION,
    "deleted": EventType.POD_DELETION,
    "oomkilled/app/0": EventType.POD_FAILURE,
}


def pod_item(
    n: int,
    change: str = "created",
    *,
    ready: bool = False,
    owner: WorkloadRef | None = WEB,
    mode: PodEvents | None = None,
    at: datetime = T0,
) -> Outgoing:
    """A change of Pod ``n`` of ``owner`` (None: a bare Pod), as the router submits it."""
    pod = WorkloadRef("Pod", "shop", f"web-7d9f-{n:05d}", f"pod-{n}")
    event_type = TYPES[change]
    intent = EventIntent(
        key=pod_key(pod.uid, change),
        type=event_type,
        subject=pod,
        title=f"Pod {pod.name} {change}",
        description="Running and ready" if ready else "Pending",
        timestamp=at,
        details={"phase": "Running" if ready else "Pending", "ready": ready},
        updatable=change == "created",
    )
    found = pod_change(intent, owner)
    return Outgoing(
        tag="web",
        body=render(intent, TARGET, cluster=CLUSTER),
        updatable=intent.updatable,
        entities=TARGET.entities,
        priority=priority_of(event_type, intent.details),
        source=("shop", owner.uid if owner else pod.uid),
        fold=Fold(found, TARGET, mode) if found is not None else None,
    )


class Recording(NullListener):
    def __init__(self) -> None:
        self.folds: list[str] = []
        self.skipped: list[str] = []
        self.states: list[bool] = []
        self.sent: list[tuple[str, str]] = []

    def folded(self, item: Outgoing) -> None:
        self.folds.append(item.key)

    def pod_update_skipped(self, item: Outgoing) -> None:
        self.skipped.append(item.key)

    def folding(self, on: bool, seconds: float) -> None:
        self.states.append(on)

    def delivered(self, item: Outgoing, result: str, latency: float) -> None:
        self.sent.append((item.body.type, result))


class Pressed(Pressure):
    """Pressure that is always high."""

    def __init__(self) -> None:
        super().__init__(60.0, 10.0)

    def update(self, waiting: int) -> bool | None:
        changed = None if self.on else True
        self.on = True
        return changed


def events(api: MemoryCortex) -> list[CustomEvent]:
    return list(api.events.get("web", {}).values())


def summary_of(api: MemoryCortex) -> CustomEvent:
    (summary,) = [e for e in events(api) if e.type == "DEPLOYMENT_PODS"]
    return summary


async def test_summary_mode_folds_every_change_of_a_workloads_pods_into_one_event() -> None:
    api, listener = MemoryCortex(), Recording()
    stack = DeliveryStack(api, cluster=CLUSTER, listener=listener, pod_events=PodEvents.SUMMARY)
    churn = [pod_item(n, ready=n % 2 == 0) for n in range(20)]
    churn += [pod_item(n, "deleted") for n in range(20, 30)]
    await stack.run_until_idle(*churn)

    summary = summary_of(api)
    assert [e.type for e in events(api)] == ["DEPLOYMENT_PODS"], "no Pod event of its own"
    data = summary.custom_data
    assert (data["created"], data["ready"], data["deleted"], data["failed"]) == (20, 10, 10, 0)
    assert len(data["pods"]) == 30
    assert data["team"] == "payments", "the entity's customData, as on every event"
    assert (data["kind"], data["name"], data["uid"]) == ("Deployment", "web", "dep-1")
    assert api.count("create") == 1
    assert len(listener.folds) == 30


async def test_each_mode_sends_every_pod_its_own_events() -> None:
    api = MemoryCortex()
    stack = DeliveryStack(api, cluster=CLUSTER, pod_events=PodEvents.EACH, pressure=Pressed())
    await stack.run_until_idle(*(pod_item(n) for n in range(5)), pod_item(9, "deleted"))
    assert sorted(e.type for e in events(api)) == ["POD_CREATION"] * 5 + ["POD_DELETION"]


async def test_auto_folds_only_under_pressure_and_a_bare_pod_never() -> None:
    api, listener = MemoryCortex(), Recording()
    stack = DeliveryStack(api, cluster=CLUSTER, listener=listener)
    await stack.run_until_idle(*(pod_item(n) for n in range(3)))
    assert [e.type for e in events(api)] == ["POD_CREATION"] * 3, "no pressure: an event each"

    # 10 churn items queued at 1 a second of budget: 10 s waiting, over the 5 s threshold.
    pressed = DeliveryStack(api, cluster=CLUSTER, listener=listener, pressure=Pressure(5, 1.0))
    pressed.ledger = stack.ledger
    for n in range(10, 20):
        await pressed.submit(pod_item(n))
    await pressed.submit(pod_item(99, owner=None))
    await pressed.run_until_idle()
    summary = summary_of(api)
    assert summary.custom_data["created"] == 10
    assert "pod-99" not in summary.custom_data["pods"]
    assert ("POD_CREATION", "created") in listener.sent[-3:], "the bare Pod's own event"
    assert listener.states == [True]


def test_pressure_starts_at_the_threshold_and_ends_below_half_of_it() -> None:
    now = [0.0]
    pressure = Pressure(60.0, 10.0, clock=lambda: now[0])
    assert pressure.update(599) is None, "59.9 s of budget: not yet"
    assert pressure.update(600) is True
    for _ in range(400):
        pressure.folded()  # as if 400 changes were still waiting: 40 s
    assert pressure.update(0) is None, "40 s: still folding (hysteresis)"
    now[0] = 11.0
    assert pressure.update(0) is False, "29 s: per-Pod events resume"
    assert pressure.seconds(0) == pytest.approx(29.0)
    for _ in range(100_000):
        pressure.folded()  # a long storm counts for twice the threshold at most
    assert pressure.seconds(0) == pytest.approx(120.0)


async def test_a_restart_neither_sends_a_folded_change_again_nor_counts_it_twice() -> None:
    api = MemoryCortex()
    first = DeliveryStack(api, cluster=CLUSTER, pod_events=PodEvents.SUMMARY)
    await first.run_until_idle(*(pod_item(n, ready=n < 2) for n in range(4)))
    writes_before = api.count("create") + api.count("update")

    # After a restart everything is derived again; per-Pod events are wanted now.
    again = DeliveryStack(api, cluster=CLUSTER, pod_events=PodEvents.EACH)
    await again.run_until_idle(*(pod_item(n, ready=n < 2) for n in range(4)))
    assert api.count("create") + api.count("update") == writes_before, "nothing sent"
    assert [e.type for e in events(api)] == ["DEPLOYMENT_PODS"]

    # A folded Pod that becomes ready is counted in its summary; a new change is the mode's.
    await again.run_until_idle(pod_item(3, ready=True), pod_item(2, "deleted"))
    data = summary_of(api).custom_data
    assert (data["created"], data["ready"], data["deleted"]) == (4, 3, 0)
    assert sorted(e.type for e in events(api)) == ["DEPLOYMENT_PODS", "POD_DELETION"]


async def test_a_pods_own_event_stays_its_own_and_its_updates_wait_out_the_pressure() -> None:
    api, listener = MemoryCortex(), Recording()
    calm = DeliveryStack(api, cluster=CLUSTER, listener=listener)
    await calm.run_until_idle(pod_item(1))
    pressed = DeliveryStack(api, cluster=CLUSTER, listener=listener, pressure=Pressed())
    pressed.ledger = calm.ledger
    await pressed.run_until_idle(pod_item(1, ready=True), pod_item(1, "deleted"))
    assert listener.skipped == ["pod/pod-1/created"]
    assert api.count("update") == 0
    summary = summary_of(api)
    assert summary.custom_data["pods"] == {"pod-1": "d:web-7d9f-00001"}, "its deletion folded"
    await calm.run_until_idle(pod_item(1, ready=True))
    assert api.count("update") == 1, "without pressure the update goes"


async def test_a_failure_is_its_own_event_and_counted_in_the_summary_of_its_pod() -> None:
    api = MemoryCortex()
    stack = DeliveryStack(api, cluster=CLUSTER, pod_events=PodEvents.SUMMARY)
    await stack.run_until_idle(pod_item(1), pod_item(2))
    await stack.run_until_idle(pod_item(1, "oomkilled/app/0"))
    assert sorted(e.type for e in events(api)) == ["DEPLOYMENT_PODS", "POD_FAILURE"]
    data = summary_of(api).custom_data
    assert (data["created"], data["failed"]) == (2, 1)
    assert data["pods"]["pod-1"] == "cf:web-7d9f-00001"


class UpdateWatch(MemoryCortex):
    def __init__(self) -> None:
        super().__init__()
        self.updated = asyncio.Event()

    async def update_event(self, tag: str, uuid: str, event: CustomEventRequest) -> CustomEvent:
        stored = await super().update_event(tag, uuid, event)
        self.updated.set()
        return stored


async def test_a_changing_summary_is_sent_again_at_most_once_per_refresh() -> None:
    api = UpdateWatch()
    stack = DeliveryStack(api, cluster=CLUSTER, pod_events=PodEvents.SUMMARY, refresh=1.0)
    async with stack.running():
        await stack.submit(pod_item(1))
        assert await stack.queue.wait_idle(2)
        for n in range(2, 12):
            await stack.submit(pod_item(n))
            assert await stack.queue.wait_idle(2)
        assert api.count("update") == 0, "the changes wait for the refresh"
        await asyncio.wait_for(api.updated.wait(), 10)
        assert await stack.queue.wait_idle(2)
    assert api.count("update") == 1, "then go in one update"
    assert summary_of(api).custom_data["created"] == 11


async def test_changes_of_one_window_fold_together_and_a_later_window_gets_its_own() -> None:
    api = MemoryCortex()
    stack = DeliveryStack(api, cluster=CLUSTER, pod_events=PodEvents.SUMMARY)
    later = T0 + timedelta(minutes=10)
    await stack.run_until_idle(pod_item(1), pod_item(2), pod_item(3, at=later))
    summaries = sorted(
        (e.custom_data["windowStart"], e.custom_data["created"])
        for e in events(api)
        if e.type == "DEPLOYMENT_PODS"
    )
    assert summaries == [("2026-12-02T10:00:00Z", 2), ("2026-12-02T10:10:00Z", 1)]


# -- classes: each request at the class of the item it is for ---------------------------------


async def test_every_request_for_an_item_runs_at_its_class() -> None:
    api = MemoryCortex()
    stack = DeliveryStack(api, cluster=CLUSTER, pod_events=PodEvents.EACH)
    await stack.run_until_idle(pod_item(1, "oomkilled/app/0"))
    await stack.run_until_idle(pod_item(2))
    assert [(c.kind, c.urgency) for c in api.calls] == [
        ("list", Priority.FAILURE),
        ("create", Priority.FAILURE),
        ("create", Priority.CHURN),
    ]


class PagedCortex(MemoryCortex):
    """Lists an entity's events in pages, one at a time when let."""

    def __init__(self) -> None:
        super().__init__()
        self.next_page = asyncio.Event()
        self.page_urgency: list[int | None] = []

    async def iter_events(
        self,
        tag: str,
        *,
        type: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        page_size: int = 1000,
    ) -> AsyncIterator[CustomEvent]:
        for _ in range(3):
            await self.next_page.wait()
            self.next_page.clear()
            current = current_urgency()
            self.page_urgency.append(current.level if current is not None else None)
        async for event in super().iter_events(tag, type=type):
            yield event


async def test_a_failure_waiting_for_its_entitys_listing_raises_the_listings_class() -> None:
    api = PagedCortex()
    stack = DeliveryStack(api, cluster=CLUSTER, pod_events=PodEvents.EACH)
    async with stack.running():
        await stack.submit(pod_item(1))  # Pod churn starts loading the entity's events
        await asyncio.sleep(0.01)
        api.next_page.set()
        await asyncio.sleep(0.01)
        await stack.submit(pod_item(2, "oomkilled/app/0"))  # a failure waits for that listing
        await asyncio.sleep(0.01)
        for _ in range(2):
            api.next_page.set()
            await asyncio.sleep(0.01)
        assert await stack.queue.wait_idle(2)
    assert api.page_urgency == [Priority.CHURN, Priority.FAILURE, Priority.FAILURE]


async def test_stopping_sends_the_summaries_that_wait_for_their_refresh() -> None:
    api = MemoryCortex()
    stack = DeliveryStack(api, cluster=CLUSTER, pod_events=PodEvents.SUMMARY, refresh=3600)
    async with stack.running() as delivery:
        await stack.submit(pod_item(1))
        assert await stack.queue.wait_idle(2)
        await stack.submit(pod_item(2, "deleted"))
        assert await stack.queue.wait_idle(2)
        assert summary_of(api).custom_data["deleted"] == 0, "waiting for its refresh"
        assert await delivery.drain(5) == 0
    data = summary_of(api).custom_data
    assert (data["created"], data["deleted"]) == (1, 1)


async def test_a_summary_is_sent_as_its_ledger_holds_it_never_older() -> None:
    api = MemoryCortex()
    stack = DeliveryStack(api, cluster=CLUSTER, pod_events=PodEvents.SUMMARY)
    await stack.run_until_idle(pod_item(1), pod_item(2))
    # A summary queued before this replica lost the lead and took it again holds what its
    # ledger held then (Pod 1 only); the ledger is loaded from Cortex again, which holds both.
    book = SummaryBook()
    first = pod_item(1).fold
    assert first is not None
    older = book.fold(first.change)
    stale = Outgoing(
        tag="web",
        body=render(older.intent(), TARGET, cluster=CLUSTER),
        updatable=True,
        entities=TARGET.entities,
        priority=Priority.CHURN,
        summary=True,
    )
    stack.delivery.took_over(0.0)
    await stack.run_until_idle(stale)
    assert api.count("update") == 0
    assert set(summary_of(api).custom_data["pods"]) == {"pod-1", "pod-2"}
