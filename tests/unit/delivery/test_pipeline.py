"""Delivery: coalescing, create/update/skip against the ledger, failures that lose nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from cortex_events.cortex.errors import (
    CortexAuthError,
    CortexBadRequest,
    CortexConnectionError,
    CortexError,
    CortexRateLimited,
    CortexResponseError,
    CortexServerError,
)
from cortex_events.cortex.models import CustomEvent
from cortex_events.delivery import loading, pipeline
from cortex_events.delivery.fence import Fence
from cortex_events.delivery.ledger import TagState
from cortex_events.delivery.ports import NullListener
from cortex_events.delivery.queue import EventQueue, Outgoing
from cortex_events.domain.render import MANAGED_BY, EventBody
from tests.support.cortex_double import MemoryCortex
from tests.support.delivery_stack import DeliveryStack

T0 = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
CLUSTER = "test"


class Recording(NullListener):
    def __init__(self) -> None:
        self.results: list[str] = []
        self.drops: list[str] = []
        self.failing: list[CortexError | None] = []
        self.missing: list[str] = []

    def entity_missing(self, tag: str) -> None:
        self.missing.append(tag)

    def delivered(self, item: Outgoing, result: str, latency: float) -> None:
        self.results.append(result)

    def deduplicated(self, item: Outgoing) -> None:
        self.results.append("deduplicated")

    def dropped(self, item: Outgoing, reason: str, detail: str) -> None:
        self.drops.append(reason)

    def cortex_failing(self, error: CortexError | None) -> None:
        self.failing.append(error)


def outgoing(
    key: str = "pod/u1/created",
    *,
    tag: str = "web",
    phase: str = "Pending",
    updatable: bool = True,
    event_type: str = "POD_CREATION",
) -> Outgoing:
    body = EventBody(
        title=f"Pod web-1 created ({phase})",
        type=event_type,
        timestamp=T0,
        description=phase,
        custom_data={
            "cluster": CLUSTER,
            "managedBy": MANAGED_BY,
            "eventKey": key,
            "namespace": "shop",
            "kind": "Pod",
            "name": "web-1",
            "uid": "u1",
            "phase": phase,
            "cortexEntities": ["shop/web"],
        },
    )
    return Outgoing(tag=tag, body=body, updatable=updatable, entities=("shop/web",))


@pytest.fixture(autouse=True)
def fast_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "PAUSE_INITIAL_SECONDS", 0.01)
    monkeypatch.setattr(pipeline, "PAUSE_CAP_SECONDS", 0.05)


async def test_new_event_is_created_once_then_deduplicated() -> None:
    api, listener = MemoryCortex(), Recording()
    delivery = DeliveryStack(api, cluster=CLUSTER, listener=listener)
    await delivery.run_until_idle(outgoing())
    await delivery.run_until_idle(outgoing())
    assert api.count("create") == 1
    assert listener.results == ["created", "deduplicated"]
    assert api.count("list") == 1, "the tag's ledger is loaded once"


async def test_changed_updatable_event_is_put_on_the_same_uuid_with_its_first_timestamp() -> None:
    api = MemoryCortex()
    delivery = DeliveryStack(api, cluster=CLUSTER)
    await delivery.run_until_idle(outgoing(phase="Pending"))
    later = outgoing(phase="Running")
    later.body = EventBody(
        title=later.body.title,
        type=later.body.type,
        timestamp=T0 + timedelta(minutes=5),
        description=later.body.description,
        custom_data=later.body.custom_data,
    )
    await delivery.run_until_idle(later)
    (event,) = api.events["web"].values()
    assert event.custom_data["phase"] == "Running"
    assert event.timestamp == T0
    assert api.count("create") == 1
    assert api.count("update") == 1


async def test_non_updatable_event_is_never_put() -> None:
    api = MemoryCortex()
    delivery = DeliveryStack(api, cluster=CLUSTER)
    key = "pod/u1/failed"
    await delivery.run_until_idle(outgoing(key, phase="Failed", updatable=False))
    await delivery.run_until_idle(outgoing(key, phase="Other", updatable=False))
    assert api.count("create") == 1
    assert api.count("update") == 0


async def test_many_changes_of_one_key_while_queued_coalesce_into_one_request() -> None:
    api = MemoryCortex()
    delivery = DeliveryStack(api, cluster=CLUSTER)
    for phase in ("Pending", "ContainerCreating", "Running", "Ready"):
        await delivery.submit(outgoing(phase=phase))
    assert delivery.queue.depth == 1
    await delivery.run_until_idle()
    assert api.count("create") == 1
    assert api.count("update") == 0
    (event,) = api.events["web"].values()
    assert event.custom_data["phase"] == "Ready"


async def test_restart_rebuilds_the_ledger_from_cortex_and_records_nothing_twice() -> None:
    api = MemoryCortex()
    first = DeliveryStack(api, cluster=CLUSTER)
    await first.run_until_idle(outgoing("pod/u1/created"), outgoing("pod/u2/created"))
    second = DeliveryStack(api, cluster=CLUSTER)  # a new process: empty memory
    await second.run_until_idle(
        outgoing("pod/u1/created"), outgoing("pod/u2/created"), outgoing("pod/u3/created")
    )
    assert api.count("create") == 3
    keys = sorted(e.custom_data["eventKey"] for e in api.events["web"].values())
    assert keys == ["pod/u1/created", "pod/u2/created", "pod/u3/created"]


async def test_events_of_another_cluster_or_tool_are_not_taken_as_ours() -> None:
    api = MemoryCortex()
    foreign = outgoing("pod/u1/created").body
    for index, data in enumerate(
        [
            {**foreign.custom_data, "cluster": "elsewhere"},
            {**foreign.custom_data, "managedBy": "someone-else"},
        ]
    ):
        api.events.setdefault("web", {})[f"x{index}"] = CustomEvent.model_validate(
            {
                "uuid": f"x{index}",
                "title": "t",
                "type": "POD_CREATION",
                "timestamp": T0,
                "customData": data,
            }
        )
    delivery = DeliveryStack(api, cluster=CLUSTER)
    await delivery.run_until_idle(outgoing("pod/u1/created"))
    assert api.count("create") == 1


async def test_outage_keeps_the_event_and_delivers_it_when_cortex_is_back() -> None:
    api, listener = MemoryCortex(), Recording()
    api.failures = [CortexServerError("down", status_code=503) for _ in range(3)]
    delivery = DeliveryStack(api, cluster=CLUSTER, listener=listener)
    await delivery.run_until_idle(outgoing())
    assert api.count("create") == 4
    assert len(api.events["web"]) == 1
    assert listener.drops == []
    assert listener.failing[-1] is None, "recovery is reported"
    assert delivery.delivery.failure is None


async def test_a_refused_key_keeps_events_until_it_is_accepted() -> None:
    api, listener = MemoryCortex(), Recording()
    api.failures = [CortexAuthError("bad key", status_code=401)]
    delivery = DeliveryStack(api, cluster=CLUSTER, listener=listener)
    await delivery.run_until_idle(outgoing())
    assert len(api.events["web"]) == 1
    assert isinstance(listener.failing[0], CortexAuthError)


async def test_lost_answer_to_a_create_is_checked_before_creating_again() -> None:
    api = MemoryCortex()
    api.lose_answer_once = True
    delivery = DeliveryStack(api, cluster=CLUSTER)
    await delivery.run_until_idle(outgoing())
    assert len(api.events["web"]) == 1, "no duplicate after an ambiguous create"
    assert api.count("create") == 1


async def test_a_server_error_after_storing_does_not_make_a_duplicate() -> None:
    api = MemoryCortex()
    api.fail_after_storing_once = True
    delivery = DeliveryStack(api, cluster=CLUSTER)
    await delivery.run_until_idle(outgoing())
    assert len(api.events["web"]) == 1
    assert api.count("create") == 1, "found by a look-up instead of posted again"


@pytest.mark.parametrize(
    "error",
    [
        CortexResponseError("the answer is not JSON", status_code=200),
        CortexResponseError("the answer does not look like a CustomEvent", status_code=200),
        ValueError("an error nobody expected while reading the answer"),
    ],
    ids=["not-json", "wrong-shape", "unexpected"],
)
async def test_a_create_stored_but_answered_unreadably_is_looked_up_not_posted_again(
    error: BaseException,
) -> None:
    api = MemoryCortex()
    api.raise_after_storing = error
    delivery = DeliveryStack(api, cluster=CLUSTER)
    await delivery.run_until_idle(outgoing())
    assert len(api.events["web"]) == 1, "no duplicate after an unreadable success answer"
    assert api.count("create") == 1
    assert api.count("list") == 2, "the ledger load, then the look-up"


@pytest.mark.parametrize(
    "error",
    [
        CortexRateLimited("slow down", retry_after=0),
        CortexAuthError("bad key", status_code=401),
        CortexConnectionError("connection refused", request_sent=False),
    ],
    ids=["429", "401", "never-sent"],
)
async def test_a_create_cortex_surely_did_not_store_is_sent_again_without_a_look_up(
    error: CortexError,
) -> None:
    api = MemoryCortex()
    api.failures = [error]
    delivery = DeliveryStack(api, cluster=CLUSTER)
    await delivery.run_until_idle(outgoing())
    assert len(api.events["web"]) == 1
    assert api.count("create") == 2
    assert api.count("list") == 1, "only the ledger load"


async def test_a_recreated_event_is_not_duplicated_when_the_answer_is_lost() -> None:
    # Deleted in Cortex behind the operator's back, then recreated by the next update.
    api = MemoryCortex()
    delivery = DeliveryStack(api, cluster=CLUSTER)
    await delivery.run_until_idle(outgoing(phase="Pending"))
    api.events["web"].clear()  # deleted in Cortex by hand
    api.lose_answer_once = True
    later = outgoing(phase="Running")
    later.body = replace(later.body, timestamp=T0 + timedelta(minutes=5))
    await delivery.run_until_idle(later)
    (event,) = api.events["web"].values()
    assert event.custom_data["phase"] == "Running"
    assert event.timestamp == T0, "recreated with the event's first timestamp"
    assert api.count("create") == 2, "the first create and one recreate, found by the look-up"


async def test_unknown_entity_drops_with_a_reason_and_asks_cortex_once() -> None:
    api, listener = MemoryCortex(entities={"web"}), Recording()
    delivery = DeliveryStack(api, cluster=CLUSTER, listener=listener)
    await delivery.run_until_idle(
        outgoing("a", tag="nope"), outgoing("b", tag="nope"), outgoing("c", tag="web")
    )
    assert listener.drops == ["entity_not_found", "entity_not_found"]
    assert len([c for c in api.of("list") if c.tag == "nope"]) == 1
    assert len(api.events["web"]) == 1


async def test_a_missing_entity_is_reported_once_and_each_dropped_event_counted_once() -> None:
    # Four workers pick up the events of one workload at once; each event is updated twice.
    api, listener = MemoryCortex(entities={"web"}), Recording()
    delivery = DeliveryStack(api, cluster=CLUSTER, listener=listener)
    worker = asyncio.create_task(delivery.delivery.run())
    try:
        for phase in ("Pending", "Running", "Ready"):
            for key in ("pod/u1/created", "pod/u2/created", "deploy/d1/created"):
                await delivery.submit(outgoing(key, tag="nope", phase=phase))
            assert await delivery.queue.wait_idle(timeout=5)
    finally:
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker
    assert listener.missing == ["nope"], "one warning per tag per recheck window"
    assert listener.drops == ["entity_not_found"] * 3, "each dropped event counted once"
    assert len([c for c in api.of("list") if c.tag == "nope"]) == 1


async def test_a_missing_entity_is_asked_again_and_reported_again_after_the_recheck_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api, listener = MemoryCortex(entities={"web"}), Recording()
    delivery = DeliveryStack(api, cluster=CLUSTER, listener=listener)
    await delivery.run_until_idle(outgoing("a", tag="nope"))
    monkeypatch.setattr(loading, "NOT_FOUND_RECHECK_SECONDS", 0.0)
    await delivery.run_until_idle(outgoing("a", tag="nope", phase="Running"))
    assert listener.missing == ["nope", "nope"]
    assert listener.drops == ["entity_not_found", "entity_not_found"]
    api.entities = {"web", "nope"}  # the entity is created in Cortex
    await delivery.run_until_idle(outgoing("a", tag="nope", phase="Ready"))
    assert len(api.events["nope"]) == 1


async def test_an_event_rejected_again_after_an_update_is_counted_once() -> None:
    api, listener = MemoryCortex(), Recording()
    api.failures = [CortexBadRequest("customData too large", status_code=400) for _ in range(2)]
    delivery = DeliveryStack(api, cluster=CLUSTER, listener=listener)
    await delivery.run_until_idle(outgoing(phase="Pending"))
    await delivery.run_until_idle(outgoing(phase="Running"))
    assert listener.drops == ["rejected"]
    await delivery.run_until_idle(outgoing(phase="Ready"))
    await delivery.run_until_idle(outgoing(phase="Ready"))
    assert listener.results == ["created", "deduplicated"]


async def test_rejected_event_is_dropped_not_retried() -> None:
    api, listener = MemoryCortex(), Recording()
    api.failures = [CortexBadRequest("title is required", status_code=400)]
    delivery = DeliveryStack(api, cluster=CLUSTER, listener=listener)
    await delivery.run_until_idle(outgoing())
    assert listener.drops == ["rejected"]
    assert api.count("create") == 1


async def test_event_deleted_in_cortex_is_recorded_again_on_update() -> None:
    api = MemoryCortex()
    delivery = DeliveryStack(api, cluster=CLUSTER)
    await delivery.run_until_idle(outgoing(phase="Pending"))
    api.events["web"].clear()
    await delivery.run_until_idle(outgoing(phase="Running"))
    (event,) = api.events["web"].values()
    assert event.custom_data["phase"] == "Running"


async def test_submit_waits_when_the_queue_is_full() -> None:
    api = MemoryCortex()
    delivery = DeliveryStack(api, cluster=CLUSTER, max_queued=2)
    await delivery.submit(outgoing("a"))
    await delivery.submit(outgoing("b"))
    third = asyncio.create_task(delivery.submit(outgoing("c")))
    await asyncio.sleep(0.05)
    assert not third.done(), "a full queue applies back-pressure instead of dropping"
    await delivery.run_until_idle()
    await asyncio.wait_for(third, 1)
    await delivery.run_until_idle()
    assert len(api.events["web"]) == 3


async def test_drain_reports_what_could_not_be_delivered() -> None:
    api = MemoryCortex()
    api.failures = [CortexServerError("down", status_code=503) for _ in range(1000)]
    delivery = DeliveryStack(api, cluster=CLUSTER)
    worker = asyncio.create_task(delivery.delivery.run())
    await delivery.submit(outgoing())
    remaining = await delivery.delivery.drain(0.2)
    worker.cancel()
    with pytest.raises(asyncio.CancelledError):
        await worker
    assert remaining == 1
    assert isinstance(delivery.delivery.failure, CortexServerError), (
        "status can say Cortex is failing"
    )


async def test_a_429_pauses_delivery_for_as_long_as_its_retry_after_asks(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(pipeline, "PAUSE_CAP_SECONDS", 60.0)
    api = MemoryCortex()
    api.failures = [CortexRateLimited("slow down", retry_after=30)]
    delivery = DeliveryStack(api, cluster=CLUSTER)
    async with delivery.running() as running:
        await delivery.submit(outgoing())
        for _ in range(100):
            if running.paused:
                break
            await asyncio.sleep(0.01)
        assert running.paused
        assert delivery.queue.depth == 1, "the event waits, it is not dropped"
    assert "pausing delivery for 30s" in caplog.text
    assert api.count("create") == 1, "nothing was sent again before the server's delay"


# -- leader election -----------------------------------------------------------------------------


class Leadership:
    def __init__(self, leading: bool) -> None:
        self.leading = leading

    def __call__(self) -> bool:
        return self.leading


def fenced_stack(leadership: Leadership) -> tuple[MemoryCortex, DeliveryStack]:
    api = MemoryCortex(gate=Fence(leadership).check)
    return api, DeliveryStack(api, cluster=CLUSTER, leading=leadership)


async def test_a_standby_sends_nothing_and_sends_once_it_takes_over() -> None:
    leadership = Leadership(False)
    api, stack = fenced_stack(leadership)
    async with stack.running() as delivery:
        await stack.submit(outgoing())
        await asyncio.sleep(0.1)
        assert api.calls == [], "nothing at all reaches Cortex from a standby"
        assert delivery.paused
        leadership.leading = True
        delivery.took_over(check_for=0)
        assert await stack.queue.wait_idle(timeout=5)
    assert api.count("create") == 1


async def test_a_leader_that_loses_the_lease_mid_way_puts_the_event_back() -> None:
    leadership = Leadership(True)
    api, stack = fenced_stack(leadership)

    async def lose_then_answer(*_: object, **__: object) -> AsyncIterator[CustomEvent]:
        leadership.leading = False  # the renew deadline passed while the ledger loaded
        nothing: list[CustomEvent] = []
        for event in nothing:
            yield event

    api.iter_events = lose_then_answer  # type: ignore[method-assign]
    async with stack.running():
        await stack.submit(outgoing())
        await asyncio.sleep(0.2)
        assert api.count("create") == 0
        assert stack.queue.depth == 1, "kept for whoever leads next"


async def test_a_new_leader_looks_up_creates_the_expired_leader_may_have_sent() -> None:
    api = MemoryCortex()
    first = DeliveryStack(api, cluster=CLUSTER)
    await first.run_until_idle(outgoing("pod/u1/created"))
    second = DeliveryStack(api, cluster=CLUSTER)
    second.delivery.took_over(check_for=60)
    # Its ledger was loaded before the old leader's create landed: it does not know u1.
    second.ledger.tag("web").state = TagState.LOADED
    await second.run_until_idle(outgoing("pod/u1/created"), outgoing("pod/u2/created"))
    assert api.count("create") == 2, "u1 found by a look-up, u2 created"
    assert sorted(e.custom_data["eventKey"] for e in api.events["web"].values()) == [
        "pod/u1/created",
        "pod/u2/created",
    ]


async def test_a_standby_keeps_only_the_last_minute_of_what_it_would_send() -> None:
    queue = EventQueue()
    old, recent = outgoing("a"), outgoing("b")
    old.seen_at -= pipeline.STANDBY_KEEP_SECONDS + 1
    await queue.submit(old)
    await queue.submit(recent)
    assert queue.prune(time.monotonic() - pipeline.STANDBY_KEEP_SECONDS) == 1
    assert queue.depth == 1
