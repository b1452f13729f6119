"""Delivery: coalescing, create/update/skip against the ledger, failures that lose nothing."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from cortex_events.cortex.errors import (
    CortexAuthError,
    CortexBadRequest,
    CortexConnectionError,
    CortexError,
    CortexNotFound,
    CortexRateLimited,
    CortexResponseError,
    CortexServerError,
)
from cortex_events.cortex.models import CustomEvent, CustomEventRequest
from cortex_events.delivery import pipeline
from cortex_events.delivery.pipeline import Delivery, NullListener, Outgoing
from cortex_events.domain.render import MANAGED_BY, EventBody

T0 = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
CLUSTER = "test"


class FakeApi:
    """An in-memory Cortex with programmable failures, recording every call."""

    def __init__(self, *, entities: set[str] | None = None) -> None:
        self.events: dict[str, dict[str, CustomEvent]] = {}
        self.calls: list[tuple[str, str]] = []
        self.entities = entities
        self.failures: list[CortexError] = []  # raised, in order, by the next create/update calls
        self.lose_answer_once = False  # create stores the event, then raises "connection lost"
        self.fail_after_storing_once = False  # create stores the event, then answers 500
        # create stores the event, then raises this (a garbled answer, an unexpected error)
        self.raise_after_storing: BaseException | None = None
        self._ids = itertools.count(1)

    def _check(self, tag: str) -> None:
        if self.entities is not None and tag not in self.entities:
            raise CortexNotFound(f"entity {tag} not found", status_code=404)

    async def iter_events(
        self,
        tag: str,
        *,
        type: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        page_size: int = 1000,
    ) -> AsyncIterator[CustomEvent]:
        self.calls.append(("list", tag))
        self._check(tag)
        for event in list(self.events.get(tag, {}).values()):
            if type is not None and event.type != type:
                continue
            if start_time is not None and event.timestamp < start_time:
                continue
            if end_time is not None and event.timestamp > end_time:
                continue
            yield event

    def _store(self, tag: str, uuid: str, event: CustomEventRequest) -> CustomEvent:
        stored = CustomEvent.model_validate({**event.to_json(), "uuid": uuid})
        self.events.setdefault(tag, {})[uuid] = stored
        return stored

    async def create_event(self, tag: str, event: CustomEventRequest) -> CustomEvent:
        self.calls.append(("create", tag))
        self._check(tag)
        if self.failures:
            raise self.failures.pop(0)
        stored = self._store(tag, f"uuid-{next(self._ids)}", event)
        if self.fail_after_storing_once:
            self.fail_after_storing_once = False
            raise CortexServerError("internal error", status_code=500)
        if self.lose_answer_once:
            self.lose_answer_once = False
            raise CortexConnectionError(
                "connection reset while reading the answer", request_sent=True
            )
        if self.raise_after_storing is not None:
            error, self.raise_after_storing = self.raise_after_storing, None
            raise error
        return stored

    async def update_event(self, tag: str, uuid: str, event: CustomEventRequest) -> CustomEvent:
        self.calls.append(("update", tag))
        if self.failures:
            raise self.failures.pop(0)
        if uuid not in self.events.get(tag, {}):
            raise CortexNotFound("event not found", status_code=404)
        return self._store(tag, uuid, event)

    async def delete_event(self, tag: str, uuid: str) -> None:
        self.calls.append(("delete", tag))
        self.events.get(tag, {}).pop(uuid, None)

    async def delete_events(
        self,
        tag: str,
        *,
        type: str,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
    ) -> None:
        raise AssertionError("delivery never deletes")

    def count(self, kind: str) -> int:
        return sum(1 for call, _ in self.calls if call == kind)


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
            "uid": "u1",
            "phase": phase,
            "cortexEntities": ["shop/web"],
        },
    )
    return Outgoing(tag=tag, key=key, body=body, updatable=updatable, entities=("shop/web",))


@pytest.fixture(autouse=True)
def fast_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "PAUSE_INITIAL_SECONDS", 0.01)
    monkeypatch.setattr(pipeline, "PAUSE_CAP_SECONDS", 0.05)


async def run_until_idle(delivery: Delivery, *items: Outgoing) -> None:
    worker = asyncio.create_task(delivery.run())
    try:
        for item in items:
            await delivery.submit(item)
        assert await delivery.wait_idle(timeout=5), "delivery did not finish"
    finally:
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker


async def test_new_event_is_created_once_then_deduplicated() -> None:
    api, listener = FakeApi(), Recording()
    delivery = Delivery(api, cluster=CLUSTER, listener=listener)
    await run_until_idle(delivery, outgoing())
    await run_until_idle(delivery, outgoing())
    assert api.count("create") == 1
    assert listener.results == ["created", "deduplicated"]
    assert api.count("list") == 1, "the tag's ledger is loaded once"


async def test_changed_updatable_event_is_put_on_the_same_uuid_with_its_first_timestamp() -> None:
    api = FakeApi()
    delivery = Delivery(api, cluster=CLUSTER)
    await run_until_idle(delivery, outgoing(phase="Pending"))
    later = outgoing(phase="Running")
    later.body = EventBody(
        title=later.body.title,
        type=later.body.type,
        timestamp=T0 + timedelta(minutes=5),
        description=later.body.description,
        custom_data=later.body.custom_data,
    )
    await run_until_idle(delivery, later)
    (event,) = api.events["web"].values()
    assert event.custom_data["phase"] == "Running"
    assert event.timestamp == T0
    assert api.count("create") == 1
    assert api.count("update") == 1


async def test_non_updatable_event_is_never_put() -> None:
    api = FakeApi()
    delivery = Delivery(api, cluster=CLUSTER)
    key = "pod/u1/failed"
    await run_until_idle(delivery, outgoing(key, phase="Failed", updatable=False))
    await run_until_idle(delivery, outgoing(key, phase="Other", updatable=False))
    assert api.count("create") == 1
    assert api.count("update") == 0


async def test_many_changes_of_one_key_while_queued_coalesce_into_one_request() -> None:
    api = FakeApi()
    delivery = Delivery(api, cluster=CLUSTER)
    for phase in ("Pending", "ContainerCreating", "Running", "Ready"):
        await delivery.submit(outgoing(phase=phase))
    assert delivery.depth == 1
    await run_until_idle(delivery)
    assert api.count("create") == 1
    assert api.count("update") == 0
    (event,) = api.events["web"].values()
    assert event.custom_data["phase"] == "Ready"


async def test_restart_rebuilds_the_ledger_from_cortex_and_records_nothing_twice() -> None:
    api = FakeApi()
    first = Delivery(api, cluster=CLUSTER)
    await run_until_idle(first, outgoing("pod/u1/created"), outgoing("pod/u2/created"))
    second = Delivery(api, cluster=CLUSTER)  # a new process: empty memory
    await run_until_idle(
        second, outgoing("pod/u1/created"), outgoing("pod/u2/created"), outgoing("pod/u3/created")
    )
    assert api.count("create") == 3
    keys = sorted(e.custom_data["eventKey"] for e in api.events["web"].values())
    assert keys == ["pod/u1/created", "pod/u2/created", "pod/u3/created"]


async def test_events_of_another_cluster_or_tool_are_not_taken_as_ours() -> None:
    api = FakeApi()
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
    delivery = Delivery(api, cluster=CLUSTER)
    await run_until_idle(delivery, outgoing("pod/u1/created"))
    assert api.count("create") == 1


async def test_outage_keeps_the_event_and_delivers_it_when_cortex_is_back() -> None:
    api, listener = FakeApi(), Recording()
    api.failures = [CortexServerError("down", status_code=503) for _ in range(3)]
    delivery = Delivery(api, cluster=CLUSTER, listener=listener)
    await run_until_idle(delivery, outgoing())
    assert api.count("create") == 4
    assert len(api.events["web"]) == 1
    assert listener.drops == []
    assert listener.failing[-1] is None, "recovery is reported"
    assert delivery.failure is None


async def test_a_refused_key_keeps_events_until_it_is_accepted() -> None:
    api, listener = FakeApi(), Recording()
    api.failures = [CortexAuthError("bad key", status_code=401)]
    delivery = Delivery(api, cluster=CLUSTER, listener=listener)
    await run_until_idle(delivery, outgoing())
    assert len(api.events["web"]) == 1
    assert isinstance(listener.failing[0], CortexAuthError)


async def test_lost_answer_to_a_create_is_checked_before_creating_again() -> None:
    api = FakeApi()
    api.lose_answer_once = True
    delivery = Delivery(api, cluster=CLUSTER)
    await run_until_idle(delivery, outgoing())
    assert len(api.events["web"]) == 1, "no duplicate after an ambiguous create"
    assert api.count("create") == 1


async def test_a_server_error_after_storing_does_not_make_a_duplicate() -> None:
    api = FakeApi()
    api.fail_after_storing_once = True
    delivery = Delivery(api, cluster=CLUSTER)
    await run_until_idle(delivery, outgoing())
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
    api = FakeApi()
    api.raise_after_storing = error
    delivery = Delivery(api, cluster=CLUSTER)
    await run_until_idle(delivery, outgoing())
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
    api = FakeApi()
    api.failures = [error]
    delivery = Delivery(api, cluster=CLUSTER)
    await run_until_idle(delivery, outgoing())
    assert len(api.events["web"]) == 1
    assert api.count("create") == 2
    assert api.count("list") == 1, "only the ledger load"


async def test_a_recreated_event_is_not_duplicated_when_the_answer_is_lost() -> None:
    # Deleted in Cortex behind the operator's back, then recreated by the next update.
    api = FakeApi()
    delivery = Delivery(api, cluster=CLUSTER)
    await run_until_idle(delivery, outgoing(phase="Pending"))
    api.events["web"].clear()  # deleted in Cortex by hand
    api.lose_answer_once = True
    later = outgoing(phase="Running")
    later.body = replace(later.body, timestamp=T0 + timedelta(minutes=5))
    await run_until_idle(delivery, later)
    (event,) = api.events["web"].values()
    assert event.custom_data["phase"] == "Running"
    assert event.timestamp == T0, "recreated with the event's first timestamp"
    assert api.count("create") == 2, "the first create and one recreate, found by the look-up"


async def test_unknown_entity_drops_with_a_reason_and_asks_cortex_once() -> None:
    api, listener = FakeApi(entities={"web"}), Recording()
    delivery = Delivery(api, cluster=CLUSTER, listener=listener)
    await run_until_idle(
        delivery, outgoing("a", tag="nope"), outgoing("b", tag="nope"), outgoing("c", tag="web")
    )
    assert listener.drops == ["entity_not_found", "entity_not_found"]
    assert api.calls.count(("list", "nope")) == 1
    assert len(api.events["web"]) == 1


async def test_a_missing_entity_is_reported_once_and_each_dropped_event_counted_once() -> None:
    # Four workers pick up the events of one workload at once; each event is updated twice.
    api, listener = FakeApi(entities={"web"}), Recording()
    delivery = Delivery(api, cluster=CLUSTER, listener=listener, workers=4)
    worker = asyncio.create_task(delivery.run())
    try:
        for phase in ("Pending", "Running", "Ready"):
            for key in ("pod/u1/created", "pod/u2/created", "deploy/d1/created"):
                await delivery.submit(outgoing(key, tag="nope", phase=phase))
            assert await delivery.wait_idle(timeout=5)
    finally:
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker
    assert listener.missing == ["nope"], "one warning per tag per recheck window"
    assert listener.drops == ["entity_not_found"] * 3, "each dropped event counted once"
    assert api.calls.count(("list", "nope")) == 1


async def test_a_missing_entity_is_asked_again_and_reported_again_after_the_recheck_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api, listener = FakeApi(entities={"web"}), Recording()
    delivery = Delivery(api, cluster=CLUSTER, listener=listener)
    await run_until_idle(delivery, outgoing("a", tag="nope"))
    monkeypatch.setattr(pipeline, "NOT_FOUND_RECHECK_SECONDS", 0.0)
    await run_until_idle(delivery, outgoing("a", tag="nope", phase="Running"))
    assert listener.missing == ["nope", "nope"]
    assert listener.drops == ["entity_not_found", "entity_not_found"]
    api.entities = {"web", "nope"}  # the entity is created in Cortex
    await run_until_idle(delivery, outgoing("a", tag="nope", phase="Ready"))
    assert len(api.events["nope"]) == 1


async def test_an_event_rejected_again_after_an_update_is_counted_once() -> None:
    api, listener = FakeApi(), Recording()
    api.failures = [CortexBadRequest("customData too large", status_code=400) for _ in range(2)]
    delivery = Delivery(api, cluster=CLUSTER, listener=listener)
    await run_until_idle(delivery, outgoing(phase="Pending"))
    await run_until_idle(delivery, outgoing(phase="Running"))
    assert listener.drops == ["rejected"]
    await run_until_idle(delivery, outgoing(phase="Ready"))
    await run_until_idle(delivery, outgoing(phase="Ready"))
    assert listener.results == ["created", "deduplicated"]


async def test_rejected_event_is_dropped_not_retried() -> None:
    api, listener = FakeApi(), Recording()
    api.failures = [CortexBadRequest("title is required", status_code=400)]
    delivery = Delivery(api, cluster=CLUSTER, listener=listener)
    await run_until_idle(delivery, outgoing())
    assert listener.drops == ["rejected"]
    assert api.count("create") == 1


async def test_event_deleted_in_cortex_is_recorded_again_on_update() -> None:
    api = FakeApi()
    delivery = Delivery(api, cluster=CLUSTER)
    await run_until_idle(delivery, outgoing(phase="Pending"))
    api.events["web"].clear()
    await run_until_idle(delivery, outgoing(phase="Running"))
    (event,) = api.events["web"].values()
    assert event.custom_data["phase"] == "Running"


async def test_submit_waits_when_the_queue_is_full() -> None:
    api = FakeApi()
    delivery = Delivery(api, cluster=CLUSTER, max_queued=2)
    await delivery.submit(outgoing("a"))
    await delivery.submit(outgoing("b"))
    third = asyncio.create_task(delivery.submit(outgoing("c")))
    await asyncio.sleep(0.05)
    assert not third.done(), "a full queue applies back-pressure instead of dropping"
    await run_until_idle(delivery)
    await asyncio.wait_for(third, 1)
    await run_until_idle(delivery)
    assert len(api.events["web"]) == 3


async def test_drain_reports_what_could_not_be_delivered() -> None:
    api = FakeApi()
    api.failures = [CortexServerError("down", status_code=503) for _ in range(1000)]
    delivery = Delivery(api, cluster=CLUSTER)
    worker = asyncio.create_task(delivery.run())
    await delivery.submit(outgoing())
    remaining = await delivery.drain(0.2)
    worker.cancel()
    with pytest.raises(asyncio.CancelledError):
        await worker
    assert remaining == 1
    assert isinstance(delivery.failure, CortexServerError), "status can say Cortex is failing"
