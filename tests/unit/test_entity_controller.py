"""CortexEntity status, retention and cleanup, against an in-memory Cortex."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from cortex_events.controllers.entities import EntityController, EntityFacts, build_status
from cortex_events.controllers.recorder import Recorder
from cortex_events.cortex.errors import CortexAuthError, CortexNotFound
from cortex_events.cortex.models import CustomEvent, CustomEventRequest
from cortex_events.delivery.pipeline import Delivery
from cortex_events.domain.render import MANAGED_BY
from cortex_events.domain.specs import EntitySpec, SpecError, parse_entity

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
CLUSTER = "test"


class MiniCortex:
    def __init__(self) -> None:
        self.events: dict[str, CustomEvent] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def add(self, uuid: str, age: timedelta, **data: Any) -> None:
        self.events[uuid] = CustomEvent.model_validate(
            {
                "uuid": uuid,
                "title": uuid,
                "type": data.pop("type", "POD_CREATION"),
                "timestamp": NOW - age,
                "customData": data,
            }
        )

    async def iter_events(
        self,
        tag: str,
        *,
        type: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        page_size: int = 1000,
    ) -> AsyncIterator[CustomEvent]:
        self.calls.append(("list", {"type": type, "end": end_time}))
        for event in list(self.events.values()):
            if (type is None or event.type == type) and (
                end_time is None or event.timestamp <= end_time
            ):
                yield event

    async def create_event(self, tag: str, event: CustomEventRequest) -> CustomEvent:
        raise AssertionError("not used")

    async def update_event(self, tag: str, uuid: str, event: CustomEventRequest) -> CustomEvent:
        raise AssertionError("not used")

    async def delete_event(self, tag: str, uuid: str) -> None:
        self.calls.append(("delete", {"uuid": uuid}))
        if self.events.pop(uuid, None) is None:
            raise CortexNotFound("no such event", status_code=404)

    async def delete_events(
        self,
        tag: str,
        *,
        type: str,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
    ) -> None:
        self.calls.append(("delete-all", {"type": type, "end": end_time}))
        for uuid, event in list(self.events.items()):
            if event.type == type and (end_time is None or event.timestamp <= end_time):
                del self.events[uuid]


def ours(key: str, **extra: Any) -> dict[str, Any]:
    return {"cluster": CLUSTER, "managedBy": MANAGED_BY, "eventKey": key, **extra}


def spec(**fields: Any) -> EntitySpec:
    parsed = parse_entity(
        {
            "metadata": {"name": "payments", "namespace": "shop", "uid": "u", "generation": 2},
            "spec": {"tag": "payments-api", **fields},
        }
    )
    assert isinstance(parsed, EntitySpec)
    return parsed


def controller(cortex: MiniCortex) -> EntityController:
    delivery = Delivery(cortex, cluster=CLUSTER)
    return EntityController(cortex, delivery, Recorder(delivery, cluster=CLUSTER), cluster=CLUSTER)


async def test_retention_with_only_owned_expired_events_sends_one_typed_bounded_delete() -> None:
    cortex = MiniCortex()
    cortex.add("old-1", timedelta(days=40), **ours("a"))
    cortex.add("old-2", timedelta(days=35), **ours("b"))
    cortex.add("new", timedelta(days=1), **ours("c"))
    deleted = await controller(cortex).enforce_retention(
        spec(retention="720h", eventTypes=["POD_CREATION"]), now=NOW
    )
    assert deleted == 2
    assert set(cortex.events) == {"new"}
    (delete_all,) = [args for call, args in cortex.calls if call == "delete-all"]
    assert delete_all["type"] == "POD_CREATION"
    assert delete_all["end"] == NOW - timedelta(days=35), "bounded by the newest expired event"


async def test_retention_next_to_foreign_events_deletes_by_uuid_and_spares_them() -> None:
    cortex = MiniCortex()
    cortex.add("old-ours", timedelta(days=40), **ours("a"))
    cortex.add("old-theirs", timedelta(days=40), source="ci")
    cortex.add("old-other-cluster", timedelta(days=40), **ours("b", cluster="other"))
    deleted = await controller(cortex).enforce_retention(
        spec(retention="720h", eventTypes=["POD_CREATION"]), now=NOW
    )
    assert deleted == 1
    assert set(cortex.events) == {"old-theirs", "old-other-cluster"}
    assert all(call != "delete-all" for call, _ in cortex.calls)


async def test_cleanup_deletes_exactly_the_events_this_entity_recorded() -> None:
    cortex = MiniCortex()
    cortex.add("via-entity", timedelta(hours=1), **ours("a", cortexEntities=["shop/payments"]))
    cortex.add("via-other", timedelta(hours=1), **ours("b", cortexEntities=["shop/other"]))
    cortex.add("via-annotation", timedelta(hours=1), **ours("c", cortexEntities=[]))
    cortex.add("foreign", timedelta(hours=1), cortexEntities=["shop/payments"])
    deleted = await controller(cortex).cleanup(spec())
    assert deleted == 1
    assert set(cortex.events) == {"via-other", "via-annotation", "foreign"}


def facts(**overrides: Any) -> EntityFacts:
    values: dict[str, Any] = {
        "generation": 2,
        "parsed": spec(),
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
    status = build_status(facts(), None)
    assert ready(status)[:2] == ("True", "Synced")
    assert status["observedGeneration"] == 2
    assert status["matchedWorkloads"] == 3
    assert status["eventsRecorded"] == 7
    assert status["lastEventTime"] == "2026-11-26T12:00:00Z"


def test_status_names_the_bad_field() -> None:
    error = SpecError("spec.retention", "must be at least 1m")
    state, reason, message = ready(build_status(facts(parsed=error), None))
    assert (state, reason) == ("False", "InvalidSpec")
    assert message.startswith("spec.retention")


def test_status_for_an_unknown_tag_and_for_a_refused_key() -> None:
    assert ready(build_status(facts(tag_found=False), None))[:2] == ("False", "EntityNotFound")
    refused = CortexAuthError("bad key", status_code=401)
    assert ready(build_status(facts(cortex_error=refused), None))[:2] == (
        "False",
        "CortexUnauthorized",
    )


def test_transition_time_moves_only_when_the_state_changes() -> None:
    first = build_status(facts(), None)
    first["conditions"][0]["lastTransitionTime"] = "2026-01-01T00:00:00Z"
    same = build_status(facts(events_recorded=8), first)
    assert same["conditions"][0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    changed = build_status(facts(tag_found=False), first)
    assert changed["conditions"][0]["lastTransitionTime"] != "2026-01-01T00:00:00Z"


async def test_a_retention_pass_lists_once_for_all_types() -> None:
    cortex = MiniCortex()
    cortex.add("old-pod", timedelta(days=40), **ours("a"))
    cortex.add("old-rollout", timedelta(days=40), type="DEPLOYMENT_ROLLOUT", **ours("b"))
    deleted = await controller(cortex).enforce_retention(spec(retention="720h"), now=NOW)
    assert deleted == 2
    assert cortex.events == {}
    assert [call for call, _ in cortex.calls].count("list") == 1
    assert sorted(args["type"] for call, args in cortex.calls if call == "delete-all") == [
        "DEPLOYMENT_ROLLOUT",
        "POD_CREATION",
    ]
