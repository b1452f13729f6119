"""Deployment states -> events: creation, rollouts with result and duration, scale, deletion."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cortex_events.domain.lifecycle import (
    EventIntent,
    deployment_events,
    format_duration,
    rollout_result,
    short_image,
)
from cortex_events.domain.model import DeploymentSnapshot, EventType, deployment_snapshot

Factory = Callable[..., dict[str, Any]]
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
UID = "9a7d-deploy-0001"
STARTED = datetime(2026, 3, 1, 11, 0, tzinfo=UTC)


def by_key(
    new: DeploymentSnapshot,
    prev: DeploymentSnapshot | None = None,
    **kwargs: Any,
) -> dict[str, EventIntent]:
    return {e.key: e for e in deployment_events(prev, new, now=NOW, **kwargs)}


def rollout_of(found: dict[str, EventIntent], revision: int) -> EventIntent:
    return found[f"deployment/{UID}/rollout/{revision}"]


def test_creation_lists_replicas_and_images(make_deployment: Factory) -> None:
    found = by_key(deployment_snapshot(make_deployment(images=("nginx:1.25", "envoy:1.30"))))
    assert list(found) == [f"deployment/{UID}/created"]
    created = found[f"deployment/{UID}/created"]
    assert created.type is EventType.DEPLOYMENT_CREATION
    assert not created.updatable
    assert created.title == "Deployment web created"
    assert created.description == "3 replicas of nginx:1.25, envoy:1.30"
    assert created.timestamp == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    assert created.details == {
        "replicas": 3,
        "images": ["nginx:1.25", "envoy:1.30"],
        "revision": 1,
    }


def test_revision_one_is_not_a_rollout(make_deployment: Factory) -> None:
    first = make_deployment(revision=1, progressing_reason="ReplicaSetUpdated", updated=1)
    assert not any(
        e.type is EventType.DEPLOYMENT_ROLLOUT for e in by_key(deployment_snapshot(first)).values()
    )


def rolling(make_deployment: Factory, **overrides: Any) -> DeploymentSnapshot:
    fields: dict[str, Any] = {
        "generation": 2,
        "revision": 2,
        "images": ("registry.example.com/shop/nginx:1.26",),
        "updated": 1,
        "available": 3,
        "progressing_reason": "ReplicaSetUpdated",
        "progressing_message": 'ReplicaSet "web-7c9" is progressing.',
        "progressing_updated": "2026-03-01T11:00:10Z",
    }
    fields.update(overrides)
    return deployment_snapshot(make_deployment(**fields))


def test_rollout_started(make_deployment: Factory) -> None:
    event = rollout_of(by_key(rolling(make_deployment), rollout_started=STARTED), 2)
    assert event.type is EventType.DEPLOYMENT_ROLLOUT
    assert event.updatable
    assert event.title == "Rollout of web to nginx:1.26 started"
    assert event.description == "Revision 2 of shop/web is rolling out"
    assert event.timestamp == STARTED
    assert event.details == {
        "revision": 2,
        "images": ["registry.example.com/shop/nginx:1.26"],
        "result": "InProgress",
    }


def test_rollout_content_is_stable_while_it_progresses(make_deployment: Factory) -> None:
    one = rollout_of(by_key(rolling(make_deployment, updated=1), rollout_started=STARTED), 2)
    two = rollout_of(
        by_key(
            rolling(make_deployment, updated=2, progressing_updated="2026-03-01T11:00:20Z"),
            rollout_started=STARTED,
        ),
        2,
    )
    assert (one.title, one.description, one.details) == (two.title, two.description, two.details)


def test_rollout_completed_with_duration(make_deployment: Factory) -> None:
    done = rolling(
        make_deployment,
        updated=3,
        progressing_reason="NewReplicaSetAvailable",
        progressing_updated="2026-03-01T11:00:42Z",
    )
    event = rollout_of(by_key(done, rollout_started=STARTED), 2)
    assert event.title == "Rollout of web to nginx:1.26 completed in 42s"
    assert event.description == "Revision 2 of shop/web is available; the rollout took 42s"
    assert event.timestamp == STARTED
    assert event.details["result"] == "Completed"
    assert event.details["durationSeconds"] == 42
    assert event.details["finishedAt"] == "2026-03-01T11:00:42Z"


def test_rollout_completed_without_known_start(make_deployment: Factory) -> None:
    done = rolling(
        make_deployment,
        updated=3,
        progressing_reason="NewReplicaSetAvailable",
        progressing_updated="2026-03-01T11:00:42Z",
    )
    event = rollout_of(by_key(done), 2)
    assert event.title == "Rollout of web to nginx:1.26 completed"
    assert "durationSeconds" not in event.details
    assert event.timestamp == datetime(2026, 3, 1, 11, 0, 42, tzinfo=UTC)


def test_rollout_failed_after_deadline(make_deployment: Factory) -> None:
    failed = rolling(
        make_deployment,
        progressing_reason="ProgressDeadlineExceeded",
        progressing_message='ReplicaSet "web-7c9" has timed out progressing.',
        progressing_updated="2026-03-01T11:10:00Z",
    )
    event = rollout_of(by_key(failed, rollout_started=STARTED), 2)
    assert event.title == (
        'Rollout of web to nginx:1.26 failed after 10m: ReplicaSet "web-7c9" has timed out '
        "progressing."
    )
    assert event.details["result"] == "Failed"
    assert event.details["durationSeconds"] == 600
    assert event.details["message"] == 'ReplicaSet "web-7c9" has timed out progressing.'


def test_new_revision_with_stale_status_is_in_progress(make_deployment: Factory) -> None:
    # The controller bumped the revision; the status still shows the previous rollout's result.
    stale_done = rolling(
        make_deployment,
        generation=3,
        observed_generation=2,
        revision=3,
        updated=3,
        progressing_reason="NewReplicaSetAvailable",
    )
    stale_failed = rolling(
        make_deployment,
        generation=3,
        observed_generation=2,
        revision=3,
        progressing_reason="ProgressDeadlineExceeded",
    )
    assert rollout_result(stale_done) == "InProgress"
    assert rollout_result(stale_failed) == "InProgress"
    # Same generation, but no pod of the new revision exists yet.
    no_new_pods = rolling(make_deployment, updated=0, progressing_reason="NewReplicaSetAvailable")
    assert rollout_result(no_new_pods) == "InProgress"


def test_scale_after_completion_does_not_reopen_the_rollout(make_deployment: Factory) -> None:
    done = rolling(make_deployment, updated=3, progressing_reason="NewReplicaSetAvailable")
    # spec.replicas 3 -> 5: generation 3, status caught up, new pods not yet available.
    scaling = rolling(
        make_deployment,
        replicas=5,
        generation=3,
        updated=5,
        available=3,
        progressing_reason="NewReplicaSetAvailable",
    )
    lagging = rolling(
        make_deployment,
        replicas=5,
        generation=3,
        observed_generation=2,
        updated=3,
        available=3,
        progressing_reason="NewReplicaSetAvailable",
    )
    before = rollout_of(by_key(done, rollout_started=STARTED), 2)
    assert rollout_of(by_key(scaling, done, rollout_started=STARTED), 2) == before
    assert rollout_of(by_key(lagging, done, rollout_started=STARTED), 2) == before


def test_scale_up_and_down(make_deployment: Factory) -> None:
    three = deployment_snapshot(make_deployment(replicas=3, generation=1))
    five = deployment_snapshot(make_deployment(replicas=5, generation=2))
    one = deployment_snapshot(make_deployment(replicas=1, generation=3))
    up = by_key(five, three)[f"deployment/{UID}/scale/2"]
    assert up.type is EventType.DEPLOYMENT_SCALE
    assert up.title == "Scaled web from 3 to 5 replicas"
    assert up.description == "Scaled up shop/web from 3 to 5 replicas"
    assert up.details["fromReplicas"] == 3
    assert up.details["toReplicas"] == 5
    assert up.timestamp == NOW
    down = by_key(one, five)[f"deployment/{UID}/scale/3"]
    assert down.title == "Scaled web from 5 to 1 replica"
    assert down.details["direction"] == "down"


def test_no_scale_without_a_change(make_deployment: Factory) -> None:
    three = deployment_snapshot(make_deployment(replicas=3))
    found = by_key(three, three)
    assert not any(e.type is EventType.DEPLOYMENT_SCALE for e in found.values())
    assert not any(e.type is EventType.DEPLOYMENT_SCALE for e in by_key(three).values())


def test_recorded_replicas_detect_a_scale_missed_during_a_restart(
    make_deployment: Factory,
) -> None:
    five = deployment_snapshot(make_deployment(replicas=5, generation=4))
    found = by_key(five, recorded_replicas=2)
    assert found[f"deployment/{UID}/scale/4"].title == "Scaled web from 2 to 5 replicas"
    assert f"deployment/{UID}/scale/4" not in by_key(five, recorded_replicas=5)


def test_recreated_deployment_is_not_compared_with_its_predecessor(
    make_deployment: Factory,
) -> None:
    old = deployment_snapshot(make_deployment(uid="old-uid", replicas=3))
    new = deployment_snapshot(make_deployment(replicas=1))
    assert not any(e.type is EventType.DEPLOYMENT_SCALE for e in by_key(new, old).values())


def test_deletion(make_deployment: Factory) -> None:
    gone = deployment_snapshot(make_deployment(revision=4, deletion="2026-03-01T11:59:00Z"))
    event = by_key(gone)[f"deployment/{UID}/deleted"]
    assert event.type is EventType.DEPLOYMENT_DELETION
    assert event.title == "Deployment web deleted"
    assert event.description == "Deleted with 3 replicas of nginx:1.25 (revision 4)"
    assert event.timestamp == datetime(2026, 3, 1, 11, 59, tzinfo=UTC)
    given = datetime(2026, 3, 1, 11, 58, tzinfo=UTC)
    via_argument = deployment_snapshot(make_deployment(), deleted_at=given)
    assert by_key(via_argument)[f"deployment/{UID}/deleted"].timestamp == given


def test_same_state_same_keys(make_deployment: Factory) -> None:
    state = rolling(make_deployment)
    first = deployment_events(None, state, now=NOW, rollout_started=STARTED)
    again = deployment_events(None, rolling(make_deployment), now=NOW, rollout_started=STARTED)
    assert first == again
    later = deployment_events(None, state, now=NOW + timedelta(hours=1), rollout_started=STARTED)
    assert [e.key for e in later] == [e.key for e in first]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (42, "42s"), (60, "1m"), (90, "1m30s"), (600, "10m"), (3600, "1h"), (7500, "2h5m")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("image", "short"),
    [
        ("nginx:1.26", "nginx:1.26"),
        ("registry.example.com:5000/team/web:2.0", "web:2.0"),
        ("ghcr.io/org/app@sha256:0123456789abcdef0123", "app@sha256:0123456789ab"),
    ],
)
def test_short_image(image: str, short: str) -> None:
    assert short_image(image) == short


def test_a_rollout_replaced_before_it_completed_is_closed_as_superseded(
    make_deployment: Factory,
) -> None:
    unfinished = rolling(make_deployment)
    newer = rolling(
        make_deployment, generation=3, revision=3, images=("registry.example.com/shop/nginx:1.27",)
    )
    found = by_key(newer, unfinished)
    old = rollout_of(found, 2)
    assert old.updatable
    assert old.details["result"] == "Superseded"
    assert old.details["supersededBy"] == 3
    assert old.title == "Rollout of web to nginx:1.26 superseded by revision 3"
    assert rollout_of(found, 3).details["result"] == "InProgress"


def test_a_completed_rollout_is_not_marked_superseded(make_deployment: Factory) -> None:
    done = rolling(
        make_deployment,
        updated=3,
        progressing_reason="NewReplicaSetAvailable",
        observed_generation=2,
    )
    newer = rolling(make_deployment, generation=3, revision=3)
    assert f"deployment/{UID}/rollout/2" not in by_key(newer, done)
