"""The per-key token bucket: budget, burst, FIFO order, cancellation, the shared registry."""

from __future__ import annotations

import asyncio
import math

import pytest

from cortex_events.cortex.ratelimit import TokenBucket, Urgency, current_urgency, urgency


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


async def test_burst_goes_at_once_and_the_rest_waits_for_the_rate() -> None:
    time = FakeTime()
    # 65 a minute with a burst of 5: 5 at once, then 60 a minute (one a second).
    bucket = TokenBucket(65, burst=5, clock=time.clock, sleep=time.sleep)

    waits = [await bucket.acquire() for _ in range(8)]

    assert waits == [0.0] * 5 + [1.0] * 3
    assert time.now == 3.0


async def test_concurrent_callers_are_served_in_arrival_order() -> None:
    time = FakeTime()
    bucket = TokenBucket(32, burst=2, clock=time.clock, sleep=time.sleep)  # then one per 2 s
    granted: list[tuple[int, float]] = []

    async def caller(n: int) -> None:
        await bucket.acquire()
        granted.append((n, time.now))

    await asyncio.wait_for(asyncio.gather(*(caller(n) for n in range(5))), timeout=5)

    # Two at once, then one every 2 seconds (30 a minute), first come first served.
    assert granted == [(0, 0.0), (1, 0.0), (2, 2.0), (3, 4.0), (4, 6.0)]


async def test_tokens_refill_while_idle_up_to_the_burst() -> None:
    time = FakeTime()
    bucket = TokenBucket(124, burst=4, clock=time.clock, sleep=time.sleep)  # refills 2 a second
    for _ in range(4):
        await bucket.acquire()

    assert bucket.tokens == 0.0
    time.now += 1.0
    assert bucket.tokens == 2.0
    time.now += 60.0
    assert bucket.tokens == 4.0


async def test_a_cancelled_waiter_gives_up_its_place() -> None:
    now = [0.0]
    gate = asyncio.Event()

    async def blocked_sleep(seconds: float) -> None:
        await gate.wait()

    bucket = TokenBucket(61, burst=1, clock=lambda: now[0], sleep=blocked_sleep)  # 1 a second
    await bucket.acquire()
    second = asyncio.create_task(bucket.acquire())
    third = asyncio.create_task(bucket.acquire())
    for _ in range(3):
        await asyncio.sleep(0)
    assert bucket.waiting == 2

    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    assert bucket.waiting == 1

    now[0] = 1.0
    gate.set()
    assert await asyncio.wait_for(third, timeout=5) == 1.0
    assert bucket.waiting == 0


@pytest.mark.parametrize(("per_minute", "burst"), [(600, 10), (1000, 17), (30, 1), (60, 1)])
def test_default_burst_is_one_second_of_budget(per_minute: float, burst: int) -> None:
    bucket = TokenBucket(per_minute)

    assert bucket.burst == burst
    assert bucket.per_minute == per_minute


@pytest.mark.parametrize(
    ("per_minute", "burst"), [(0, None), (-5, None), (math.nan, None), (math.inf, None), (60, 0)]
)
def test_invalid_configuration_is_refused(per_minute: float, burst: int | None) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message names the bad argument
        TokenBucket(per_minute, burst=burst)


def test_a_bucket_never_shows_a_key() -> None:
    assert repr(TokenBucket(600)) == "TokenBucket(per_minute=600, burst=10)"


async def test_no_window_of_a_minute_ever_exceeds_the_budget() -> None:
    time = FakeTime()
    bucket = TokenBucket(600, clock=time.clock, sleep=time.sleep)
    stamps = []
    while time.now < 180:
        await bucket.acquire()
        stamps.append(time.now)
    busiest = max(sum(1 for t in stamps if start <= t < start + 60) for start in stamps)
    assert busiest <= 600, "the budget is a ceiling for every 60-second window"
    assert len(stamps) / 3 >= 0.97 * 600, "and it is nearly all usable"


# -- urgency: the most urgent caller first ---------------------------------------------------


class ManualTime:
    """Time that moves only when the test says: sleepers wait until it has moved far enough,
    so that every caller is queued before any token is handed out."""

    def __init__(self) -> None:
        self.now = 0.0
        self._moved = asyncio.Condition()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        until = self.now + seconds
        async with self._moved:
            await self._moved.wait_for(lambda: self.now >= until)

    async def advance(self, seconds: float) -> None:
        for _ in range(10):
            await asyncio.sleep(0)  # everyone queued and asleep first
        async with self._moved:
            self.now += seconds
            self._moved.notify_all()
        for _ in range(10):
            await asyncio.sleep(0)


async def callers(
    bucket: TokenBucket,
    time: ManualTime,
    *who: tuple[str, int | Urgency | None],
    times: list[float] | None = None,
) -> list[str]:
    """Start ``who`` in order (a name and an urgency each), then let time run until all have
    a token; returns the names in the order they got it (``times``: when)."""
    granted: list[str] = []

    async def caller(name: str, level: int | Urgency | None) -> None:
        if level is None:
            await bucket.acquire()
        else:
            with urgency(level):
                await bucket.acquire()
        granted.append(name)
        if times is not None:
            times.append(time.now)

    tasks = []
    for name, level in who:
        tasks.append(asyncio.create_task(caller(name, level)))
        await asyncio.sleep(0)
    while len(granted) < len(who):
        await time.advance(1.0)
    await asyncio.gather(*tasks)
    return granted


async def test_the_most_urgent_caller_gets_the_next_token_whoever_came_first() -> None:
    time = ManualTime()
    bucket = TokenBucket(61, burst=1, clock=time.clock, sleep=time.sleep)  # then one a second
    await bucket.acquire()  # the burst is spent
    granted = await callers(
        bucket,
        time,
        *((f"churn-{n}", 2) for n in range(3)),
        ("failure", 0),
        ("rollout", 1),
    )
    assert granted == ["failure", "rollout", "churn-0", "churn-1", "churn-2"]


async def test_raising_a_waiting_callers_urgency_moves_it_up() -> None:
    time = ManualTime()
    bucket = TokenBucket(61, burst=1, clock=time.clock, sleep=time.sleep)
    await bucket.acquire()
    loading = Urgency(2)
    waiting = asyncio.create_task(
        callers(bucket, time, ("churn-0", 2), ("churn-1", 2), ("load", loading))
    )
    await asyncio.sleep(0)
    loading.raise_to(0)  # a failure now waits for what this caller is doing
    assert await asyncio.wait_for(waiting, 5) == ["load", "churn-0", "churn-1"]


async def test_without_an_urgency_a_caller_has_the_buckets_default() -> None:
    time = ManualTime()
    bucket = TokenBucket(61, burst=1, default_level=1, clock=time.clock, sleep=time.sleep)
    await bucket.acquire()
    granted = await callers(bucket, time, ("churn", 2), ("default", None), ("failure", 0))
    assert granted == ["failure", "default", "churn"]
    assert current_urgency() is None, "the block's urgency ends with it"


async def test_a_pause_holds_every_caller_then_the_most_urgent_goes_first() -> None:
    time = ManualTime()
    bucket = TokenBucket(600, clock=time.clock, sleep=time.sleep)  # a burst of 10
    bucket.pause(30.0)  # Cortex answered 429 with Retry-After: 30
    times: list[float] = []
    granted = await callers(
        bucket, time, ("churn-0", 2), ("churn-1", 2), ("churn-2", 2), ("failure", 0), times=times
    )
    assert granted == ["failure", "churn-0", "churn-1", "churn-2"]
    assert min(times) >= 30.0, "nobody went during the pause"


async def test_after_a_pause_tokens_come_one_at_a_time_not_as_a_burst() -> None:
    time = FakeTime()
    bucket = TokenBucket(600, clock=time.clock, sleep=time.sleep)  # a burst of 10, then 590/min
    bucket.pause(30.0)
    stamps = []
    for _ in range(3):
        await bucket.acquire()
        stamps.append(time.now)
    assert stamps[0] == pytest.approx(30.0)
    assert stamps[1] - stamps[0] == pytest.approx(60 / 590)
    assert stamps[2] - stamps[1] == pytest.approx(60 / 590)
