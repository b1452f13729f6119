"""Leader election on a Lease: acquire, renew, fence, expire, release, refusals."""

from __future__ import annotations

import copy
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cortex_events.kube.leases import (
    ElectionSettings,
    LeaderElector,
    LeaseConflict,
    LeaseForbidden,
)


class FakeLeases:
    """An API server's Lease store: optimistic concurrency on resourceVersion."""

    def __init__(self) -> None:
        self.leases: dict[tuple[str, str], dict[str, Any]] = {}
        self.version = 0
        self.forbidden: set[str] = set()  # identities refused
        self.caller = ""

    def _check(self) -> None:
        if self.caller in self.forbidden:
            raise LeaseForbidden(self.caller)

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        self._check()
        found = self.leases.get((namespace, name))
        return copy.deepcopy(found) if found else None

    async def create_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        self._check()
        key = (namespace, body["metadata"]["name"])
        if key in self.leases:
            raise LeaseConflict("exists")
        return self._store(key, body)

    async def replace_lease(
        self, namespace: str, name: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        self._check()
        current = self.leases[(namespace, name)]
        if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise LeaseConflict("stale")
        return self._store((namespace, name), body)

    def _store(self, key: tuple[str, str], body: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        stored = copy.deepcopy(body)
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.leases[key] = stored
        return copy.deepcopy(stored)

    def spec(self) -> dict[str, Any]:
        return dict(self.leases[("ops", "cortex-events-operator")]["spec"])


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return datetime(2026, 12, 1, tzinfo=UTC) + timedelta(seconds=self.now)


class Candidate:
    def __init__(self, api: FakeLeases, clock: Clock, identity: str) -> None:
        self.api = api
        self.identity = identity
        self.changes: list[bool] = []
        self.elector = LeaderElector(
            api,
            ElectionSettings(namespace="ops", identity=identity),
            on_change=self.changes.append,
            clock=clock,
            wall=clock.wall,
        )

    async def attempt(self) -> bool:
        self.api.caller = self.identity
        return await self.elector.attempt()


@pytest.fixture
def world() -> tuple[FakeLeases, Clock, Candidate, Candidate]:
    api, clock = FakeLeases(), Clock()
    return api, clock, Candidate(api, clock, "a"), Candidate(api, clock, "b")


async def test_the_first_candidate_creates_and_holds_the_lease(
    world: tuple[FakeLeases, Clock, Candidate, Candidate],
) -> None:
    api, _, a, b = world
    assert await a.attempt() is True
    assert await b.attempt() is False
    spec = api.spec()
    assert spec["holderIdentity"] == "a"
    assert spec["leaseDurationSeconds"] == 15
    assert spec["leaseTransitions"] == 0
    assert a.changes == [True]
    assert b.changes == []
    assert b.elector.holder == "a"


async def test_a_renewing_leader_keeps_the_lease(
    world: tuple[FakeLeases, Clock, Candidate, Candidate],
) -> None:
    api, clock, a, b = world
    await a.attempt()
    for _ in range(30):  # a minute of 2-second rounds
        clock.now += 2
        assert await a.attempt() is True
        assert await b.attempt() is False
    assert api.spec()["holderIdentity"] == "a"


async def test_a_leader_that_cannot_renew_stops_before_anyone_else_may_start(
    world: tuple[FakeLeases, Clock, Candidate, Candidate],
) -> None:
    api, clock, a, b = world
    await a.attempt()
    await b.attempt()  # b observes a's record now
    # a is cut off (a partition): it renews no more. Step through time in half seconds.
    leaders_at: list[tuple[float, bool, bool]] = []
    took_from: list[str | None] = []
    for _ in range(40):
        clock.now += 0.5
        b_leads = await b.attempt()
        if b_leads and not took_from:
            took_from.append(b.elector.took_from)
        leaders_at.append((clock.now, a.elector.leading, b_leads))
    assert not any(a_leads and b_leads for _, a_leads, b_leads in leaders_at)
    a_stopped = next(t for t, a_leads, _ in leaders_at if not a_leads)
    b_started = next(t for t, _, b_leads in leaders_at if b_leads)
    assert a_stopped == pytest.approx(1010.0)  # the renew deadline
    assert b_started == pytest.approx(1015.0)  # the lease duration, as b observed it
    assert api.spec()["holderIdentity"] == "b"
    assert api.spec()["leaseTransitions"] == 1
    assert took_from == ["a"], "an expired Lease: a's last requests may still land"
    assert b.elector.took_from is None, "once renewed, there is no one to take over from"
    # a comes back: its renewal is refused (b wrote since), and it does not lead again.
    assert await a.attempt() is False
    assert a.changes == [True, False]


async def test_a_released_lease_is_taken_at_once(
    world: tuple[FakeLeases, Clock, Candidate, Candidate],
) -> None:
    api, clock, a, b = world
    await a.attempt()
    await b.attempt()
    api.caller = "a"
    await a.elector.release()
    assert a.elector.leading is False
    assert api.spec()["holderIdentity"] is None
    clock.now += 0.1
    assert await b.attempt() is True
    assert b.elector.took_from is None, "a released Lease: a sent everything before"


async def test_denied_access_is_one_line_and_standby(
    world: tuple[FakeLeases, Clock, Candidate, Candidate],
    caplog: pytest.LogCaptureFixture,
) -> None:
    api, clock, a, _ = world
    api.forbidden.add("a")
    with caplog.at_level(logging.WARNING, logger="cortex_events.leadership"):
        for _ in range(5):
            clock.now += 2
            assert await a.attempt() is False
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == [
        "Leader election: access to Lease ops/cortex-events-operator is denied (RBAC); "
        "staying standby"
    ]


async def test_two_candidates_racing_to_create_never_both_win() -> None:
    api, clock = FakeLeases(), Clock()
    a, b = Candidate(api, clock, "a"), Candidate(api, clock, "b")
    original = api.get_lease

    async def both_see_nothing(namespace: str, name: str) -> dict[str, Any] | None:
        return None  # each read happens before the other's create lands

    api.get_lease = both_see_nothing  # type: ignore[method-assign]
    results = [await a.attempt(), await b.attempt()]
    api.get_lease = original  # type: ignore[method-assign]
    assert results == [True, False]


def test_timings_must_nest() -> None:
    with pytest.raises(ValueError, match="retry period < renew deadline < lease duration"):
        ElectionSettings(namespace="ops", identity="a", lease_duration=10, renew_deadline=10)


async def test_the_lease_is_owned_by_the_service_account_and_keeps_what_others_set(
    world: tuple[FakeLeases, Clock, Candidate, Candidate],
) -> None:
    """Owned by the operator's ServiceAccount, the Lease goes when the ServiceAccount goes
    (helm uninstall); a replace keeps the labels and owners that others set."""
    api, _, a, b = world
    owner = {"apiVersion": "v1", "kind": "ServiceAccount", "name": "op", "uid": "sa-1"}
    for candidate in (a, b):
        candidate.elector.settings = ElectionSettings("ops", candidate.identity, owner=owner)
    assert await a.attempt() is True
    metadata = api.leases[("ops", "cortex-events-operator")]["metadata"]
    assert metadata["ownerReferences"] == [owner]
    metadata["labels"] = {"team": "platform"}
    await a.attempt()  # a renewal: a replace of the whole object
    metadata = api.leases[("ops", "cortex-events-operator")]["metadata"]
    assert metadata["labels"] == {"team": "platform"}
    assert metadata["ownerReferences"] == [owner], "not twice"
