"""Deployment states -> events: creation, rollouts with result and duration, scale, deletion."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cortex_events.domain.deployments import (
    Revision,
    deployment_events,
    reports_on_revision,
    revision_of,
    rollout_result,
)
from cortex_events.domain.intents import EventIntent, format_duration, short_image
from cortex_events.domain.model import DeploymentSnapshot, EventType
from cortex_events.domain.snapshots import deployment_snapshot, replicaset_snapshot

Factory = Callable[..., dict[str, Any]]
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
UID = "9a7d-deploy-0001"
STARTED = datetime(2026, 3, 1, 11, 0, tzinfo=UTC)
IMAGE_26 = "registry.example.com/shop/nginx:1.26"
IMAGE_27 = "registry.example.com/shop/nginx:1.27"
# Revision 2 as its ReplicaSet holds it: what a rollout event describes.
REVISIONS = {2: Revision(2, (IMAGE_26,), STARTED)}


def by_key(
    new: DeploymentSnapshot,
    prev: DeploymentSnapshot | None = None,
    **kwargs: Any,
) -> dict[str, EventIntent]:
    kwargs.setdefault("revisions", REVISIONS)
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
        "images": (IMAGE_26,),
        "updated": 1,
        "available": 3,
        "progressing_reason": "ReplicaSetUpdated",
        "progressing_message": 'ReplicaSet "web-7c9" is progressing.',
        "progressing_updated": "2026-03-01T11:00:10Z",
    }
    fields.update(overrides)
    return deployment_snapshot(make_deployment(**fields))


def test_rollout_started(make_deployment: Factory) -> None:
    event = rollout_of(by_key(rolling(make_deployment)), 2)
    assert event.type is EventType.DEPLOYMENT_ROLLOUT
    assert event.updatable
    assert event.title == "Rollout of web to nginx:1.26 started"
    assert event.description == "Revision 2 of shop/web is rolling out"
    assert event.timestamp == STARTED
    assert event.details == {
        "revision": 2,
        "images": [IMAGE_26],
        "change": "update",
        "result": "InProgress",
    }


def test_rollout_content_is_stable_while_it_progresses(make_deployment: Factory) -> None:
    one = rollout_of(by_key(rolling(make_deployment, updated=1)), 2)
    two = rollout_of(
        by_key(rolling(make_deployment, updated=2, progressing_updated="2026-03-01T11:00:20Z")),
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
    event = rollout_of(by_key(done), 2)
    assert event.title == "Rollout of web to nginx:1.26 completed in 42s"
    assert event.description == "Revision 2 of shop/web is available; the rollout took 42s"
    assert event.timestamp == STARTED
    assert event.details["result"] == "Completed"
    assert event.details["durationSeconds"] == 42
    assert event.details["finishedAt"] == "2026-03-01T11:00:42Z"


def test_rollout_waits_for_its_revisions_replicaset(make_deployment: Factory) -> None:
    # The Deployment's own template may already be the next revision's: without the
    # ReplicaSet of revision 2 nothing says what revision 2 is, so nothing is said yet.
    done = rolling(make_deployment, updated=3, progressing_reason="NewReplicaSetAvailable")
    assert f"deployment/{UID}/rollout/2" not in by_key(done, revisions={})


def test_rollout_failed_after_deadline(make_deployment: Factory) -> None:
    failed = rolling(
        make_deployment,
        progressing_reason="ProgressDeadlineExceeded",
        progressing_message='ReplicaSet "web-7c9" has timed out progressing.',
        progressing_updated="2026-03-01T11:10:00Z",
    )
    event = rollout_of(by_key(failed), 2)
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
    assert not reports_on_revision(stale_done)
    assert not reports_on_revision(stale_failed)
    # Same generation, but no pod of the new revision exists yet.
    no_new_pods = rolling(make_deployment, updated=0, progressing_reason="NewReplicaSetAvailable")
    assert rollout_result(no_new_pods) == "InProgress"


@pytest.mark.parametrize("reason", ["DeploymentPaused", "DeploymentResumed", None])
def test_a_status_that_does_not_report_on_the_rollout_says_nothing(
    make_deployment: Factory, reason: str | None
) -> None:
    # A paused Deployment's status is current, but says nothing about the revision's rollout.
    paused = rolling(make_deployment, progressing_reason=reason)
    assert not reports_on_revision(paused)
    assert f"deployment/{UID}/rollout/2" not in by_key(paused)


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
    before = rollout_of(by_key(done), 2)
    assert rollout_of(by_key(scaling, done), 2) == before
    # While the status lags the scale, the rollout is not described at all: what Cortex
    # holds stays as it was.
    assert f"deployment/{UID}/rollout/2" not in by_key(lagging, done)


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
    first = deployment_events(None, state, now=NOW, revisions=REVISIONS)
    again = deployment_events(None, rolling(make_deployment), now=NOW, revisions=REVISIONS)
    assert first == again
    later = deployment_events(None, state, now=NOW + timedelta(hours=1), revisions=REVISIONS)
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
    newer = rolling(make_deployment, generation=3, revision=3, images=(IMAGE_27,))
    revisions = REVISIONS | {3: Revision(3, (IMAGE_27,), STARTED + timedelta(minutes=5))}
    found = by_key(newer, unfinished, reported=unfinished, revisions=revisions)
    old = rollout_of(found, 2)
    assert old.updatable
    assert old.details["result"] == "Superseded"
    assert old.details["supersededBy"] == 3
    assert old.details["images"] == [IMAGE_26]
    assert old.title == "Rollout of web to nginx:1.26 superseded by revision 3"
    assert old.timestamp == STARTED
    new = rollout_of(found, 3)
    assert new.details["result"] == "InProgress"
    assert new.title == "Rollout of web to nginx:1.27 started"


def test_a_completed_rollout_is_not_marked_superseded(make_deployment: Factory) -> None:
    done = rolling(make_deployment, updated=3, progressing_reason="NewReplicaSetAvailable")
    newer = rolling(make_deployment, generation=3, revision=3)
    assert f"deployment/{UID}/rollout/2" not in by_key(newer, done, reported=done)


def test_the_controllers_write_order_never_rewrites_a_finished_revision(
    make_deployment: Factory,
) -> None:
    """The deployment controller writes the spec, then the ReplicaSet and the revision
    annotation, then the status. Revision 2 completed; the user moves to nginx:1.27."""
    done = rolling(make_deployment, updated=3, progressing_reason="NewReplicaSetAvailable")
    # 1. The user's change: generation 3, the annotation still says revision 2, and the
    #    Deployment's template already shows the next image.
    spec_changed = rolling(make_deployment, generation=3, observed_generation=2,
                           images=(IMAGE_27,), updated=3,
                           progressing_reason="NewReplicaSetAvailable")  # fmt: skip
    # 2. The new ReplicaSet exists and the annotation moves to revision 3.
    annotated = rolling(make_deployment, generation=3, observed_generation=2, revision=3,
                        images=(IMAGE_27,), updated=3,
                        progressing_reason="NewReplicaSetAvailable")  # fmt: skip
    # 3. The status reports on revision 3.
    reporting = rolling(make_deployment, generation=3, revision=3, images=(IMAGE_27,),
                        updated=1, progressing_reason="ReplicaSetUpdated")  # fmt: skip
    revisions = REVISIONS | {3: Revision(3, (IMAGE_27,), STARTED + timedelta(minutes=5))}
    completed = rollout_of(by_key(done), 2)
    for state, prev in ((spec_changed, done), (annotated, spec_changed), (reporting, annotated)):
        found = by_key(state, prev, reported=done, revisions=revisions)
        assert f"deployment/{UID}/rollout/2" not in found, "revision 2 must not be rewritten"
    assert completed.details["result"] == "Completed"
    third = rollout_of(by_key(reporting, annotated, reported=done, revisions=revisions), 3)
    assert third.title == "Rollout of web to nginx:1.27 started"
    assert third.timestamp == STARTED + timedelta(minutes=5)


def replicaset(
    revision: int,
    images: tuple[str, ...],
    *,
    restarted_at: str | None = None,
    history: str | None = None,
) -> dict[str, Any]:
    annotations = {"deployment.kubernetes.io/revision": str(revision)}
    if history:
        annotations["deployment.kubernetes.io/revision-history"] = history
    template_annotations = (
        {"kubectl.kubernetes.io/restartedAt": restarted_at} if restarted_at else {}
    )
    return {
        "metadata": {
            "name": f"web-{revision}",
            "namespace": "shop",
            "creationTimestamp": "2026-03-01T11:00:00Z",
            "annotations": annotations,
            "ownerReferences": [{"kind": "Deployment", "name": "web", "controller": True}],
        },
        "spec": {
            "template": {
                "metadata": {"annotations": template_annotations},
                "spec": {"containers": [{"name": "app", "image": i} for i in images]},
            }
        },
    }


def test_revision_of_tells_an_update_a_rollback_and_a_restart_apart() -> None:
    first = replicaset_snapshot(replicaset(1, ("nginx:1.25",)))
    update = replicaset_snapshot(replicaset(2, ("nginx:1.26",)))
    restart = replicaset_snapshot(
        replicaset(3, ("nginx:1.26",), restarted_at="2026-03-01T12:00:00Z")
    )
    rollback = replicaset_snapshot(replicaset(4, ("nginx:1.25",), history="1"))
    assert update.deployment == "web"
    assert update.images == ("nginx:1.26",)
    made = revision_of(update, first)
    assert made == Revision(2, ("nginx:1.26",), STARTED, "update")
    assert revision_of(restart, update) == Revision(3, ("nginx:1.26",), STARTED, "restart")
    later = STARTED + timedelta(hours=1)
    assert revision_of(rollback, restart, started=later) == Revision(
        4, ("nginx:1.25",), later, "rollback"
    )
    # A restart of a restart: the annotation changed again.
    again = replicaset_snapshot(replicaset(5, ("nginx:1.26",), restarted_at="2026-03-01T13:00:00Z"))
    assert revision_of(again, restart) is not None
    assert revision_of(again, restart).change == "restart"  # type: ignore[union-attr]


def test_rollback_and_restart_are_named_as_such(make_deployment: Factory) -> None:
    rolling_back = rolling(make_deployment, revision=4, images=("nginx:1.25",))
    found = by_key(rolling_back, revisions={4: Revision(4, ("nginx:1.25",), STARTED, "rollback")})
    event = rollout_of(found, 4)
    assert event.title == "Rollback of web to nginx:1.25 started"
    assert event.details["change"] == "rollback"
    restarted = rolling(
        make_deployment, revision=5, updated=3, progressing_reason="NewReplicaSetAvailable",
        progressing_updated="2026-03-01T11:00:05Z",
    )  # fmt: skip
    found = by_key(restarted, revisions={5: Revision(5, ("nginx:1.25",), STARTED, "restart")})
    assert rollout_of(found, 5).title == "Restart of web (nginx:1.25) completed in 5s"
