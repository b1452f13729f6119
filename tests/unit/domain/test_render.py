"""Rendering intents into Cortex event bodies: ownership keys, payload, fingerprints."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from cortex_events.domain.intents import EventIntent
from cortex_events.domain.mapping import Target
from cortex_events.domain.model import ALL_EVENT_TYPES, EventType, WorkloadRef
from cortex_events.domain.render import (
    MANAGED_BY,
    OPERATOR_KEYS,
    body_fingerprint,
    is_owned,
    read_owned,
    render,
)

SUBJECT = WorkloadRef("Deployment", "shop", "web", "9a7d-deploy-0001")
INTENT = EventIntent(
    key="deployment/9a7d-deploy-0001/rollout/3",
    type=EventType.DEPLOYMENT_ROLLOUT,
    subject=SUBJECT,
    title="Rollout of web to nginx:1.26 started",
    description="Revision 3 of shop/web is rolling out",
    timestamp=datetime(2026, 3, 1, 11, 0, 0, 123456, tzinfo=UTC),
    details={"revision": 3, "result": "InProgress"},
    updatable=True,
)
TARGET = Target(
    tag="payments-api",
    event_types=ALL_EVENT_TYPES,
    custom_data={"team": "payments", "cluster": "spoofed", "eventKey": "x", "revision": 0},
    entities=("shop/a", "shop/b"),
)


def test_operator_keys_win_over_user_and_details() -> None:
    body = render(INTENT, TARGET, cluster="prod-eu")
    assert body.custom_data == {
        "team": "payments",
        "revision": 3,
        "result": "InProgress",
        "cluster": "prod-eu",
        "namespace": "shop",
        "kind": "Deployment",
        "name": "web",
        "uid": "9a7d-deploy-0001",
        "eventKey": "deployment/9a7d-deploy-0001/rollout/3",
        "managedBy": MANAGED_BY,
        "cortexEntities": ["shop/a", "shop/b"],
    }
    assert body.title == INTENT.title
    assert body.type == "DEPLOYMENT_ROLLOUT"
    assert body.description == INTENT.description
    assert body.timestamp == INTENT.timestamp


def test_rendered_events_are_owned_only_in_their_cluster() -> None:
    data = render(INTENT, TARGET, cluster="prod-eu").custom_data
    assert is_owned(data, cluster="prod-eu")
    assert not is_owned(data, cluster="prod-us")
    assert not is_owned({"cluster": "prod-eu", "eventKey": "k"}, cluster="prod-eu")
    assert not is_owned({**data, "eventKey": ""}, cluster="prod-eu")
    assert not is_owned(None, cluster="prod-eu")


def test_fingerprint_ignores_timestamp_and_key_order() -> None:
    body = render(INTENT, TARGET, cluster="c")
    later = render(
        replace(INTENT, timestamp=INTENT.timestamp + timedelta(hours=1)), TARGET, cluster="c"
    )
    reordered = replace(body, custom_data=dict(reversed(list(body.custom_data.items()))))
    assert body_fingerprint(body) == body_fingerprint(later)
    assert body_fingerprint(body) == body_fingerprint(reordered)


def test_fingerprint_changes_with_content() -> None:
    body = render(INTENT, TARGET, cluster="c")
    completed = render(
        replace(
            INTENT,
            title="Rollout of web to nginx:1.26 completed in 42s",
            details={"revision": 3, "result": "Completed", "durationSeconds": 42},
        ),
        TARGET,
        cluster="c",
    )
    other_description = replace(body, description="changed")
    other_data = render(INTENT, replace(TARGET, custom_data={"team": "other"}), cluster="c")
    prints = {body_fingerprint(b) for b in (body, completed, other_description, other_data)}
    assert len(prints) == 4


def test_read_owned_is_the_inverse_of_render() -> None:
    for intent, target in (
        (INTENT, TARGET),
        (replace(INTENT, details={}), replace(TARGET, custom_data={}, entities=())),
        (
            replace(INTENT, subject=WorkloadRef("Pod", "default", "p-1", "uid-pod")),
            replace(TARGET, entities=("default/x",)),
        ),
    ):
        body = render(intent, target, cluster="prod-eu")
        owned = read_owned(body.custom_data, cluster="prod-eu")
        assert owned is not None
        assert owned.key == intent.key
        assert owned.cluster == "prod-eu"
        assert owned.subject == intent.subject
        assert owned.entities == target.entities
        # What is left is exactly the event's details over its entity's customData.
        rest = {k: v for k, v in target.custom_data.items() if k not in OPERATOR_KEYS}
        assert owned.details == {**rest, **intent.details}


def test_read_owned_refuses_what_the_operator_did_not_record() -> None:
    data = render(INTENT, TARGET, cluster="prod-eu").custom_data
    assert read_owned(data) is not None  # any cluster's
    assert read_owned(data, cluster="prod-us") is None
    for broken in (
        {**data, "managedBy": "someone-else"},
        {**data, "eventKey": ""},
        {k: v for k, v in data.items() if k != "cluster"},
        ["not", "a", "mapping"],
    ):
        assert read_owned(broken) is None
    # Ownership is managedBy, cluster and eventKey; what else is missing is left empty.
    sparse = read_owned({"managedBy": MANAGED_BY, "cluster": "prod-eu", "eventKey": "k"})
    assert sparse is not None
    assert (sparse.subject, sparse.entities) == (WorkloadRef("", "", "", ""), ())
