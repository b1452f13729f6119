"""The coalescing queue: one request in flight per key, holds for deletions, back-pressure."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from cortex_events.delivery.queue import EventQueue, Outgoing
from cortex_events.domain.priority import Priority
from cortex_events.domain.render import EventBody

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def item(key: str, phase: str = "Pending") -> Outgoing:
    body = EventBody(f"Pod {key}", "POD_CREATION", T0, phase, {"eventKey": key, "phase": phase})
    return Outgoing(tag="web", body=body, updatable=True, entities=())


def test_an_items_key_is_the_event_key_its_body_carries_and_held_nowhere_else() -> None:
    first = item("a")
    rendered_again = replace(first, body=item("b").body)
    assert first.key == "a"
    assert (rendered_again.key, rendered_again.queue_key) == ("b", ("web", "b"))


async def test_a_key_in_flight_is_not_taken_again_and_its_newer_content_waits() -> None:
    queue = EventQueue()
    await queue.submit(item("a"))
    taken = await queue.take()
    await queue.submit(item("a", "Running"))
    await queue.submit(item("b"))
    assert (await queue.take()).key == "b", "a's newer content waits for a's request"
    await queue.finish(taken.queue_key)
    newer = await queue.take()
    assert isinstance(newer, Outgoing)
    assert (newer.key, newer.body.description) == ("a", "Running")


async def test_a_hold_waits_for_the_request_in_flight_and_drops_what_was_queued() -> None:
    queue = EventQueue()
    await queue.submit(item("a"))
    taken = await queue.take()
    await queue.submit(item("a", "Running"))
    await queue.submit(item("b"))
    hold = asyncio.create_task(queue.hold([("web", "a"), ("web", "b")], discard=True))
    await asyncio.sleep(0.01)
    assert not hold.done(), "a is still in flight"
    await queue.finish(taken.queue_key)
    await asyncio.wait_for(hold, 1)
    assert queue.depth == 2, "both keys held, nothing queued for them any more"
    await queue.submit(item("b", "Running"))  # arrives during the hold: waits beside it
    await queue.release([("web", "a"), ("web", "b")])
    assert queue.depth == 1
    running = await queue.take()
    assert isinstance(running, Outgoing)
    assert running.body.description == "Running"


async def test_a_full_queue_makes_submit_wait() -> None:
    queue = EventQueue(max_queued=1)
    await queue.submit(item("a"))
    second = asyncio.create_task(queue.submit(item("b")))
    await asyncio.sleep(0.01)
    assert not second.done()
    taken = await queue.take()
    await queue.finish(taken.queue_key)
    await asyncio.wait_for(second, 1)
    assert queue.depth == 1


async def test_wait_idle_times_out_while_something_is_queued() -> None:
    queue = EventQueue()
    await queue.submit(item("a"))
    assert await queue.wait_idle(timeout=0.05) is False


@pytest.mark.parametrize("delay", [0.0, 0.05])
async def test_retry_later_counts_as_queued_until_it_is_back(delay: float) -> None:
    queue = EventQueue()
    queue.retry_later(item("a"), delay)
    assert queue.depth == 1
    back = await asyncio.wait_for(queue.take(), 1)
    assert back.key == "a"


def classed(key: str, priority: Priority, *, namespace: str = "shop", phase: str = "x") -> Outgoing:
    body = EventBody(key, "POD_CREATION", T0, phase, {"eventKey": key, "phase": phase})
    return Outgoing(
        tag="web",
        body=body,
        updatable=True,
        entities=(),
        priority=priority,
        source=(namespace, key),
    )


async def test_workers_take_failures_before_the_churn_queued_before_them() -> None:
    queue = EventQueue()
    for n in range(5):
        await queue.submit(classed(f"pod-{n}", Priority.CHURN))
    await queue.submit(classed("oom", Priority.FAILURE))
    await queue.submit(classed("rollout", Priority.WORKLOAD))
    assert [(await queue.take()).key for _ in range(3)] == ["oom", "rollout", "pod-0"]


async def test_an_item_whose_class_rises_while_it_waits_moves_up() -> None:
    queue = EventQueue()
    for n in range(3):
        await queue.submit(classed(f"other-{n}", Priority.WORKLOAD, namespace="a"))
    await queue.submit(classed("rollout", Priority.WORKLOAD, phase="InProgress"))
    await queue.submit(classed("rollout", Priority.FAILURE, phase="Failed"))
    first = await queue.take()
    assert isinstance(first, Outgoing)
    assert (first.key, first.priority, first.body.description) == (
        "rollout",
        Priority.FAILURE,
        "Failed",
    )
    assert queue.depth_of(Priority.FAILURE) == 1, "in flight"
    assert queue.depth_of(Priority.WORKLOAD) == 3


async def test_a_merge_never_lowers_a_class() -> None:
    queue = EventQueue()
    await queue.submit(classed("job", Priority.FAILURE, phase="Failed"))
    await queue.submit(classed("job", Priority.WORKLOAD, phase="Succeeded"))
    taken = await queue.take()
    assert isinstance(taken, Outgoing)
    assert (taken.priority, taken.body.description) == (Priority.FAILURE, "Succeeded")


async def test_a_take_kept_for_urgent_work_waits_while_only_churn_waits() -> None:
    queue = EventQueue()
    await queue.submit(classed("pod", Priority.CHURN))
    urgent = asyncio.create_task(queue.take(Priority.WORKLOAD))
    await asyncio.sleep(0.01)
    assert not urgent.done()
    await queue.submit(classed("oom", Priority.FAILURE))
    assert (await asyncio.wait_for(urgent, 1)).key == "oom"
    assert (await queue.take()).key == "pod"


async def test_depth_and_the_oldest_waiting_item_by_class() -> None:
    queue = EventQueue()
    old = classed("old", Priority.CHURN)
    old.seen_at -= 30
    await queue.submit(old)
    await queue.submit(classed("new", Priority.CHURN))
    assert queue.oldest_age(Priority.CHURN) >= 30
    assert queue.oldest_age(Priority.FAILURE) == 0.0
    assert queue.waiting(Priority.CHURN) == 2
    assert queue.depth_of(Priority.CHURN) == 2
    await queue.hold([("web", "retention")])
    assert queue.depth_of(Priority.HOUSEKEEPING) == 1
    assert queue.pending(("web", "new"))
    assert not queue.pending(("web", "retention"))


async def test_delivery_may_queue_its_own_follow_up_past_the_bound() -> None:
    queue = EventQueue(max_queued=1)
    await queue.submit(classed("a", Priority.CHURN))
    queue.put_nowait(classed("summary", Priority.CHURN))
    assert queue.depth == 2
    queue.put_nowait(classed("summary", Priority.CHURN, phase="newer"))
    assert queue.depth == 2, "merged with what waits for its key"
