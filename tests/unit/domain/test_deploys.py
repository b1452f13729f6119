"""Deployment states -> Cortex deploys: the type from the revision's change, the sha, the
deployer, the policy of each entity, and the body."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cortex_events.domain.deployments import Revision, deployment_events
from cortex_events.domain.keys import DEPLOY_PREFIX
from cortex_events.domain.mapping import Target
from cortex_events.domain.model import ALL_EVENT_TYPES, DeploymentSnapshot
from cortex_events.domain.rollout_deploys import (
    DeployDefaults,
    Deployer,
    DeployIntent,
    DeployType,
    deploy_policy,
    deployment_deploys,
    image_version,
    parse_deployer,
    render_deploy,
)
from cortex_events.domain.snapshots import deployment_snapshot, replicaset_snapshot
from cortex_events.domain.specs import DeploySpec, EntitySpec, parse_entity

Factory = Callable[..., dict[str, Any]]
UID = "9a7d-deploy-0001"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STARTED = datetime(2026, 3, 1, 11, 0, tzinfo=UTC)
DONE = "2026-03-01T11:00:42Z"
IMAGE = "registry.example.com/shop/nginx:1.26"


def state(make_deployment: Factory, **overrides: Any) -> DeploymentSnapshot:
    """Revision 2 of web, completed at DONE, unless overridden."""
    fields: dict[str, Any] = {
        "generation": 2,
        "revision": 2,
        "images": (IMAGE,),
        "progressing_reason": "NewReplicaSetAvailable",
        "progressing_updated": DONE,
    }
    fields.update(overrides)
    return deployment_snapshot(make_deployment(**fields))


def deploys(
    new: DeploymentSnapshot,
    revision: Revision,
    prev: DeploymentSnapshot | None = None,
    **kwargs: Any,
) -> list[DeployIntent]:
    revisions = {revision.number: revision}
    events = deployment_events(prev, new, now=NOW, revisions=revisions)
    return deployment_deploys(new, events, revisions, **kwargs)


@pytest.mark.parametrize(
    ("change", "kind", "title"),
    [
        ("update", DeployType.DEPLOY, "Rollout of web to nginx:1.26 completed in 42s"),
        ("rollback", DeployType.ROLLBACK, "Rollback of web to nginx:1.26 completed in 42s"),
        ("restart", DeployType.RESTART, "Restart of web (nginx:1.26) completed in 42s"),
    ],
)
def test_a_completed_rollout_is_a_deploy_of_its_revisions_change(
    make_deployment: Factory, change: str, kind: DeployType, title: str
) -> None:
    (deploy,) = deploys(state(make_deployment), Revision(2, (IMAGE,), STARTED, change))

    assert deploy.type is kind
    assert deploy.key == f"deploy/deployment/{UID}/revision/2"
    assert deploy.title == title
    assert deploy.timestamp == STARTED + timedelta(seconds=42)  # when it went live
    assert deploy.started == STARTED
    assert deploy.sha == "1.26"  # no annotation, no version label: the image's tag
    assert deploy.details == {
        "revision": 2,
        "images": [IMAGE],
        "change": change,
        "result": "Completed",
        "durationSeconds": 42,
    }


@pytest.mark.parametrize(
    "overrides",
    [
        {"progressing_reason": "ReplicaSetUpdated", "updated": 1},  # still rolling out
        {"progressing_reason": "ProgressDeadlineExceeded"},  # failed
        {"revision": 1, "generation": 1},  # the Deployment's creation
    ],
)
def test_a_rollout_that_did_not_complete_is_no_deploy(
    make_deployment: Factory, overrides: dict[str, Any]
) -> None:
    new = state(make_deployment, **overrides)
    revision = Revision(new.revision or 1, (IMAGE,), STARTED)
    assert deploys(new, revision) == []


def test_a_scale_is_a_scale_deploy_of_the_current_revision(make_deployment: Factory) -> None:
    before = state(make_deployment)
    after = state(make_deployment, generation=3, replicas=5)

    found = {d.type: d for d in deploys(after, Revision(2, (IMAGE,), STARTED), prev=before)}

    scale = found[DeployType.SCALE]
    assert scale.key == f"deploy/deployment/{UID}/scale/3"
    assert scale.title == "Scaled web from 3 to 5 replicas"
    assert scale.timestamp == NOW
    assert scale.details == {
        "revision": 2, "images": [IMAGE], "fromReplicas": 3, "toReplicas": 5
    }  # fmt: skip


def test_the_sha_comes_from_the_annotation_then_the_version_label_then_the_image(
    make_deployment: Factory,
) -> None:
    revision = Revision(2, (IMAGE,), STARTED)
    labelled = state(make_deployment, labels={"app": "web", "app.kubernetes.io/version": "2.4.0"})
    annotated = state(make_deployment, annotations={"cortex.io/sha": "deadbeef"}, labels={
        "app": "web", "app.kubernetes.io/version": "2.4.0"})  # fmt: skip
    template = replace(revision, annotations={"cortex.io/sha": "cafe0001"}, version="2.5.0")
    custom = deployment_snapshot(
        make_deployment(generation=2, revision=2, images=(IMAGE,), progressing_updated=DONE,
                        annotations={"ci.example.com/commit": "f00d"}),
        keep=frozenset({"ci.example.com/commit"}),
    )  # fmt: skip

    assert deploys(labelled, revision)[0].sha == "2.4.0"
    assert deploys(annotated, revision)[0].sha == "deadbeef"
    assert deploys(annotated, template)[0].sha == "cafe0001"  # the revision's own, first
    assert deploys(labelled, replace(revision, version="2.5.0"))[0].sha == "2.5.0"
    assert deploys(custom, revision, sha_annotation="ci.example.com/commit")[0].sha == "f00d"
    digest = Revision(2, ("nginx@sha256:" + "a" * 64,), STARTED)
    assert deploys(state(make_deployment), digest)[0].sha == "sha256:" + "a" * 64


def test_a_replicaset_keeps_what_the_sha_and_deployer_are_read_from() -> None:
    raw = {
        "metadata": {
            "name": "web-2",
            "namespace": "shop",
            "annotations": {"deployment.kubernetes.io/revision": "2", "cortex.io/sha": "old",
                            "ci.example.com/commit": "f00d", "other.io/noise": "x"},
            "ownerReferences": [{"kind": "Deployment", "name": "web", "controller": True}],
        },
        "spec": {"template": {"metadata": {
            "labels": {"app.kubernetes.io/version": "2.5.0"},
            "annotations": {"cortex.io/sha": "new", "cortex.io/deployer": "Ada <ada@x.io>"},
        }}},
    }  # fmt: skip

    snapshot = replicaset_snapshot(raw, keep=frozenset({"ci.example.com/commit"}))

    assert snapshot.version == "2.5.0"
    assert snapshot.annotations == {
        "cortex.io/sha": "new",  # the template's over the ReplicaSet's own
        "cortex.io/deployer": "Ada <ada@x.io>",
        "ci.example.com/commit": "f00d",
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Ada Lovelace <ada@example.com>", Deployer("Ada Lovelace", "ada@example.com")),
        ("ada@example.com", Deployer(None, "ada@example.com")),
        ("release-bot", Deployer("release-bot", None)),
        ("  ", None),
        (None, None),
    ],
)
def test_the_deployer_annotation_reads_a_name_an_email_or_both(
    value: str | None, expected: Deployer | None
) -> None:
    assert parse_deployer(value) == expected


def test_image_versions_are_digests_or_tags() -> None:
    assert image_version("registry:5000/team/web:1.2") == "1.2"
    assert image_version("registry:5000/team/web") is None
    assert image_version("web@sha256:abc") == "sha256:abc"


def spec(name: str, deploys: DeploySpec) -> EntitySpec:
    parsed = parse_entity({"metadata": {"name": name, "namespace": "shop"}, "spec": {"tag": name}})
    assert isinstance(parsed, EntitySpec)
    return replace(parsed, deploys=deploys)


def test_an_entitys_deploys_setting_wins_over_the_global_one() -> None:
    on = DeployDefaults(enabled=True, environment="prod")
    off = DeployDefaults()

    assert deploy_policy([], off, "c1").enabled is False
    assert deploy_policy([], on, "c1").environment == "prod"
    assert deploy_policy([], off, "c1").environment == "c1"  # the cluster name, last
    opted_out = deploy_policy([spec("a", DeploySpec(enabled=False))], on, "c1")
    assert opted_out.enabled is False
    opted_in = deploy_policy(
        [spec("b", DeploySpec(enabled=True, environment="staging", scales=True)),
         spec("a", DeploySpec(environment="qa"))], off, "c1",
    )  # fmt: skip
    assert (opted_in.enabled, opted_in.scales, opted_in.environment) == (True, True, "qa")


def test_spec_deploys_is_parsed_and_bad_values_name_the_field() -> None:
    def parsed(deploys: object) -> object:
        return parse_entity(
            {"metadata": {"name": "p", "namespace": "shop"},
             "spec": {"tag": "p", "deploys": deploys}}
        )  # fmt: skip

    good = parsed({"enabled": True, "environment": "prod", "scales": False})
    assert isinstance(good, EntitySpec)
    assert good.deploys == DeploySpec(True, "prod", False)
    assert str(parsed({"enabled": "yes"})) == "spec.deploys.enabled: must be true or false"
    assert str(parsed({"environment": ""})).startswith("spec.deploys.environment:")
    assert str(parsed({"env": "prod"})).startswith("spec.deploys.env: unknown field")
    assert str(parsed("on")).startswith("spec.deploys: must be an object")


def test_the_body_carries_the_environment_and_the_operators_own_keys(
    make_deployment: Factory,
) -> None:
    revision = Revision(2, (IMAGE,), STARTED, annotations={"cortex.io/deployer": "ada@x.io"})
    (deploy,) = deploys(state(make_deployment), revision)
    target = Target("web", ALL_EVENT_TYPES, {"team": "shop", "eventKey": "mine"}, ("shop/web",))
    policy = deploy_policy([], DeployDefaults(enabled=True, environment="prod"), "c1")

    body = render_deploy(deploy, target, policy, cluster="c1")

    assert (body.type, body.environment, body.sha) == ("DEPLOY", "prod", "1.26")
    assert body.deployer == Deployer(None, "ada@x.io")
    assert body.custom_data["eventKey"] == f"deploy/deployment/{UID}/revision/2"
    assert body.custom_data["eventKey"].startswith(DEPLOY_PREFIX)
    assert body.custom_data["team"] == "shop"
    assert {k: body.custom_data[k] for k in ("cluster", "namespace", "kind", "name")} == {
        "cluster": "c1", "namespace": "shop", "kind": "Deployment", "name": "web"
    }  # fmt: skip
    assert body.custom_data["managedBy"] == "cortex-events-operator"
    assert body.custom_data["durationSeconds"] == 42
