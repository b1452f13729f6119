"""Delivery classes: failures first, then workload changes, then Pod churn, then housekeeping."""

from __future__ import annotations

import pytest

from cortex_events.domain.model import ALL_EVENT_TYPES, EventType
from cortex_events.domain.priority import Priority, priority_of


@pytest.mark.parametrize(
    ("event_type", "details", "expected"),
    [
        (EventType.POD_FAILURE, {}, Priority.FAILURE),
        (EventType.DEPLOYMENT_ROLLOUT, {"result": "Failed"}, Priority.FAILURE),
        (EventType.JOB_RUN, {"result": "Failed"}, Priority.FAILURE),
        (EventType.ARGO_ROLLOUT_REVISION, {"result": "Aborted"}, Priority.FAILURE),
        (EventType.STATEFULSET_ROLLOUT, {"result": "Failed"}, Priority.FAILURE),
        (EventType.DEPLOYMENT_ROLLOUT, {"result": "InProgress"}, Priority.WORKLOAD),
        (EventType.DEPLOYMENT_ROLLOUT, {"result": "Completed"}, Priority.WORKLOAD),
        (EventType.JOB_RUN, {"result": "Succeeded"}, Priority.WORKLOAD),
        (EventType.DEPLOYMENT_SCALE, {}, Priority.WORKLOAD),
        (EventType.DEPLOYMENT_CREATION, {}, Priority.WORKLOAD),
        (EventType.STATEFULSET_DELETION, {}, Priority.WORKLOAD),
        (EventType.CRONJOB_SCHEDULE, {}, Priority.WORKLOAD),
        (EventType.POD_DISRUPTION, {"reason": "EvictionByEvictionAPI"}, Priority.WORKLOAD),
        (EventType.POD_CREATION, {"phase": "Running"}, Priority.CHURN),
        (EventType.POD_DELETION, {}, Priority.CHURN),
        (EventType.DEPLOYMENT_PODS, {"podSummary": True}, Priority.CHURN),
        (EventType.JOB_PODS, {"podSummary": True}, Priority.CHURN),
    ],
)
def test_each_event_has_the_class_of_what_it_tells(
    event_type: EventType, details: dict[str, str], expected: Priority
) -> None:
    assert priority_of(event_type, details) is expected


def test_a_pod_that_failed_is_a_failure_even_though_its_creation_event_is_churn() -> None:
    # The Pod's creation event follows its phase; its failure is a POD_FAILURE of its own.
    assert priority_of(EventType.POD_CREATION, {"phase": "Failed"}) is Priority.CHURN
    assert priority_of(EventType.POD_FAILURE, {"phase": "Failed"}) is Priority.FAILURE


def test_every_type_has_a_class_and_the_order_is_failures_first() -> None:
    assert {priority_of(t, {}) for t in ALL_EVENT_TYPES} == {
        Priority.FAILURE,
        Priority.WORKLOAD,
        Priority.CHURN,
    }
    assert sorted(Priority) == [
        Priority.FAILURE,
        Priority.WORKLOAD,
        Priority.CHURN,
        Priority.HOUSEKEEPING,
    ]
    assert [p.label for p in Priority] == ["failure", "workload", "churn", "housekeeping"]
