"""DaemonSet states -> events: a rollout waits for the revision that holds its template."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cortex_events.domain.apps import controller_revision_snapshot, daemonset_snapshot
from cortex_events.domain.daemonsets import current_rollout, daemonset_events
from cortex_events.domain.deployments import Revision
from cortex_events.domain.intents import EventIntent
from cortex_events.domain.model import EventType
from cortex_events.domain.revisions import controller_revision
from tests.support.kinds import CREATED, daemonset, revision

STARTED = CREATED + timedelta(hours=1)


def revisions(*images: str) -> dict[int, Revision]:
    found = {}
    for number, image in enumerate(images, 1):
        raw = revision(f"agent-{number}", number, image, owner=("DaemonSet", "agent"),
                       created=STARTED if number > 1 else CREATED)  # fmt: skip
        found[number] = controller_revision(controller_revision_snapshot(raw), None)
    return found


def keys(body: dict[str, Any], known: dict[int, Revision]) -> dict[str, EventIntent]:
    snapshot = daemonset_snapshot(body)
    current = current_rollout(snapshot, known, dict.fromkeys(known))
    return {e.key: e for e in daemonset_events(snapshot, current=current)}


def test_creation_names_its_images_not_a_node_count_not_yet_known() -> None:
    found = keys(daemonset(), revisions("agent:1"))
    created = found["daemonset/ds-1/created"]
    assert list(found) == ["daemonset/ds-1/created"]
    assert created.type is EventType.DAEMONSET_CREATION
    assert created.description == "agent:1"
    assert "nodes" not in created.details


def test_the_rollout_waits_for_the_revision_of_the_current_template() -> None:
    # The status reports on generation 2 before revision 2's own watch event has come.
    body = daemonset(image="agent:2", generation=2, updated=0)
    assert "daemonset/ds-1/rollout/1" not in keys(body, revisions("agent:1"))
    rolling = keys(body, revisions("agent:1", "agent:2"))["daemonset/ds-1/rollout/2"]
    assert rolling.type is EventType.DAEMONSET_ROLLOUT
    assert rolling.title == "Rollout of agent to agent:2 started"
    assert rolling.timestamp == STARTED


def test_the_rollout_completes_when_every_node_runs_an_available_updated_pod() -> None:
    known = revisions("agent:1", "agent:2")
    assert (
        keys(daemonset(image="agent:2", generation=2, updated=3, available=2), known)[
            "daemonset/ds-1/rollout/2"
        ].details["result"]
        == "InProgress"
    )
    done = keys(daemonset(image="agent:2", generation=2), known)["daemonset/ds-1/rollout/2"]
    assert done.details["result"] == "Completed"
    assert done.description.startswith("Revision 2 of shop/agent runs on 3 of 3 pods")
