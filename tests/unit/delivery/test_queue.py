"""The coalescing queue: one request in flight per key, holds for deletions, back-pressure."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from cortex_events.delivery.queue import EventQueue, Outgoing
from cortex_events.domain.render import EventBody

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def item(key: str, phase: str = "Pending") -> Outgoing:
    body = EventBody(f"Pod {key}", "POD_CREATION", T0, phase, {"phase": phase})
    return Outgoing(tag="web", key=key, body=body, updatable=True, entities=())


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
