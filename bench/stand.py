"""The workloads the benchmark creates, the Cortex events it seeds, and the stand-in's Pods.

On the stand-in, Pods are written straight into the Kubernetes API stand-in's store on its own
loop (no HTTP, no simulated kubelet), with the status the benchmark chooses, so that thousands
of them exist in a second; on a real cluster (`bench.realcluster`) the same manifests are
created through the API. In both, Cortex events that a previous run of the operator would have
recorded are rendered with the operator's own domain code and put straight into the emulator's
store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cortex_events.domain.mapping import resolve
from cortex_events.domain.model import pod_snapshot
from cortex_events.domain.pods import pod_events
from cortex_events.domain.render import render
from cortex_events_sim import workloads
from cortex_events_sim.fake_cortex import FakeCortex
from cortex_events_sim.kubeapi.server import KubeApiServer
from cortex_events_sim.server_thread import ServerThread

NAMESPACE = "bench"
API_KEY = "bench-key-0123456789"
CLUSTER = "bench-cluster"
NODE = "bench-node-1"
IMAGE = "nginx:1.25"
WORKLOAD_RESOURCES = frozenset({"pods", "replicasets", "deployments"})


def entity_tag(index: int) -> str:
    return f"bench-entity-{index:03d}"


def pod_name(prefix: str, index: int) -> str:
    return f"{prefix}-{index:05d}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def running_status(*, started: datetime | None = None) -> dict[str, Any]:
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
                "name": "main",
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


def grow(
    kube: ServerThread, start: int, stop: int, entities: int, *, prefix: str = "pod"
) -> list[dict[str, Any]]:
    """Pods ``start`` .. ``stop - 1``, Running and ready, spread round-robin over the entities."""
    batch = [(pod_name(prefix, i), entity_tag(i % entities)) for i in range(start, stop)]
    created: list[dict[str, Any]] = []
    for first in range(0, len(batch), 1000):  # short turns, so the server loop stays responsive
        created += kube.call(create_pods, kube.server, batch[first : first + 1000], running=True)
    return created


def seed_recorded(cortex: FakeCortex, pods: Iterable[Mapping[str, Any]]) -> int:
    """Put into Cortex the events the operator records for these Pods; returns how many.

    They are what an earlier run of the operator would have left behind, rendered by the
    operator's own rules, so a run that starts now finds every Pod already recorded.
    """
    count = 0
    now = datetime.now(UTC)
    for obj in pods:
        snapshot = pod_snapshot(obj)
        ref = snapshot.ref
        resolution = resolve(
            "Pod",
            ref.namespace,
            ref.name,
            snapshot.labels,
            snapshot.annotations,
            owner=None,
            entities=(),
        )
        for intent in pod_events(None, snapshot, now=now):
            for target in resolution.for_type(intent.type):
                body = render(intent, target, cluster=CLUSTER)
                cortex.state.add_event(
                    target.tag,
                    title=body.title,
                    type=body.type,
                    timestamp=body.timestamp,
                    description=body.description or None,
                    custom_data=body.custom_data,
                )
                count += 1
    return count
