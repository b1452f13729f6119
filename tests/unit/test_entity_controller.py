"""CortexEntity objects: the store, status through one writer, retention and cleanup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cortex_events.controllers.entities import EntityController, EntityStore
from cortex_events.controllers.entity_status import (
    EntityActivity,
    EntityFacts,
    build_status,
)
from cortex_events.cortex.errors import CortexAuthError
from cortex_events.delivery.deletions import Deleter
from cortex_events.domain.priority import Priority
from cortex_events.domain.render import MANAGED_BY
from cortex_events.domain.specs import EntitySpec, SpecError
from cortex_events.kube.events import InvolvedObject
from tests.support.cortex_double import MemoryCortex
from tests.support.delivery_stack import DeliveryStack

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
CLUSTER = "test"
TAG = "payments-api"


def ours(key: str, **extra: Any) -> dict[str, Any]:
    return {
        "cluster": CLUSTER,
        "managedBy": MANAGED_BY,
        "eventKey": key,
        "namespace": "shop",
        "kind": "Pod",
        "name": key,
        "uid": f"uid-{key}",
        "cortexEntities": ["shop/payments"],
        **extra,
    }


def body(generation: int = 2, **fields: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "payments",
            "namespace": "shop",
            "uid": "u",
            "generation": generation,
        },
        "spec": {"tag": TAG, **fields},
    }


class Notices:
    def __init__(self) -> None:
        self.posted: list[tuple[str, str, str]] = []

    def info(self, about: InvolvedObject, reason: str, message: str) -> None:
        self.posted.append(("Normal", reason, message))

    def warn(self, about: InvolvedObject, reason: str, message: str) -> None:
        self.posted.append(("Warning", reason, message))


class StatusWrites:
    def __init__(self) -> None:
        self.writes: list[tuple[str, str, dict[str, Any]]] = []

    async def patch_status(
        self, resource: tuple[str, str, str], namespace: str, name: str, status: dict[str, Any]
    ) -> None:
        self.writes.append((namespace, name, status))


class Matches:
    def matched_workloads(self) -> dict[str, int]:
        return {"shop/payments": 3}


class Harness:
    def __init__(self, cortex: MemoryCortex) -> None:
        self.cortex = cortex
        self.stack = DeliveryStack(cortex, cluster=CLUSTER)
        self.store = EntityStore()
        self.notices = Notices()
        self.status = StatusWrites()
        self.activity = EntityActivity()
        self.mapping_changes: list[str] = []
        self.controller = EntityController(
            self.store,
            delivery=self.stack.delivery,
            deleter=Deleter(
                cortex, self.stack.queue, self.stack.ledger, deploys=cortex, cluster=CLUSTER
            ),
            ledger=self.stack.ledger,
            api=cortex,
            matches=Matches(),
            status=self.status,
            notices=self.notices,
            activity=self.activity,
            on_mapping_changed=self.mapping_changes.append,
            cluster=CLUSTER,
            status_interval=60,
            retention_interval=600,
            clock=lambda: NOW,
            records_deploys=lambda spec: spec.deploys.enabled is True,
        )

    def spec(self, **fields: Any) -> EntitySpec:
        record = self.store.observe(body(**fields))
        assert isinstance(record.parsed, EntitySpec)
        return record.parsed


def seed(cortex: MemoryCortex, uuid: str, age: timedelta, data: dict[str, Any], **kw: Any) -> None:
    cortex.add(
        TAG, uuid, type=kw.get("type", "POD_CREATION"), timestamp=NOW - age, custom_data=data
    )


# -- the store -----------------------------------------------------------------------------------


def test_the_store_parses_a_spec_once_per_generation() -> None:
    store = EntityStore()
    first = store.observe(body(retention="720h"))
    again = store.observe({**body(retention="720h"), "status": {"eventsRecorded": 4}})
    assert again is first, "a status change is not a new spec"
    assert again.status == {"eventsRecorded": 4}
    changed = store.observe(body(generation=3, retention="banana"))
    assert isinstance(changed.parsed, SpecError)
    assert changed.parsed.field == "spec.retention"
    assert store.in_namespace("shop") == [], "an invalid spec maps nothing"
    store.observe(body(generation=4))
    assert [s.tag for s in store.in_namespace("shop")] == [TAG]
    assert store.spec("shop/payments") is not None
    assert store.remove("shop", "payments") is not None
    assert store.records() == []


async def test_an_invalid_spec_is_a_warning_event_naming_the_field() -> None:
    harness = Harness(MemoryCortex())
    parsed = await harness.controller.spec_changed(body(retention="banana"))
    assert isinstance(parsed, SpecError)
    ((kind, reason, message),) = harness.notices.posted
    assert (kind, reason) == ("Warning", "InvalidSpec")
    assert message.startswith("spec.retention")
    assert harness.mapping_changes == ["shop"], "its old mapping is withdrawn at once"


async def test_an_unknown_tag_is_a_warning_event() -> None:
    harness = Harness(MemoryCortex(entities=set()))
    await harness.controller.spec_changed(body())
    assert [p[:2] for p in harness.notices.posted] == [("Warning", "EntityNotFound")]


async def test_status_is_written_by_the_loop_once_and_again_only_when_it_changes() -> None:
    harness = Harness(MemoryCortex())
    await harness.controller.spec_changed(body())
    await harness.controller.refresh(retention=False)
    ((namespace, name, status),) = harness.status.writes
    assert (namespace, name) == ("shop", "payments")
    assert status["matchedWorkloads"] == 3
    assert status["conditions"][0]["reason"] == "Synced"
    assert status["conditions"][0]["lastTransitionTime"] == "2026-11-26T12:00:00Z"
    await harness.controller.refresh(retention=False)
    assert len(harness.status.writes) == 1, "nothing changed: nothing written"


async def test_activity_is_posted_as_one_aggregated_event() -> None:
    harness = Harness(MemoryCortex())
    await harness.controller.spec_changed(body())
    for event_type in ("POD_CREATION", "POD_CREATION", "DEPLOYMENT_ROLLOUT"):
        harness.activity.recorded("shop/payments", event_type)
    await harness.controller.refresh(retention=False)
    assert harness.notices.posted[-1] == (
        "Normal",
        "Recorded",
        "Recorded 3 events (DEPLOYMENT_ROLLOUT 1, POD_CREATION 2)",
    )


# -- retention and cleanup -----------------------------------------------------------------------


async def test_retention_with_only_owned_expired_events_sends_one_typed_bounded_delete() -> None:
    cortex = MemoryCortex()
    seed(cortex, "old-1", timedelta(days=40), ours("a"))
    seed(cortex, "old-2", timedelta(days=35), ours("b"))
    seed(cortex, "new", timedelta(days=1), ours("c"))
    harness = Harness(cortex)
    deleted = await harness.controller.enforce_retention(
        harness.spec(retention="720h", eventTypes=["POD_CREATION"])
    )
    assert deleted == 2
    assert set(cortex.events[TAG]) == {"new"}
    (delete_type,) = cortex.of("delete-type")
    assert delete_type.params["type"] == "POD_CREATION"
    assert delete_type.params["end"] == NOW - timedelta(days=35), "bounded by the newest expired"


async def test_retention_next_to_foreign_events_deletes_by_uuid_and_spares_them() -> None:
    cortex = MemoryCortex()
    seed(cortex, "old-ours", timedelta(days=40), ours("a"))
    seed(cortex, "old-theirs", timedelta(days=40), {"source": "ci"})
    seed(cortex, "old-other-cluster", timedelta(days=40), ours("b", cluster="other"))
    harness = Harness(cortex)
    deleted = await harness.controller.enforce_retention(
        harness.spec(retention="720h", eventTypes=["POD_CREATION"])
    )
    assert deleted == 1
    assert set(cortex.events[TAG]) == {"old-theirs", "old-other-cluster"}
    assert cortex.count("delete-type") == 0


async def test_a_retention_pass_lists_once_for_all_types() -> None:
    cortex = MemoryCortex()
    seed(cortex, "old-pod", timedelta(days=40), ours("a"))
    seed(cortex, "old-rollout", timedelta(days=40), ours("b"), type="DEPLOYMENT_ROLLOUT")
    harness = Harness(cortex)
    deleted = await harness.controller.enforce_retention(harness.spec(retention="720h"))
    assert deleted == 2
    assert cortex.events[TAG] == {}
    assert cortex.count("list") == 1
    assert sorted(c.params["type"] for c in cortex.of("delete-type")) == [
        "DEPLOYMENT_ROLLOUT",
        "POD_CREATION",
    ]


async def test_retention_of_pod_events_takes_their_summaries_and_runs_as_housekeeping() -> None:
    cortex = MemoryCortex()
    seed(cortex, "old-pod", timedelta(days=40), ours("a"))
    seed(cortex, "old-summary", timedelta(days=40), ours("b"), type="DEPLOYMENT_PODS")
    seed(cortex, "old-rollout", timedelta(days=40), ours("c"), type="DEPLOYMENT_ROLLOUT")
    harness = Harness(cortex)
    harness.spec(retention="720h", eventTypes=["POD_CREATION", "POD_DELETION"])
    await harness.controller.refresh(retention=True)
    assert set(cortex.events[TAG]) == {"old-rollout"}, "not a type this entity records"
    assert {(c.kind, c.urgency) for c in cortex.calls} == {
        ("list", Priority.HOUSEKEEPING),
        ("delete-type", Priority.HOUSEKEEPING),
    }


async def test_an_entity_that_comes_after_a_pass_gets_its_own_at_once() -> None:
    # A pass over no entity (the operator's first, at start) used to start the interval for
    # all: an entity created just after it waited the whole interval (10 minutes).
    cortex = MemoryCortex()
    seed(cortex, "old", timedelta(days=40), ours("a"))
    harness = Harness(cortex)
    await harness.controller.refresh()

    harness.spec(retention="720h")
    await harness.controller.refresh()
    assert cortex.events[TAG] == {}
    listed = cortex.count("list")

    # Then every interval, not at each refresh; a changed retention is due at once.
    await harness.controller.refresh()
    assert cortex.count("list") == listed
    harness.spec(generation=3, retention="360h")
    await harness.controller.refresh()
    assert cortex.count("list") == listed + 1


async def test_cleanup_deletes_exactly_the_events_this_entity_recorded() -> None:
    cortex = MemoryCortex()
    seed(cortex, "via-entity", timedelta(hours=1), ours("a"))
    seed(cortex, "via-other", timedelta(hours=1), ours("b", cortexEntities=["shop/other"]))
    seed(cortex, "via-annotation", timedelta(hours=1), ours("c", cortexEntities=[]))
    seed(cortex, "foreign", timedelta(hours=1), {"cortexEntities": ["shop/payments"]})
    harness = Harness(cortex)
    deleted = await harness.controller.deleting(body(cleanupOnDelete=True))
    assert deleted == 1
    assert set(cortex.events[TAG]) == {"via-other", "via-annotation", "foreign"}
    assert harness.store.records() == []
    assert harness.stack.ledger.tag(TAG).entries.keys() == {"b", "c"}
    assert {c.urgency for c in cortex.calls} == {Priority.HOUSEKEEPING}


def seed_deploys(cortex: MemoryCortex) -> None:
    def deploy(uuid: str, age: timedelta, data: dict[str, Any]) -> None:
        cortex.add_deploy(TAG, uuid, timestamp=NOW - age, sha="abc", customData=data)

    deploy("ours-old", timedelta(days=40), ours("deploy/deployment/u/2"))
    deploy("ours-new", timedelta(days=1), ours("deploy/deployment/u/3"))
    deploy("ours-other-entity", timedelta(days=40),
           ours("deploy/deployment/v/2", cortexEntities=["shop/other"]))  # fmt: skip
    deploy("argo-old", timedelta(days=40), {"source": "argocd"})
    deploy("other-cluster-old", timedelta(days=40), ours("deploy/deployment/w/2", cluster="eu"))


async def test_retention_and_cleanup_delete_this_operators_deploys_one_by_one() -> None:
    cortex = MemoryCortex()
    seed_deploys(cortex)
    harness = Harness(cortex)

    deleted = await harness.controller.enforce_retention(
        harness.spec(retention="720h", deploys={"enabled": True})
    )

    assert deleted == 2
    assert set(cortex.deploys[TAG]) == {"ours-new", "argo-old", "other-cluster-old"}
    assert cortex.count("delete-deploys") == 0, "never a filtered delete"
    cleaned = await harness.controller.deleting(
        body(generation=3, cleanupOnDelete=True, deploys={"enabled": True})
    )
    assert cleaned == 1
    assert set(cortex.deploys[TAG]) == {"argo-old", "other-cluster-old"}


async def test_deploys_are_not_listed_for_an_entity_that_records_none() -> None:
    cortex = MemoryCortex()
    seed_deploys(cortex)
    harness = Harness(cortex)

    await harness.controller.enforce_retention(harness.spec(retention="720h"))

    assert cortex.count("list-deploys") == 0
    assert len(cortex.deploys[TAG]) == 5


# -- the status block, pure --------------------------------------------------------------------


def facts(**overrides: Any) -> EntityFacts:
    harness = Harness(MemoryCortex())
    values: dict[str, Any] = {
        "generation": 2,
        "parsed": harness.spec(),
        "tag_found": True,
        "cortex_error": None,
        "matched_workloads": 3,
        "events_recorded": 7,
        "last_event": NOW,
    }
    values.update(overrides)
    return EntityFacts(**values)


def ready(status: dict[str, Any]) -> tuple[str, str, str]:
    (condition,) = status["conditions"]
    assert condition["type"] == "Ready"
    return condition["status"], condition["reason"], condition["message"]


def test_status_of_a_healthy_entity() -> None:
    status = build_status(facts(), None, now=NOW)
    assert ready(status)[:2] == ("True", "Synced")
    assert status["observedGeneration"] == 2
    assert status["matchedWorkloads"] == 3
    assert status["eventsRecorded"] == 7
    assert status["lastEventTime"] == "2026-11-26T12:00:00Z"


def test_status_names_the_bad_field() -> None:
    error = SpecError("spec.retention", "must be at least 1m")
    state, reason, message = ready(build_status(facts(parsed=error), None, now=NOW))
    assert (state, reason) == ("False", "InvalidSpec")
    assert message.startswith("spec.retention")


def test_status_for_an_unknown_tag_and_for_a_refused_key() -> None:
    assert ready(build_status(facts(tag_found=False), None, now=NOW))[:2] == (
        "False",
        "EntityNotFound",
    )
    refused = CortexAuthError("bad key", status_code=401)
    assert ready(build_status(facts(cortex_error=refused), None, now=NOW))[:2] == (
        "False",
        "CortexUnauthorized",
    )


def test_transition_time_moves_only_when_the_state_changes() -> None:
    first = build_status(facts(), None, now=NOW)
    first["conditions"][0]["lastTransitionTime"] = "2026-01-01T00:00:00Z"
    later = NOW + timedelta(hours=1)
    same = build_status(facts(events_recorded=8), first, now=later)
    assert same["conditions"][0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    changed = build_status(facts(tag_found=False), first, now=later)
    assert changed["conditions"][0]["lastTransitionTime"] == "2026-11-26T13:00:00Z"
