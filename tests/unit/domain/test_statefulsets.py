"""StatefulSet states -> events: rollouts by revision (partitioned too), scale, deletion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cortex_events.domain.apps import controller_revision_snapshot, statefulset_snapshot
from cortex_events.domain.intents import EventIntent
from cortex_events.domain.model import EventType
from cortex_events.domain.quiet import Quiet
from cortex_events.domain.revisions import controller_revision
from cortex_events.domain.scaling import scale_of
from cortex_events.domain.statefulsets import current_rollout, statefulset_events
from tests.support.kinds import CREATED, revision, statefulset

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STARTED = CREATED + timedelta(hours=1)
REVISIONS = {
    "db-rev1": controller_revision(
        controller_revision_snapshot(revision("db-rev1", 1, "postgres:15")), None
    ),
    "db-rev2": controller_revision(
        controller_revision_snapshot(revision("db-rev2", 2, "postgres:16", created=STARTED)),
        None,
    ),
}


def events_of(body: dict[str, Any], **kwargs: Any) -> dict[str, EventIntent]:
    snapshot = statefulset_snapshot(body)
    current = current_rollout(snapshot, REVISIONS)
    found = statefulset_events(snapshot, current=current, **kwargs)
    return {event.key: event for event in found}


def test_a_new_statefulset_is_created_and_its_first_revision_is_no_rollout() -> None:
    found = events_of(statefulset(image="postgres:15"))
    assert list(found) == ["statefulset/sts-1/created"]
    created = found["statefulset/sts-1/created"]
    assert created.type is EventType.STATEFULSET_CREATION
    assert created.title == "StatefulSet db created"
    assert created.description == "3 replicas of postgres:15"


def test_a_rollout_describes_its_own_revision_only_once_the_status_reports_on_it() -> None:
    # The user's change: the template already names postgres:16, the status still revision 1.
    changed = statefulset(generation=2, observed=1, update_revision="db-rev1")
    assert "statefulset/sts-1/rollout/1" not in events_of(changed)
    assert len(events_of(changed)) == 1
    rolling = events_of(statefulset(generation=2, update_revision="db-rev2", updated=1, ready=2))[
        "statefulset/sts-1/rollout/2"
    ]
    assert rolling.type is EventType.STATEFULSET_ROLLOUT
    assert rolling.updatable
    assert rolling.title == "Rollout of db to postgres:16 started"
    assert rolling.description == "Revision 2 of shop/db is rolling out (1 of 3 pods)"
    assert rolling.timestamp == STARTED
    assert rolling.details["result"] == "InProgress"


def test_a_completed_rollout_keeps_its_key_and_says_how_long_it_took() -> None:
    ended = STARTED + timedelta(seconds=42)
    done = events_of(
        statefulset(generation=2, current_revision="db-rev2", update_revision="db-rev2"),
        ended=ended,
    )["statefulset/sts-1/rollout/2"]
    assert done.title == "Rollout of db to postgres:16 completed in 42s"
    assert done.details["result"] == "Completed"
    assert done.details["durationSeconds"] == 42
    assert done.timestamp == STARTED


def test_a_partitioned_rollout_rests_as_partial() -> None:
    body = statefulset(generation=2, update_revision="db-rev2", updated=1, partition=2, replicas=3)
    partial = events_of(body, ended=STARTED + timedelta(seconds=5))["statefulset/sts-1/rollout/2"]
    assert partial.details["result"] == "Partial"
    assert partial.title == "Rollout of db to postgres:16 partial: 1 of 3 pods after 5s"
    assert "ordinal below 2 keep the previous revision (partition 2)" in partial.description
    # Not every pod above the partition ready yet: still in progress.
    body = statefulset(
        generation=2, update_revision="db-rev2", updated=1, partition=2, replicas=3, ready=2
    )
    assert events_of(body)["statefulset/sts-1/rollout/2"].details["result"] == "InProgress"


def test_a_rollout_replaced_before_it_ended_is_closed_as_superseded() -> None:
    revisions = dict(REVISIONS)
    revisions["db-rev3"] = controller_revision(
        controller_revision_snapshot(revision("db-rev3", 3, "postgres:17")), None
    )
    rolling = current_rollout(
        statefulset_snapshot(statefulset(generation=2, update_revision="db-rev2", updated=1)),
        revisions,
    )
    newer = statefulset_snapshot(statefulset(generation=3, update_revision="db-rev3", updated=0))
    found = {
        e.key: e
        for e in statefulset_events(
            newer, current=current_rollout(newer, revisions), reported=rolling
        )
    }
    superseded = found["statefulset/sts-1/rollout/2"]
    assert superseded.details["result"] == "Superseded"
    assert superseded.details["supersededBy"] == 3
    assert superseded.title == "Rollout of db to postgres:16 superseded by revision 3"
    assert found["statefulset/sts-1/rollout/3"].details["result"] == "InProgress"


def test_a_scale_by_a_person_is_plain_and_one_by_the_autoscaler_is_quiet() -> None:
    manual = statefulset_snapshot(statefulset(replicas=5, generation=4))
    scale = scale_of(3, 5, generation=4, writer=manual.replicas_writer, now=NOW)
    event = events_of(statefulset(replicas=5, generation=4), scale=scale)[
        "statefulset/sts-1/scale/4"
    ]
    assert event.type is EventType.STATEFULSET_SCALE
    assert event.title == "Scaled db from 3 to 5 replicas"
    assert event.quiet is None
    assert event.details["autoscaler"] is False
    auto = statefulset_snapshot(
        statefulset(replicas=5, generation=4, replicas_by=("kube-controller-manager", "scale"))
    )
    scale = scale_of(3, 5, generation=4, writer=auto.replicas_writer, now=NOW)
    assert scale is not None
    assert scale.autoscaled
    event = events_of(statefulset(replicas=5, generation=4), scale=scale)[
        "statefulset/sts-1/scale/4"
    ]
    assert event.quiet is Quiet.AUTOSCALED
    assert event.title == "Scaled db from 3 to 5 replicas by its autoscaler"


def test_kubectl_scale_through_the_scale_subresource_is_a_person_s_scale() -> None:
    body = statefulset(replicas=5, replicas_by=("kubectl", "scale"))
    scale = scale_of(3, 5, generation=2, writer=statefulset_snapshot(body).replicas_writer, now=NOW)
    assert scale is not None
    assert not scale.autoscaled


def test_deletion_is_recorded() -> None:
    body = statefulset(image="postgres:15")
    body["metadata"]["deletionTimestamp"] = "2026-03-01T12:00:00Z"
    deleted = events_of(body)["statefulset/sts-1/deleted"]
    assert deleted.type is EventType.STATEFULSET_DELETION
    assert deleted.description == "Deleted with 3 replicas of postgres:15"
