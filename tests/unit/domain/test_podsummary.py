"""Pod summaries: each folded Pod change counted in exactly one summary, and read back after a
restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cortex_events.domain.intents import EventIntent
from cortex_events.domain.model import EventType, WorkloadRef
from cortex_events.domain.podsummary import (
    PODS_PER_SUMMARY,
    Change,
    PodChange,
    SummaryBook,
    pod_change,
    summary_from_details,
)

T0 = datetime(2026, 12, 2, 10, 3, 20, tzinfo=UTC)
WEB = WorkloadRef("Deployment", "shop", "web", "dep-1")
DB = WorkloadRef("StatefulSet", "shop", "db", "sts-1")


def pod(n: int) -> WorkloadRef:
    return WorkloadRef("Pod", "shop", f"web-7d9f-{n:05d}", f"pod-{n}")


def change(
    n: int,
    what: Change = Change.CREATED,
    *,
    at: datetime = T0,
    ready: bool = False,
    owner: WorkloadRef = WEB,
) -> PodChange:
    return PodChange(owner, pod(n), what, at, ready=ready)


def test_a_rollout_is_one_summary_that_counts_and_lists_its_pods() -> None:
    book = SummaryBook()
    for n in range(3):
        book.fold(change(n, Change.DELETED))
    for n in range(3, 6):
        book.fold(change(n))
    summary = book.fold(change(3, ready=True))  # a later state: same Pod, now ready
    assert len(book) == 1
    intent = summary.intent()
    assert intent.type is EventType.DEPLOYMENT_PODS
    window = int(datetime(2026, 12, 2, 10, 0, tzinfo=UTC).timestamp())
    assert intent.key == f"deployment/dep-1/pods/{window}"
    assert intent.updatable
    assert intent.title == "Pods of web: 3 created (1 ready), 3 deleted"
    assert intent.description.endswith(
        "Pods: web-7d9f-00000, web-7d9f-00001, web-7d9f-00002, web-7d9f-00003, web-7d9f-00004 "
        "and 1 more"
    )
    details = intent.details
    assert (details["created"], details["ready"], details["deleted"], details["failed"]) == (
        3,
        1,
        3,
        0,
    )
    assert details["pods"]["pod-3"] == "cr:web-7d9f-00003"
    assert details["pods"]["pod-0"] == "d:web-7d9f-00000"
    assert intent.timestamp == T0


def test_each_change_is_held_by_exactly_one_summary() -> None:
    book = SummaryBook()
    created = book.fold(change(1))
    deleted = book.fold(change(1, Change.DELETED, at=T0 + timedelta(minutes=20)))
    assert created is not deleted, "the deletion happened in a later window"
    assert book.holding("pod/pod-1/created") is created
    assert book.holding("pod/pod-1/deleted") is deleted
    assert list(created.folded()) == ["pod/pod-1/created"]
    assert list(deleted.folded()) == ["pod/pod-1/deleted"]


def test_a_full_summary_rolls_over_to_the_next_part_of_the_window() -> None:
    book = SummaryBook()
    for n in range(PODS_PER_SUMMARY):
        first = book.fold(change(n))
    assert first.full
    second = book.fold(change(PODS_PER_SUMMARY))
    assert second is not first
    assert second.key == first.key + "/1"
    assert second.intent().description.startswith(
        "Between 2026-12-02T10:00:00Z and 2026-12-02T10:10:00Z (part 2)"
    )
    again = book.fold(change(3, Change.DELETED))  # listed in the first part: it goes there
    assert again is first
    assert len(first.pods) == PODS_PER_SUMMARY


def test_workloads_and_kinds_get_summaries_of_their_own() -> None:
    book = SummaryBook()
    web = book.fold(change(1))
    db = book.fold(change(2, owner=DB))
    assert web is not db
    assert db.intent().type is EventType.STATEFULSET_PODS
    assert db.key.startswith("statefulset/sts-1/pods/")


def test_a_failure_is_counted_in_the_summary_that_lists_the_pod_but_never_folded() -> None:
    book = SummaryBook()
    summary = book.fold(change(1))
    assert book.note(change(1, Change.FAILED)) is summary
    assert summary.intent().title == "Pods of web: 1 created (0 ready), 0 deleted, 1 failed"
    assert book.holding("pod/pod-1/failed") is None
    assert book.note(change(2, Change.FAILED)) is None, "a Pod in no summary: nothing to count"
    assert book.note(change(1, Change.FAILED)) is None, "counted once"


def test_a_summary_read_back_after_a_restart_knows_what_it_stands_in_for() -> None:
    book = SummaryBook()
    for n in range(4):
        book.fold(change(n, ready=n % 2 == 0))
    book.fold(change(9, Change.DELETED))
    recorded = next(iter(book.summaries.values()))
    details = recorded.intent().details
    restored = summary_from_details(WEB, details, T0)
    assert restored is not None
    again = SummaryBook()
    again.restore(restored)
    assert again.holding("pod/pod-2/created") is restored
    assert again.holding("pod/pod-9/deleted") is restored
    assert again.holding("pod/pod-9/created") is None
    assert restored.intent().details == details, "rendered again, it is the same event"
    # A change folded after the restart goes into the same summary, and counts once.
    assert again.fold(change(2, ready=True)) is restored
    assert restored.intent().details["created"] == 4


@pytest.mark.parametrize(
    "details",
    [
        {"windowStart": "2026-12-02T10:00:00Z", "pods": {}},  # no flag
        {"podSummary": True, "pods": {}},  # no window
        {"podSummary": True, "windowStart": "2026-12-02T10:00:00Z", "pods": ["a"]},
    ],
)
def test_what_is_not_a_summary_is_not_read_as_one(details: dict[str, object]) -> None:
    assert summary_from_details(WEB, details, T0) is None


def test_only_pod_events_of_a_workloads_pods_are_changes_that_fold() -> None:
    def intent(event_type: EventType, **details: object) -> EventIntent:
        return EventIntent(
            "pod/pod-1/x", event_type, pod(1), "title", "", T0, details, updatable=True
        )

    created = pod_change(intent(EventType.POD_CREATION, ready=True, phase="Running"), WEB)
    assert created is not None
    assert (created.change, created.ready, created.failed, created.key) == (
        Change.CREATED,
        True,
        False,
        "pod/pod-1/created",
    )
    deleted = pod_change(intent(EventType.POD_DELETION), DB)
    assert deleted is not None
    assert deleted.change is Change.DELETED
    failed = pod_change(intent(EventType.POD_FAILURE), WEB)
    assert failed is not None
    assert failed.change is Change.FAILED
    assert pod_change(intent(EventType.POD_CREATION), None) is None, "a bare Pod"
    cronjob = WorkloadRef("CronJob", "shop", "nightly", "cj-1")
    assert pod_change(intent(EventType.POD_CREATION), cronjob) is None
    assert pod_change(intent(EventType.DEPLOYMENT_SCALE), WEB) is None
