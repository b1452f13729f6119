"""Rollouts as the real deployment controller writes them: updates, a superseded revision,
``kubectl rollout undo`` and ``kubectl rollout restart``."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from cortex_events_sim.fake_cortex import FakeCortex
from testbed.controlplane import ControlPlane

from .conftest import FATE_LABEL, Operator, assert_once_per_key, data, deployment, events, wait_for

TAG = "rc-rollouts"


def rollout_bodies(cortex: FakeCortex) -> dict[int, list[dict[str, object]]]:
    """Every body the operator sent for each revision's rollout event, in order."""
    sent: dict[int, list[dict[str, object]]] = {}
    for request in cortex.state.requests:
        body = request.body
        if request.tag != TAG or request.method not in {"POST", "PUT"} or request.status != 200:
            continue
        if not isinstance(body, dict) or body.get("type") != "DEPLOYMENT_ROLLOUT":
            continue
        sent.setdefault(body["customData"]["revision"], []).append(body)
    return sent


def result_of(cortex: FakeCortex, revision: int) -> str | None:
    for event in events(cortex, TAG, "DEPLOYMENT_ROLLOUT"):
        if data(event)["revision"] == revision:
            return str(data(event)["result"])
    return None


def now_in_seconds() -> datetime:
    # Kubernetes timestamps have whole seconds.
    return datetime.now(UTC).replace(microsecond=0)


def test_each_revision_keeps_an_event_of_its_own(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, operator: Operator
) -> None:
    operator.start()
    kubectl = ("-n", namespace)
    plane.apply(deployment("web", namespace, image="nginx:1.21", replicas=2, tag=TAG))
    plane.rollout_status("deployment/web", namespace)
    changed_at: dict[int, datetime] = {}

    def set_image(revision: int, image: str, *, fate: str | None = None) -> None:
        changed_at[revision] = now_in_seconds()
        patch = {
            "spec": {
                "template": {
                    "metadata": {"labels": {FATE_LABEL: fate}},
                    "spec": {"containers": [{"name": "app", "image": image}]},
                }
            }
        }
        plane.kubectl("patch", "deployment/web", *kubectl, "--type=strategic", "-p",
                      json.dumps(patch))  # fmt: skip

    def completed(revision: int) -> None:
        plane.rollout_status("deployment/web", namespace)
        wait_for(lambda: result_of(cortex, revision) == "Completed", what=f"rev {revision} done")

    set_image(2, "nginx:1.22")
    completed(2)
    # Revision 3's pods never leave Pending: it is still rolling out when revision 4 comes.
    set_image(3, "nginx:1.23", fate="pending")
    wait_for(lambda: result_of(cortex, 3) == "InProgress", what="revision 3 to be in progress")
    set_image(4, "nginx:1.24")
    completed(4)
    changed_at[5] = now_in_seconds()
    plane.kubectl("rollout", "undo", "deployment/web", *kubectl, "--to-revision=2")
    completed(5)
    changed_at[6] = now_in_seconds()
    plane.kubectl("rollout", "restart", "deployment/web", *kubectl)
    completed(6)

    expected = {
        2: ("nginx:1.22", "update", "Completed", "Rollout of web to nginx:1.22 completed"),
        3: ("nginx:1.23", "update", "Superseded",
            "Rollout of web to nginx:1.23 superseded by revision 4"),
        4: ("nginx:1.24", "update", "Completed", "Rollout of web to nginx:1.24 completed"),
        5: ("nginx:1.22", "rollback", "Completed", "Rollback of web to nginx:1.22 completed"),
        6: ("nginx:1.22", "restart", "Completed", "Restart of web (nginx:1.22) completed"),
    }  # fmt: skip
    stored = {data(e)["revision"]: e for e in events(cortex, TAG, "DEPLOYMENT_ROLLOUT")}
    assert sorted(stored) == sorted(expected)
    sent = rollout_bodies(cortex)
    for revision, (image, change, result, title) in expected.items():
        event = stored[revision]
        assert data(event)["images"] == [image], (revision, data(event))
        assert data(event)["change"] == change
        assert data(event)["result"] == result
        assert event.title.startswith(title), (revision, event.title)
        assert event.timestamp >= changed_at[revision], (revision, event.timestamp)
        # Every body ever sent for this revision describes this revision, and none came from
        # a later revision's changes: first in progress, then its own result.
        bodies = sent[revision]
        assert {tuple(b["customData"]["images"]) for b in bodies} == {(image,)}  # type: ignore[index]
        results = [b["customData"]["result"] for b in bodies]  # type: ignore[index]
        assert results[-1] == result
        assert set(results) <= {"InProgress", result}, (revision, results)
    # A rollout's start comes from its own revision, never from the previous one's condition.
    starts = [stored[r].timestamp for r in sorted(stored)]
    assert starts == sorted(starts)
    assert_once_per_key(cortex)
