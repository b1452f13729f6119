"""Who changed a workload and what, on its rollout, scale and deletion events and on its deploys,
as the recorder derives them from watch events; and no env value in anything sent."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from cortex_events.controllers.deploy_targets import DeployRecorder
from cortex_events.controllers.entities import EntityStore
from cortex_events.controllers.recorder import Recorder
from cortex_events.delivery.queue import Outgoing, OutgoingDeploy
from cortex_events.domain.rollout_deploys import DeployDefaults
from tests.support import kinds
from tests.support.kinds import CREATED, revision, statefulset
from tests.unit import test_argo_rollouts as argo_tests
from tests.unit.test_deploy_recorder import Deploys
from tests.unit.test_kinds_recorder import Clock, Out
from tests.unit.test_recorder import NOW, stamp

SECRET = "pa55-w0rd-0f-the-db-7f3c9e"
START = NOW - timedelta(hours=1)


def template(image: str, password: str, memory: str = "128Mi") -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "web"}},
        "spec": {
            "containers": [
                {
                    "name": "web",
                    "image": image,
                    "env": [
                        {"name": "DB_PASSWORD", "value": password},
                        {"name": "LOG_LEVEL", "value": "info"},
                    ],
                    "resources": {"limits": {"memory": memory}},
                }
            ]
        },
    }


def managed(manager: str, minutes: int, fields: dict[str, Any], sub: str = "") -> dict[str, Any]:
    at = stamp(START + timedelta(minutes=minutes))
    entry = {"manager": manager, "operation": "Update", "time": at, "fieldsV1": fields}
    return entry | ({"subresource": sub} if sub else {})


class Cluster:
    """A Deployment ``web`` with its ReplicaSets, written as the deployment controller writes
    them, with the managedFields the API server keeps."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.fields = [
            managed("kubectl-client-side-apply", 0, {"f:spec": {"f:template": {}}}),
            managed("kube-controller-manager", 0, {"f:status": {}}, "status"),
        ]
        self.revision = 1
        self.generation = 1
        self.replicas = 2
        self.template = template("nginx:1.25", SECRET)
        self.labels = {"app": "web", "app.kubernetes.io/instance": "shop-web"}

    def deployment(self, reason: str = "NewReplicaSetAvailable") -> dict[str, Any]:
        return {
            "metadata": {
                "name": "web",
                "namespace": "shop",
                "uid": "dep-1",
                "generation": self.generation,
                "creationTimestamp": stamp(START),
                "labels": self.labels,
                "annotations": {
                    "cortex.io/tag": "web",
                    "deployment.kubernetes.io/revision": str(self.revision),
                    "kubernetes.io/change-cause": "rotate the db password",
                },
                "managedFields": self.fields,
            },
            "spec": {"replicas": self.replicas, "template": self.template},
            "status": {
                "observedGeneration": self.generation,
                "replicas": self.replicas,
                "updatedReplicas": self.replicas,
                "availableReplicas": self.replicas,
                "conditions": [
                    {
                        "type": "Progressing",
                        "reason": reason,
                        "lastUpdateTime": stamp(START + timedelta(minutes=self.revision * 10)),
                    }
                ],
            },
        }

    def replicaset(self) -> dict[str, Any]:
        created = START + timedelta(minutes=self.revision * 10 - 9)
        return {
            "metadata": {
                "name": f"web-{self.revision}",
                "namespace": "shop",
                "uid": f"rs-{self.revision}",
                "creationTimestamp": stamp(created),
                "annotations": {
                    "deployment.kubernetes.io/revision": str(self.revision),
                    "kubernetes.io/change-cause": "rotate the db password",
                },
                "ownerReferences": [{"kind": "Deployment", "name": "web", "controller": True}],
            },
            "spec": {"template": self.template},
        }

    async def start(self) -> None:
        await self.recorder.changed("ReplicaSet", self.replicaset(), None)
        await self.recorder.changed("Deployment", self.deployment(), None)

    async def roll(self, manager: str, new: dict[str, Any]) -> None:
        minutes = self.revision * 10 - 9
        self.fields = [f for f in self.fields if f["manager"] != manager]
        self.fields.append(managed(manager, minutes, {"f:spec": {"f:template": {}}}))
        self.template, self.generation = new, self.generation + 1
        self.revision += 1
        await self.recorder.changed("ReplicaSet", self.replicaset(), "ADDED")
        await self.recorder.changed("Deployment", self.deployment("ReplicaSetUpdated"), "MODIFIED")
        await self.recorder.changed("Deployment", self.deployment(), "MODIFIED")

    async def scale(self, manager: str, replicas: int) -> None:
        self.fields.append(managed(manager, 58, {"f:spec": {"f:replicas": {}}}, "scale"))
        self.replicas, self.generation = replicas, self.generation + 1
        await self.recorder.changed("Deployment", self.deployment(), "MODIFIED")


def make() -> tuple[Recorder, Deploys]:
    out = Deploys()
    deploys = DeployRecorder(
        out.store, DeployDefaults(enabled=True, scales=True), cluster="test",
        clock=lambda: NOW,
    )  # fmt: skip
    return Recorder(out, out.store, cluster="test", deploys=deploys, clock=lambda: NOW), out


def events(out: Deploys, kind: str) -> list[Outgoing]:
    return [i for i in out.items if isinstance(i, Outgoing) and i.body.type == kind]


async def test_a_rollout_says_who_changed_what_in_custom_data_and_description() -> None:
    recorder, out = make()
    cluster = Cluster(recorder)
    await cluster.start()
    await cluster.roll("kubectl-set", template("nginx:1.26", SECRET))
    rollout = events(out, "DEPLOYMENT_ROLLOUT")[-1].body
    data = rollout.custom_data
    assert data["changedBy"] == "kubectl-set"
    assert data["changeCause"] == "rotate the db password"
    assert data["imageChanges"] == [{"container": "web", "from": "nginx:1.25", "to": "nginx:1.26"}]
    assert data["changeSource"] == {"tool": "argocd", "application": "shop-web"}
    assert "changedEnv" not in data
    assert rollout.title.startswith("Rollout of web to nginx:1.26 completed")
    assert rollout.description.endswith(
        "; changed by kubectl-set via Argo CD application shop-web: nginx:1.25 -> nginx:1.26 "
        "(rotate the db password)"
    )


async def test_the_deploy_carries_the_manager_as_deployer_and_the_same_details() -> None:
    recorder, out = make()
    cluster = Cluster(recorder)
    await cluster.start()
    await cluster.roll("ci-pipeline", template("nginx:1.26", SECRET))
    (deploy,) = [d for d in out.deploys() if d.body.type == "DEPLOY"]
    assert deploy.body.deployer is not None
    assert (deploy.body.deployer.name, deploy.body.deployer.email) == ("ci-pipeline", None)
    assert deploy.body.custom_data["changedBy"] == "ci-pipeline"
    assert deploy.body.custom_data["imageChanges"][0]["to"] == "nginx:1.26"


async def test_a_scale_says_who_scaled_and_a_person_annotated_deployer_wins() -> None:
    recorder, out = make()
    cluster = Cluster(recorder)
    await cluster.start()
    await cluster.scale("kubectl", 5)
    scale = events(out, "DEPLOYMENT_SCALE")[-1].body
    assert scale.custom_data["changedBy"] == "kubectl"
    assert scale.title == "Scaled web from 2 to 5 replicas"
    assert scale.description.endswith("; changed by kubectl via Argo CD application shop-web")
    (deploy,) = [d for d in out.deploys() if d.body.type == "SCALE"]
    assert deploy.body.deployer is not None
    assert deploy.body.deployer.name == "kubectl"

    cluster.template["metadata"]["annotations"] = {"cortex.io/deployer": "Ada <ada@example.com>"}
    await cluster.roll("kubectl-set", cluster.template | {})
    last = [d for d in out.deploys() if d.body.type == "DEPLOY"][-1]
    assert last.body.deployer is not None
    assert (last.body.deployer.name, last.body.deployer.email) == ("Ada", "ada@example.com")


async def test_a_deletion_names_the_gitops_source() -> None:
    recorder, out = make()
    cluster = Cluster(recorder)
    await cluster.start()
    await recorder.changed("Deployment", cluster.deployment(), "DELETED")
    (deleted,) = events(out, "DEPLOYMENT_DELETION")
    assert deleted.body.custom_data["changeSource"] == {"tool": "argocd", "application": "shop-web"}


async def test_no_env_value_ever_appears_in_what_is_sent() -> None:
    """A rollout that changes a secret-looking env value, its memory and its image: the env
    var is named as changed, and its value (old or new) is in no event and no deploy."""
    recorder, out = make()
    cluster = Cluster(recorder)
    await cluster.start()
    await cluster.roll("kubectl-set", template("nginx:1.26", SECRET + "-rotated", memory="1Gi"))
    await cluster.scale("kubectl", 3)
    await recorder.changed("Deployment", cluster.deployment(), "DELETED")
    rollout = events(out, "DEPLOYMENT_ROLLOUT")[-1].body
    assert rollout.custom_data["changedEnv"] == {"web": ["DB_PASSWORD"]}
    assert rollout.custom_data["changedResources"] == ["web"]
    sent = [item.body for item in out.items]
    assert any(isinstance(item, OutgoingDeploy) for item in out.items)
    assert len(sent) >= 5
    for body in sent:
        text = json.dumps(body.__dict__, default=str)
        assert SECRET not in text, f"an env value leaked into {body.type}: {text}"
        assert "pa55" not in text


async def test_a_statefulset_rollout_names_its_manager_and_images_from_its_revisions() -> None:
    out = Deploys()
    recorder = Recorder(out, EntityStore(), cluster="c", clock=lambda: CREATED)
    tag = {"cortex.io/tag": "db"}

    def written(body: dict[str, Any]) -> dict[str, Any]:
        writer = kinds.managed("db-operator", "", "template", at=CREATED + timedelta(minutes=1))
        body["metadata"]["managedFields"].append(writer)
        return body

    await recorder.changed("ControllerRevision", revision("db-rev1", 1, "postgres:15"), None)
    await recorder.changed("StatefulSet", statefulset(image="postgres:15", annotations=tag), None)
    later = CREATED + timedelta(minutes=1)
    second = revision("db-rev2", 2, "postgres:16", created=later)
    await recorder.changed("ControllerRevision", second, "ADDED")
    await recorder.changed(
        "StatefulSet",
        written(statefulset(generation=2, update_revision="db-rev2", updated=1, annotations=tag)),
        "MODIFIED",
    )
    rollout = events(out, "STATEFULSET_ROLLOUT")[-1].body
    assert rollout.custom_data["changedBy"] == "db-operator"
    assert rollout.custom_data["imageChanges"] == [
        {"container": "app", "from": "postgres:15", "to": "postgres:16"}
    ]
    assert rollout.description.endswith("; changed by db-operator: postgres:15 -> postgres:16")


ARGO_AT = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)


def argo_replicaset(revision: int, image: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"web-h{revision}",
            "namespace": "shop",
            "uid": f"ro-rs-{revision}",
            "creationTimestamp": stamp(ARGO_AT + timedelta(minutes=revision)),
            "annotations": {"rollout.argoproj.io/revision": str(revision)},
            "ownerReferences": [{"kind": "Rollout", "name": "web", "controller": True}],
        },
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}},
    }


async def test_an_argo_rollout_revision_names_its_manager_and_images() -> None:
    out, clock = Out(), Clock()
    recorder = argo_tests.make(out, clock)
    await recorder.changed("ReplicaSet", argo_replicaset(1, "web:1"), None)
    await recorder.changed("Rollout", argo_tests.rollout(), None)
    await recorder.changed("ReplicaSet", argo_replicaset(2, "web:2"), "ADDED")
    status = {"currentStepIndex": 0}
    body = argo_tests.rollout(revision=2, image="web:2", generation=2, status=status)
    body["metadata"]["managedFields"].append(
        kinds.managed("kargo", "", "template", at=ARGO_AT + timedelta(minutes=2))
    )
    await recorder.changed("Rollout", body, "MODIFIED")
    event = argo_tests.revision_events(out)[-1].body
    assert event.custom_data["changedBy"] == "kargo"
    assert event.custom_data["imageChanges"] == [
        {"container": "app", "from": "web:1", "to": "web:2"}
    ]
