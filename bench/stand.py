"""The workloads the benchmark creates, the Cortex events it seeds, and the stand-in's objects.

At scale the Pods are of four kinds (`Population`): most are bare Pods annotated with their
entity's tag; a share belong to Deployments (through their ReplicaSets), as many to
StatefulSets and as many to Jobs, annotated on the owner and mapped through it, as users run
them. The Deployments' and StatefulSets' Pods run; the Jobs have run to completion (as kwok
completes a Job's Pods on a real cluster). On the stand-in, every object is written straight
into the Kubernetes API stand-in's store on its own loop (no HTTP, no simulated controllers),
as the real controllers and a kubelet would have left it, so that thousands of them exist in a
second; on a real cluster (`bench.realcluster`) the same manifests are created through the API
and the real controllers make the Pods. In both, the Cortex events that a previous run of the
operator would have recorded are derived by the operator's own recorder from the objects as
they are (`recorded`), and put straight into the emulator's store.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cortex_events.controllers.entities import EntityStore
from cortex_events.controllers.recorder import Recorder
from cortex_events.delivery.queue import Item, Key, Outgoing
from cortex_events.kube.watched import WORKLOADS
from cortex_events_sim import workloads
from cortex_events_sim.cluster.deployment_status import ProgressClock, deployment_status
from cortex_events_sim.cluster.objects import REVISION_ANNOTATION, owner_ref, pod_from_template
from cortex_events_sim.cluster.statefulset_controller import REVISION_LABEL
from cortex_events_sim.fake_cortex import FakeCortex
from cortex_events_sim.kubeapi.server import KubeApiServer
from cortex_events_sim.server_thread import ServerThread

NAMESPACE = "bench"
API_KEY = "bench-key-0123456789"
CLUSTER = "bench-cluster"
NODE = "bench-node-1"
IMAGE = "nginx:1.25"
WORKLOAD_RESOURCES = frozenset(watched.plural for watched in WORKLOADS)
"""What counts as a write to a workload: every kind the operator watches, Namespaces aside."""

Objects = list[tuple[str, dict[str, Any]]]
"""(kind, object as the API returns it), in the order a watch would bring them."""

OWNER_KINDS = ("Deployment", "StatefulSet", "Job")
"""The kinds of the owned Pods' owners, as many of each."""


@dataclass(frozen=True)
class Population:
    """The workloads behind ``pods`` Pods: ``owned_share`` of them in Deployments of
    ``owner_pods`` Pods each, as many in StatefulSets and as many in Jobs of that size, the
    rest bare Pods."""

    pods: int
    owned_share: float = 0.0
    owner_pods: int = 10

    @property
    def owners(self) -> int:
        """Deployments, and as many StatefulSets and Jobs."""
        return round(self.pods * self.owned_share) // self.owner_pods

    @property
    def bare(self) -> int:
        return self.pods - len(OWNER_KINDS) * self.owners * self.owner_pods

    def as_json(self) -> dict[str, int]:
        return {
            "pods": self.pods,
            "bare_pods": self.bare,
            "deployments": self.owners,
            "statefulsets": self.owners,
            "jobs": self.owners,
            "pods_per_owner": self.owner_pods,
        }


@dataclass(frozen=True)
class Growth:
    """What goes from one `Population` to a larger one: new bare Pods and new owners (the
    owners made before keep their Pods), each numbered from where the smaller one ended."""

    before: Population
    after: Population

    @property
    def bare(self) -> range:
        return range(self.before.bare, self.after.bare)

    @property
    def owners(self) -> range:
        return range(self.before.owners, self.after.owners)

    @property
    def owner_pods(self) -> int:
        return self.after.owner_pods

    @property
    def pods(self) -> int:
        return self.after.pods - self.before.pods


def entity_tag(index: int) -> str:
    return f"bench-entity-{index:03d}"


def pod_name(prefix: str, index: int) -> str:
    return f"{prefix}-{index:05d}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def running_status(*, started: datetime | None = None, container: str = "main") -> dict[str, Any]:
    """The status of a Pod whose one container runs and is ready."""
    at = _iso(started or datetime.now(UTC))
    return {
        "phase": "Running",
        "hostIP": "10.0.0.1",
        "podIP": "10.244.0.10",
        "startTime": at,
        "conditions": [
            {"type": "Initialized", "status": "True", "lastTransitionTime": at},
            {"type": "ContainersReady", "status": "True", "lastTransitionTime": at},
            {"type": "Ready", "status": "True", "lastTransitionTime": at},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": at},
        ],
        "containerStatuses": [
            {
                "name": container,
                "image": IMAGE,
                "imageID": f"docker.io/library/{IMAGE}@sha256:{'0' * 64}",
                "ready": True,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": at}},
            }
        ],
    }


def pod_manifest(
    name: str, tag: str, *, on_node: bool, namespace: str = NAMESPACE
) -> dict[str, Any]:
    """A bare Pod mapped to ``tag`` by its ``cortex.io/tag`` annotation."""
    manifest = workloads.pod(name, namespace=namespace, image=IMAGE, tag=tag)
    if on_node:
        manifest["spec"]["nodeName"] = NODE
    return manifest


def create_pods(
    server: KubeApiServer,
    names_and_tags: Sequence[tuple[str, str]],
    *,
    running: bool,
) -> list[dict[str, Any]]:
    """Create Pods (Pending, or Running and ready on a node); call on the server's loop."""
    created = []
    status = running_status() if running else None
    for name, tag in names_and_tags:
        obj = server.create("pods", pod_manifest(name, tag, on_node=running), NAMESPACE)
        if status is not None:
            obj = server.patch_status("pods", name, status, NAMESPACE)
        created.append(obj)
    return created


def deployment_name(index: int) -> str:
    return f"deploy-{index:04d}"


def statefulset_name(index: int) -> str:
    return f"sts-{index:04d}"


def job_name(index: int) -> str:
    return f"job-{index:04d}"


def bare_pods(growth: Growth, entities: int) -> list[tuple[str, str]]:
    """(name, tag) of the bare Pods a growth adds, spread round-robin over the entities."""
    return [(pod_name("pod", i), entity_tag(i % entities)) for i in growth.bare]


def owner_manifests(growth: Growth, entities: int, namespace: str = NAMESPACE) -> Objects:
    """The Deployments, StatefulSets and Jobs a growth adds, each annotated with its entity's
    tag (one of each kind to each entity in turn); the StatefulSets start their Pods at once."""
    made: Objects = []
    for i in growth.owners:
        tag = entity_tag(i % entities)
        made.append(
            (
                "Deployment",
                workloads.deployment(
                    deployment_name(i),
                    namespace=namespace,
                    image=IMAGE,
                    replicas=growth.owner_pods,
                    tag=tag,
                ),
            )
        )
        made.append(
            (
                "StatefulSet",
                workloads.statefulset(
                    statefulset_name(i),
                    namespace=namespace,
                    image=IMAGE,
                    replicas=growth.owner_pods,
                    tag=tag,
                    parallel=True,
                ),
            )
        )
        made.append(
            (
                "Job",
                workloads.job(
                    job_name(i), namespace=namespace, image=IMAGE, pods=growth.owner_pods, tag=tag
                ),
            )
        )
    return made


# -- the stand-in: objects as their controllers and a kubelet leave them ------------------------


def _owned_pod(
    server: KubeApiServer,
    owner: Mapping[str, Any],
    name: str,
    labels: Mapping[str, str],
    status: Mapping[str, Any],
) -> dict[str, Any]:
    """A Pod of ``owner``'s template on a node, as its controller makes it, with ``status``
    (`running_status` or `completed_status`)."""
    kind, api_version = owner["kind"], owner["apiVersion"]
    manifest = pod_from_template(
        owner["spec"]["template"],
        owner_ref(owner, kind, api_version),
        NAMESPACE,
        name=name,
        labels=labels,
    )
    manifest["spec"] = {**manifest["spec"], "nodeName": NODE}
    server.create("pods", manifest, NAMESPACE)
    return server.patch_status("pods", name, status, NAMESPACE)


def _container(owner: Mapping[str, Any]) -> str:
    return str(owner["spec"]["template"]["spec"]["containers"][0]["name"])


def _digest(template: Mapping[str, Any]) -> str:
    """A stable name part for a pod template, as a controller derives one from its hash."""
    return hashlib.sha256(repr(sorted(template.items())).encode()).hexdigest()[:10]


def _deployment(server: KubeApiServer, manifest: Mapping[str, Any]) -> Objects:
    """A Deployment whose first ReplicaSet runs every replica, that ReplicaSet and its Pods,
    as the deployment and ReplicaSet controllers leave them."""
    metadata = manifest["metadata"]
    annotations = {**(metadata.get("annotations") or {}), REVISION_ANNOTATION: "1"}
    deploy = server.create(
        "deployments", {**manifest, "metadata": {**metadata, "annotations": annotations}}, NAMESPACE
    )
    name, replicas = deploy["metadata"]["name"], int(deploy["spec"]["replicas"])
    template = deploy["spec"]["template"]
    digest = _digest(template)
    labels = {**template["metadata"]["labels"], "pod-template-hash": digest}
    selector = {
        "matchLabels": {**deploy["spec"]["selector"]["matchLabels"], "pod-template-hash": digest}
    }
    rs = server.create(
        "replicasets",
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{name}-{digest}",
                "labels": labels,
                "annotations": {
                    REVISION_ANNOTATION: "1",
                    "deployment.kubernetes.io/desired-replicas": str(replicas),
                    "deployment.kubernetes.io/max-replicas": str(replicas + 1),
                },
                "ownerReferences": [owner_ref(deploy, "Deployment", "apps/v1")],
            },
            "spec": {
                "replicas": replicas,
                "selector": selector,
                "template": {**template, "metadata": {**template["metadata"], "labels": labels}},
            },
        },
        NAMESPACE,
    )
    rs_name = rs["metadata"]["name"]
    running = running_status(container=_container(deploy))
    pods = [_owned_pod(server, rs, f"{rs_name}-{k:05d}", labels, running) for k in range(replicas)]
    counts = ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas")
    rs_status = {"observedGeneration": 1, **dict.fromkeys(counts, replicas)}
    rs = server.patch_status("replicasets", rs_name, rs_status, NAMESPACE)
    status, _ = deployment_status(
        deploy,
        [rs],
        desired=replicas,
        max_unavailable=0,
        created=False,
        progress=ProgressClock(),
        now=0.0,
    )
    deploy = server.patch_status("deployments", name, status, NAMESPACE)
    return [("Deployment", deploy), ("ReplicaSet", rs), *(("Pod", p) for p in pods)]


def _statefulset(server: KubeApiServer, manifest: Mapping[str, Any]) -> Objects:
    """A StatefulSet whose first revision runs on every replica, its ControllerRevision and
    its Pods."""
    sts = server.create("statefulsets", manifest, NAMESPACE)
    name, replicas = sts["metadata"]["name"], int(sts["spec"]["replicas"])
    template = sts["spec"]["template"]
    revision_name = f"{name}-{_digest(template)}"
    revision = server.create(
        "controllerrevisions",
        {
            "apiVersion": "apps/v1",
            "kind": "ControllerRevision",
            "metadata": {
                "name": revision_name,
                "labels": {**template["metadata"]["labels"], REVISION_LABEL: revision_name},
                "ownerReferences": [owner_ref(sts, "StatefulSet", "apps/v1")],
            },
            "revision": 1,
            "data": {"spec": {"template": {"$patch": "replace", **template}}},
        },
        NAMESPACE,
    )
    running = running_status(container=_container(sts))
    pods = []
    for ordinal in range(replicas):
        pod = f"{name}-{ordinal}"
        labels = {REVISION_LABEL: revision_name, "statefulset.kubernetes.io/pod-name": pod}
        pods.append(_owned_pod(server, sts, pod, labels, running))
    status = {
        "observedGeneration": sts["metadata"].get("generation", 1),
        "replicas": replicas,
        "readyReplicas": replicas,
        "currentReplicas": replicas,
        "updatedReplicas": replicas,
        "availableReplicas": replicas,
        "currentRevision": revision_name,
        "updateRevision": revision_name,
        "collisionCount": 0,
    }
    sts = server.patch_status("statefulsets", name, status, NAMESPACE)
    return [("ControllerRevision", revision), ("StatefulSet", sts), *(("Pod", p) for p in pods)]


def completed_status(*, started: datetime, finished: datetime, container: str) -> dict[str, Any]:
    """The status of a Pod whose one container ran and exited 0."""
    start, end = _iso(started), _iso(finished)
    done = {"lastTransitionTime": end, "reason": "PodCompleted"}
    return {
        "phase": "Succeeded",
        "hostIP": "10.0.0.1",
        "podIP": "10.244.0.10",
        "startTime": start,
        "conditions": [
            {"type": "Initialized", "status": "True", "lastTransitionTime": start},
            {"type": "Ready", "status": "False", **done},
            {"type": "ContainersReady", "status": "False", **done},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": start},
        ],
        "containerStatuses": [
            {
                "name": container,
                "image": IMAGE,
                "imageID": f"docker.io/library/{IMAGE}@sha256:{'0' * 64}",
                "ready": False,
                "started": False,
                "restartCount": 0,
                "state": {
                    "terminated": {
                        "exitCode": 0,
                        "reason": "Completed",
                        "startedAt": start,
                        "finishedAt": end,
                    }
                },
            }
        ],
    }


def _job(server: KubeApiServer, manifest: Mapping[str, Any]) -> Objects:
    """A Job that has run to completion, and its Pods (Succeeded, kept as the Job keeps them)."""
    job = server.create("jobs", manifest, NAMESPACE)
    name, uid = job["metadata"]["name"], job["metadata"]["uid"]
    count = int(job["spec"]["completions"])
    labels = {"batch.kubernetes.io/job-name": name, "batch.kubernetes.io/controller-uid": uid}
    finished = datetime.now(UTC)
    started = finished - timedelta(seconds=2)
    completed = completed_status(started=started, finished=finished, container=_container(job))
    pods = [_owned_pod(server, job, f"{name}-{k}", labels, completed) for k in range(count)]
    condition = {
        "status": "True",
        "lastProbeTime": _iso(finished),
        "lastTransitionTime": _iso(finished),
        "reason": "CompletionsReached",
        "message": "Reached expected number of succeeded pods",
    }
    status = {
        "conditions": [
            {"type": "SuccessCriteriaMet", **condition},
            {"type": "Complete", **condition},
        ],
        "startTime": _iso(started),
        "completionTime": _iso(finished),
        "succeeded": count,
        "ready": 0,
        "terminating": 0,
        "uncountedTerminatedPods": {},
    }
    job = server.patch_status("jobs", name, status, NAMESPACE)
    return [("Job", job), *(("Pod", p) for p in pods)]


_WRITERS = {"Deployment": _deployment, "StatefulSet": _statefulset, "Job": _job}


def _write(server: KubeApiServer, bare: Sequence[tuple[str, str]], owners: Objects) -> Objects:
    written: Objects = [("Pod", p) for p in create_pods(server, bare, running=True)]
    for kind, manifest in owners:
        written += _WRITERS[kind](server, manifest)
    return written


def grow(kube: ServerThread, growth: Growth, entities: int) -> Objects:
    """Write what ``growth`` adds into the stand-in's store: bare Pods, and Deployments and
    StatefulSets with their Pods, all Running and ready, and Jobs run to completion with their
    Pods; returns every object written, as stored."""
    bare = bare_pods(growth, entities)
    owners = owner_manifests(growth, entities)
    written: Objects = []
    # Short turns, so that the server loop stays responsive.
    for first in range(0, len(bare), 1000):
        written += kube.call(_write, kube.server, bare[first : first + 1000], [])
    for first in range(0, len(owners), 100):
        written += kube.call(_write, kube.server, [], owners[first : first + 100])
    return written


# -- what Cortex holds already ---------------------------------------------------------------


class _Collected:
    """A submitter that keeps the last content submitted for each key."""

    def __init__(self) -> None:
        self.items: dict[Key, Item] = {}

    async def submit(self, item: Item) -> None:
        self.items[item.queue_key] = item


def recorded(objects: Iterable[tuple[str, Mapping[str, Any]]]) -> list[Outgoing]:
    """The events the operator records for these objects, seen for the first time as they are
    now: its own recorder (default settings, no CortexEntity) fed each one as a listing would."""
    collected = _Collected()

    async def replay() -> None:
        recorder = Recorder(collected, EntityStore(), cluster=CLUSTER)
        for kind, body in objects:
            await recorder.changed(kind, body, None)

    asyncio.run(replay())
    return [item for item in collected.items.values() if isinstance(item, Outgoing)]


def seed_recorded(
    cortex: FakeCortex, objects: Iterable[tuple[str, Mapping[str, Any]]]
) -> collections.Counter[str]:
    """Put into Cortex the events the operator records for these objects; returns how many
    of each type.

    They are what an earlier run of the operator would have left behind, so a run that starts
    now finds every workload already recorded.
    """
    items = recorded(objects)
    for item in items:
        body = item.body
        cortex.state.add_event(
            item.tag,
            title=body.title,
            type=body.type,
            timestamp=body.timestamp,
            description=body.description or None,
            custom_data=body.custom_data,
        )
    return collections.Counter(item.body.type for item in items)
