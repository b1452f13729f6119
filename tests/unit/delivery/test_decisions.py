"""Delivery's pure decisions: create, update or skip; how expired events are deleted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cortex_events.delivery.decisions import Action, Listed, decide, plan_retention
from cortex_events.delivery.ledger import LedgerEntry

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def entry(fingerprint: str = "f1") -> LedgerEntry:
    return LedgerEntry("uuid-1", "POD_CREATION", T0, fingerprint, (), "uid-1")


def test_what_cortex_does_not_hold_is_created() -> None:
    assert decide(None, updatable=True, fingerprint="f1") is Action.CREATE
    assert decide(None, updatable=False, fingerprint="f1") is Action.CREATE


def test_an_updatable_event_is_replaced_only_when_its_content_changed() -> None:
    assert decide(entry("f1"), updatable=True, fingerprint="f2") is Action.UPDATE
    assert decide(entry("f1"), updatable=True, fingerprint="f1") is Action.SKIP


def test_an_event_that_is_not_updatable_is_never_replaced() -> None:
    assert decide(entry("f1"), updatable=False, fingerprint="f2") is Action.SKIP


def listed(uuid: str, kind: str, days: int, key: str | None) -> Listed:
    return Listed(uuid, kind, T0 - timedelta(days=days), key)


def test_a_type_with_only_owned_expired_events_gets_one_bounded_typed_delete() -> None:
    plan = plan_retention(
        [listed("a", "POD_CREATION", 40, "k-a"), listed("b", "POD_CREATION", 35, "k-b")],
        frozenset({"POD_CREATION"}),
    )
    assert plan.by_uuid == {}
    assert plan.by_type == {"POD_CREATION": (T0 - timedelta(days=35), [("k-a", "a"), ("k-b", "b")])}
    assert plan.count() == 2


def test_a_type_shared_with_another_tool_is_deleted_event_by_event() -> None:
    plan = plan_retention(
        [
            listed("ours", "POD_CREATION", 40, "k-ours"),
            listed("theirs", "POD_CREATION", 50, None),
            listed("rollout", "DEPLOYMENT_ROLLOUT", 40, "k-r"),
        ],
        frozenset({"POD_CREATION", "DEPLOYMENT_ROLLOUT"}),
    )
    assert plan.by_uuid == {"POD_CREATION": [("k-ours", "ours")]}
    assert list(plan.by_type) == ["DEPLOYMENT_ROLLOUT"]
    assert plan.count() == 2


def test_types_the_entity_does_not_record_and_others_events_are_left_alone() -> None:
    plan = plan_retention(
        [listed("ours", "POD_FAILURE", 40, "k"), listed("theirs", "DEPLOY", 40, None)],
        frozenset({"POD_CREATION"}),
    )
    assert plan.count() == 0
    assert plan.by_type == {}
    assert plan.by_uuid == {}
