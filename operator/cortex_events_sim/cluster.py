"""A simulated cluster: a tiny controller-manager and kubelet working on the API store.

``SimulatedCluster`` runs on the loop of a ``KubeApiServer`` and writes through its store,
so every change it makes reaches watchers as ordinary watch events:

- Deployment controller: one ReplicaSet per pod-template revision, rolling updates (new
  ReplicaSet up, old ones down within maxSurge/maxUnavailable) or Recreate, the revision
  annotations, and status with the Available and Progressing conditions (including
  ProgressDeadlineExceeded).
- ReplicaSet controller: creates and deletes Pods to match ``spec.replicas``.
- Garbage collector: deletes the dependents of a removed owner (``ownerReferences``).
- Kubelet (one node): Pending -> Running and Ready, or the fate named by the pod's
  ``sim.cortex-events.io/behavior`` annotation; finishes graceful pod deletions.

It is event driven: writes mark objects dirty through a store listener, and each tick
works only on dirty objects and due kubelet timers, so thousands of pods stay cheap.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import heapq
import itertools
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .kubeapi import KubeApiError, KubeApiServer
from .kubeapi.store import now_iso

logger = logging.getLogger(__name__)

BEHAVIOR_ANNOTATION = "sim.cortex-events.io/behavior"
BEHAVIORS = ("Running", "OOMKilled", "CrashLoopBackOff", "ImagePullBackOff", "Failed", "Evicted")
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
HASH_LABEL = "pod-template-hash"
PODS = "pods"
DEPLOYMENTS = "deployments.apps"
REPLICASETS = "replicasets.apps"
#: Failed pods a ReplicaSet tolerates before it stops replacing them (stands in for back-off).
MAX_FAILED_REPLACEMENTS = 5
_HASH_CHARS = "bcdfghjklmnpqrstvwxz2456789"

Key = tuple[str, str, str]  # (resource key, namespace, name)


@dataclass(frozen=True)
class SimTimings:
    """Delays of the simulated kubelet, in seconds (fast by default: Ready in ~0.2 s)."""

    schedule: float = 0.05  #: creation -> bound to the node, containers being created
    start: float = 0.15  #: bound -> containers running (and Ready, unless the fate says not)
    crash: float = 0.3  #: running -> the failure the pod's behaviour names
    restart: float = 0.3  #: a terminated container -> restarted or backing off
    terminate: float = 0.1  #: deletion requested -> containers stopped and the pod removed


def _now() -> str:
    return now_iso()


def _template_hash(template: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(_HASH_CHARS[byte % len(_HASH_CHARS)] for byte in digest[:10])


def _scaled(value: Any, total: int, *, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        exact = total * float(value[:-1]) / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value or 0)


def _owner_uids(obj: Mapping[str, Any] | None) -> set[str]:
    if obj is None:
        return set()
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return {ref["uid"] for ref in refs if ref.get("uid")}


def _controller_of(obj: Mapping[str, Any], kind: str) -> str | None:
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("kind") == kind and ref.get("controller", True):
            return str(ref["name"])
    return None


def _revision(rs: Mapping[str, Any]) -> int:
    text = (rs["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION, "0")
    return int(text) if text.isdigit() else 0


def _is_ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _condition(
    previous: Mapping[str, Any] | None,
    kind: str,
    status: str,
    reason: str,
    message: str,
    *,
    touch: bool,
) -> dict[str, Any]:
    """A deployment condition; times move only on a real change (or ``touch``)."""
    now = _now()
    same = previous is not None and previous.get("status") == status
    unchanged = same and previous is not None and previous.get("reason") == reason
    return {
        "type": kind,
        "status": status,
        "lastUpdateTime": previous.get("lastUpdateTime", now)
        if unchanged and not touch and previous is not None
        else now,
        "lastTransitionTime": previous.get("lastTransitionTime", now)
        if same and previous is not None
        else now,
        "reason": reason,
        "message": message,
    }


class SimulatedCluster:
    """Controllers and a kubelet for a ``KubeApiServer``; ``start()`` on the server's loop."""

    def __init__(
        self,
        server: KubeApiServer,
        *,
        tick: float = 0.05,
        node_name: str = "sim-node-1",
        timings: SimTimings | None = None,
    ) -> None:
        self.server = server
        self.store = server.store
        self.tick = tick
        self.node_name = node_name
        self.timings = timings or SimTimings()
        self._task: asyncio.Task[None] | None = None
        self._timers: list[tuple[float, int, str, str, str, str]] = []
        self._sequence = itertools.count()
        self._ips = itertools.count(2)
        self._dirty_deployments: set[tuple[str, str]] = set()
        self._dirty_replicasets: set[tuple[str, str]] = set()
        self._rolling: set[tuple[str, str]] = set()
        self._removed_uids: set[str] = set()
        self._children: dict[str, set[Key]] = {}
        self._live_uids: set[str] = set()
        self._last_progress: dict[str, float] = {}

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Index what exists, subscribe to changes and start ticking."""
        for rtype in self.store.types():
            for obj in self.store.list(rtype):
                self._on_change(rtype.key, "ADDED", obj, None)
        self.store.add_listener(self._on_change)
        self._task = asyncio.create_task(self._run(), name="simulated-cluster")

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.store.remove_listener(self._on_change)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            try:
                self.step()
            except Exception:
                logger.exception("the simulated cluster failed a step; continuing")

    def step(self) -> None:
        """One round: due kubelet work, garbage collection, then both controllers."""
        now = asyncio.get_running_loop().time()
        while self._timers and self._timers[0][0] <= now:
            _, _, action, namespace, name, uid = heapq.heappop(self._timers)
            self._guarded(self._kubelet, action, namespace, name, uid)
        removed, self._removed_uids = self._removed_uids, set()
        for uid in removed:
            for child in sorted(self._children.pop(uid, set())):
                self._guarded(self._collect, child)
        deployments = self._dirty_deployments | self._rolling
        self._dirty_deployments = set()
        for namespace, name in sorted(deployments):
            self._guarded(self._sync_deployment, namespace, name)
        replicasets, self._dirty_replicasets = self._dirty_replicasets, set()
        for namespace, name in sorted(replicasets):
            self._guarded(self._sync_replicaset, namespace, name)

    def _guarded(self, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except KubeApiError as exc:  # gone or changed meanwhile: the next event retries
            logger.debug("simulated cluster: %s%r: %s", fn.__name__, args, exc.message)

    # --- change tracking -----------------------------------------------------------------

    def _on_change(
        self, key: str, event: str, obj: Mapping[str, Any], old: Mapping[str, Any] | None
    ) -> None:
        metadata = obj["metadata"]
        namespace, name, uid = metadata.get("namespace", ""), metadata["name"], metadata["uid"]
        child: Key = (key, namespace, name)
        refs_now = set() if event == "DELETED" else _owner_uids(obj)
        refs_before = _owner_uids(obj) if event == "DELETED" else _owner_uids(old)
        for owner in refs_before - refs_now:
            siblings = self._children.get(owner)
            if siblings is not None:
                siblings.discard(child)
                if not siblings:
                    del self._children[owner]
        for owner in refs_now - refs_before:
            self._children.setdefault(owner, set()).add(child)
        if event == "DELETED":
            self._live_uids.discard(uid)
            self._removed_uids.add(uid)
            self._last_progress.pop(uid, None)
        else:
            self._live_uids.add(uid)
        if key == DEPLOYMENTS:
            self._dirty_deployments.add((namespace, name))
            if event == "DELETED":
                self._rolling.discard((namespace, name))
        elif key == REPLICASETS:
            self._dirty_replicasets.add((namespace, name))
            owner_name = _controller_of(obj, "Deployment")
            if owner_name:
                self._dirty_deployments.add((namespace, owner_name))
        elif key == PODS:
            owner_name = _controller_of(obj, "ReplicaSet")
            if owner_name:
                self._dirty_replicasets.add((namespace, owner_name))
            self._watch_pod(event, obj, old)

    def _watch_pod(self, event: str, pod: Mapping[str, Any], old: Mapping[str, Any] | None) -> None:
        metadata = pod["metadata"]
        deleting = bool(metadata.get("deletionTimestamp"))
        was_deleting = bool(old and old["metadata"].get("deletionTimestamp"))
        if event == "ADDED" and not deleting and not (pod.get("status") or {}).get("startTime"):
            self._schedule(self.timings.schedule, "bind", pod)
        elif event == "MODIFIED" and deleting and not was_deleting:
            self._schedule(self.timings.terminate, "terminate", pod)

    def _schedule(self, delay: float, action: str, pod: Mapping[str, Any]) -> None:
        metadata = pod["metadata"]
        due = asyncio.get_running_loop().time() + delay
        heapq.heappush(
            self._timers,
            (
                due,
                next(self._sequence),
                action,
                metadata["namespace"],
                metadata["name"],
                metadata["uid"],
            ),
        )

    # --- garbage collector ---------------------------------------------------------------

    def _collect(self, child: Key) -> None:
        key, namespace, name = child
        obj = self.store.peek(key, name, namespace or None)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return
        if not _owner_uids(obj) & self._live_uids:
            self.store.delete(key, name, namespace or None)

    # --- kubelet -------------------------------------------------------------------------

    def _kubelet(self, action: str, namespace: str, name: str, uid: str) -> None:
        pod = self.store.peek(PODS, name, namespace)
        if pod is None or pod["metadata"]["uid"] != uid:
            return
        if action == "terminate":
            self.store.delete(PODS, name, namespace, grace_period_seconds=0)
            return
        if pod["metadata"].get("deletionTimestamp"):
            return
        behavior = (pod["metadata"].get("annotations") or {}).get(BEHAVIOR_ANNOTATION, "Running")
        if behavior not in BEHAVIORS:
            behavior = "Running"
        getattr(self, f"_pod_{action}")(pod, behavior)

    def _set_status(self, pod: Mapping[str, Any], status: Mapping[str, Any]) -> None:
        metadata = pod["metadata"]
        self.store.patch(
            PODS,
            metadata["name"],
            {"status": status},
            metadata["namespace"],
            subresource="status",
        )

    def _containers(
        self,
        pod: Mapping[str, Any],
        *,
        ready: bool,
        state: Mapping[str, Any],
        restarts: int = 0,
        last: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        statuses = []
        for container in pod["spec"].get("containers") or []:
            image = container.get("image", "")
            running = "running" in state
            entry: dict[str, Any] = {
                "name": container["name"],
                "image": image,
                "imageID": f"{image}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"
                if running or "terminated" in state
                else "",
                "ready": ready,
                "started": running,
                "restartCount": restarts,
                "state": dict(state),
                "lastState": dict(last or {}),
            }
            if running or "terminated" in state:
                seed = f"{pod['metadata']['uid']}/{container['name']}/{restarts}"
                entry["containerID"] = f"containerd://{hashlib.sha256(seed.encode()).hexdigest()}"
            statuses.append(entry)
        return statuses

    def _pod_conditions(self, ready: bool) -> list[dict[str, Any]]:
        now = _now()
        flag = "True" if ready else "False"
        conditions = [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            {"type": "Initialized", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": flag, "lastTransitionTime": now},
            {"type": "Ready", "status": flag, "lastTransitionTime": now},
        ]
        if not ready:
            for condition in conditions[2:]:
                condition["reason"] = "ContainersNotReady"
        return conditions

    def _pod_bind(self, pod: Mapping[str, Any], behavior: str) -> None:
        metadata = pod["metadata"]
        if not pod["spec"].get("nodeName"):
            self.store.patch(
                PODS,
                metadata["name"],
                {"spec": {"nodeName": self.node_name}},
                metadata["namespace"],
            )
        ip = next(self._ips)
        waiting = {"waiting": {"reason": "ContainerCreating"}}
        self._set_status(
            pod,
            {
                "phase": "Pending",
                "hostIP": "10.0.0.1",
                "podIP": f"10.244.{(ip // 250) % 256}.{ip % 250 + 2}",
                "startTime": _now(),
                "conditions": self._pod_conditions(False),
                "containerStatuses": self._containers(pod, ready=False, state=waiting),
            },
        )
        self._schedule(self.timings.start, "start", pod)

    def _pod_start(self, pod: Mapping[str, Any], behavior: str) -> None:
        if behavior == "ImagePullBackOff":
            image = (pod["spec"]["containers"] or [{}])[0].get("image", "")
            waiting = {
                "waiting": {
                    "reason": "ImagePullBackOff",
                    "message": f'Back-off pulling image "{image}"',
                }
            }
            self._set_status(
                pod,
                {
                    "conditions": self._pod_conditions(False),
                    "containerStatuses": self._containers(pod, ready=False, state=waiting),
                },
            )
            return
        running = {"running": {"startedAt": _now()}}
        self._set_status(
            pod,
            {
                "phase": "Running",
                "conditions": self._pod_conditions(True),
                "containerStatuses": self._containers(pod, ready=True, state=running),
            },
        )
        if behavior != "Running":
            self._schedule(self.timings.crash, "crash", pod)

    def _terminated(self, pod: Mapping[str, Any], reason: str, code: int) -> dict[str, Any]:
        now = _now()
        statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
        started = ((statuses[0].get("state") or {}).get("running") or {}).get("startedAt", now)
        return {
            "terminated": {
                "reason": reason,
                "exitCode": code,
                "startedAt": started,
                "finishedAt": now,
            }
        }

    def _pod_crash(self, pod: Mapping[str, Any], behavior: str) -> None:
        if behavior in ("OOMKilled", "CrashLoopBackOff"):
            reason, code = ("OOMKilled", 137) if behavior == "OOMKilled" else ("Error", 1)
            self._set_status(
                pod,
                {
                    "conditions": self._pod_conditions(False),
                    "containerStatuses": self._containers(
                        pod, ready=False, state=self._terminated(pod, reason, code)
                    ),
                },
            )
            self._schedule(self.timings.restart, "restart", pod)
        elif behavior == "Failed":
            self._set_status(
                pod,
                {
                    "phase": "Failed",
                    "conditions": self._pod_conditions(False),
                    "containerStatuses": self._containers(
                        pod, ready=False, state=self._terminated(pod, "Error", 1)
                    ),
                },
            )
        elif behavior == "Evicted":
            conditions = self._pod_conditions(False)
            conditions.append(
                {
                    "type": "DisruptionTarget",
                    "status": "True",
                    "reason": "TerminationByKubelet",
                    "lastTransitionTime": _now(),
                    "message": "The node was low on resource: memory.",
                }
            )
            self._set_status(
                pod,
                {
                    "phase": "Failed",
                    "reason": "Evicted",
                    "message": "The node was low on resource: memory. Threshold quantity: 100Mi, "
                    "available: 42Mi.",
                    "conditions": conditions,
                    "containerStatuses": self._containers(
                        pod, ready=False, state=self._terminated(pod, "Error", 137)
                    ),
                },
            )

    def _pod_restart(self, pod: Mapping[str, Any], behavior: str) -> None:
        statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
        last = statuses[0].get("state") or {}
        restarts = int(statuses[0].get("restartCount", 0)) + 1
        if behavior == "OOMKilled":
            self._set_status(
                pod,
                {
                    "conditions": self._pod_conditions(True),
                    "containerStatuses": self._containers(
                        pod,
                        ready=True,
                        state={"running": {"startedAt": _now()}},
                        restarts=restarts,
                        last=last,
                    ),
                },
            )
        else:
            name = pod["metadata"]["name"]
            message = (
                f"back-off 10s restarting failed container pod={name}_"
                f"{pod['metadata']['namespace']}({pod['metadata']['uid']})"
            )
            self._set_status(
                pod,
                {
                    "conditions": self._pod_conditions(False),
                    "containerStatuses": self._containers(
                        pod,
                        ready=False,
                        state={"waiting": {"reason": "CrashLoopBackOff", "message": message}},
                        restarts=restarts,
                        last=last,
                    ),
                },
            )

    # --- ReplicaSet controller -----------------------------------------------------------

    def _owned(self, owner: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
        found = []
        for child_key, namespace, name in self._children.get(owner["metadata"]["uid"], ()):
            if child_key == key:
                obj = self.store.peek(key, name, namespace)
                if obj is not None:
                    found.append(obj)
        found.sort(key=lambda o: (o["metadata"]["creationTimestamp"], o["metadata"]["name"]))
        return found

    def _available(self, pod: Mapping[str, Any], min_ready_seconds: int) -> bool:
        if not _is_ready(pod):
            return False
        if min_ready_seconds <= 0:
            return True
        for condition in (pod.get("status") or {}).get("conditions") or []:
            if condition.get("type") == "Ready":
                since = datetime.datetime.fromisoformat(
                    condition["lastTransitionTime"].replace("Z", "+00:00")
                )
                age = datetime.datetime.now(datetime.UTC) - since
                return age.total_seconds() >= min_ready_seconds
        return False

    def _sync_replicaset(self, namespace: str, name: str) -> None:
        rs = self.store.peek(REPLICASETS, name, namespace)
        if rs is None or rs["metadata"].get("deletionTimestamp"):
            return
        spec = rs["spec"]
        desired = int(spec.get("replicas", 1))
        pods = self._owned(rs, PODS)
        active = [
            p
            for p in pods
            if not p["metadata"].get("deletionTimestamp")
            and (p.get("status") or {}).get("phase") not in ("Failed", "Succeeded")
        ]
        failed = (
            len(pods) - len(active) - sum(1 for p in pods if p["metadata"].get("deletionTimestamp"))
        )
        if len(active) < desired and failed < MAX_FAILED_REPLACEMENTS:
            template = spec.get("template") or {}
            template_meta = template.get("metadata") or {}
            for _ in range(desired - len(active)):
                self.store.create(
                    PODS,
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "metadata": {
                            "generateName": f"{name}-",
                            "namespace": namespace,
                            "labels": dict(template_meta.get("labels") or {}),
                            "annotations": dict(template_meta.get("annotations") or {}),
                            "ownerReferences": [
                                {
                                    "apiVersion": "apps/v1",
                                    "kind": "ReplicaSet",
                                    "name": name,
                                    "uid": rs["metadata"]["uid"],
                                    "controller": True,
                                    "blockOwnerDeletion": True,
                                }
                            ],
                        },
                        "spec": template.get("spec") or {},
                    },
                )
        elif len(active) > desired:
            # Not ready first, then the newest: what the real controller removes first.
            ranked = sorted(
                active, key=lambda p: (_is_ready(p), p["metadata"]["creationTimestamp"])
            )
            doomed = ranked[: len(active) - desired]
            for pod in doomed:
                self.store.delete(PODS, pod["metadata"]["name"], namespace)
            gone = {id(p) for p in doomed}
            active = [p for p in active if id(p) not in gone]
        min_ready = int(spec.get("minReadySeconds") or 0)
        current = self._owned(rs, PODS)
        current_active = [
            p
            for p in current
            if not p["metadata"].get("deletionTimestamp")
            and (p.get("status") or {}).get("phase") not in ("Failed", "Succeeded")
        ]
        status = {
            "replicas": len(current_active),
            "fullyLabeledReplicas": len(current_active),
            "readyReplicas": sum(1 for p in current_active if _is_ready(p)),
            "availableReplicas": sum(1 for p in current_active if self._available(p, min_ready)),
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        if min_ready and status["readyReplicas"] != status["availableReplicas"]:
            self._dirty_replicasets.add((namespace, name))  # check availability again
        if {k: (rs.get("status") or {}).get(k) for k in status} != status:
            self.store.patch(REPLICASETS, name, {"status": status}, namespace, subresource="status")

    # --- Deployment controller -----------------------------------------------------------

    def _sync_deployment(self, namespace: str, name: str) -> None:
        deployment = self.store.peek(DEPLOYMENTS, name, namespace)
        if deployment is None or deployment["metadata"].get("deletionTimestamp"):
            self._rolling.discard((namespace, name))
            return
        spec = deployment["spec"]
        uid = deployment["metadata"]["uid"]
        desired = int(spec.get("replicas", 1))
        template = spec.get("template") or {}
        strategy = spec.get("strategy") or {}
        rolling = strategy.get("rollingUpdate") or {}
        surge = _scaled(rolling.get("maxSurge", "25%"), desired, round_up=True)
        unavailable = _scaled(rolling.get("maxUnavailable", "25%"), desired, round_up=False)
        if strategy.get("type") == "Recreate":
            surge, unavailable = 0, desired
        elif surge == 0 and unavailable == 0:
            unavailable = 1
        template_hash = _template_hash(template)
        sets = self._owned(deployment, REPLICASETS)
        new_rs = next(
            (
                rs
                for rs in sets
                if (rs["metadata"].get("labels") or {}).get(HASH_LABEL) == template_hash
            ),
            None,
        )
        olds = [rs for rs in sets if rs is not new_rs]
        top_revision = max((_revision(rs) for rs in olds), default=0)
        created = False
        loop_time = asyncio.get_running_loop().time()
        if new_rs is None and not spec.get("paused"):
            old_total = sum(int(rs["spec"].get("replicas", 0)) for rs in olds)
            start = desired if not old_total else max(0, min(desired, desired + surge - old_total))
            if strategy.get("type") == "Recreate" and old_total:
                start = 0
            new_rs = self._create_replicaset(
                deployment, template, template_hash, top_revision + 1, start, desired + surge
            )
            created = True
            self._last_progress[uid] = loop_time
        elif new_rs is not None and _revision(new_rs) <= top_revision:
            # A rollback: the earlier ReplicaSet gets the next revision and remembers its old
            # ones, as the real controller's revision-history annotation does.
            annotations = new_rs["metadata"].get("annotations") or {}
            history = [h for h in str(annotations.get(HISTORY_ANNOTATION, "")).split(",") if h]
            history.append(str(_revision(new_rs)))
            self._annotate(
                REPLICASETS,
                new_rs,
                {REVISION_ANNOTATION: str(top_revision + 1), HISTORY_ANNOTATION: ",".join(history)},
            )
            new_rs = self.store.get(REPLICASETS, new_rs["metadata"]["name"], namespace)
            self._last_progress[uid] = loop_time
        if new_rs is not None:
            self._annotate(DEPLOYMENTS, deployment, {REVISION_ANNOTATION: str(_revision(new_rs))})
            if not created:
                self._scale(deployment, new_rs, olds, desired, surge, unavailable, strategy)
            self._cleanup(deployment, olds)
        self._update_status(namespace, name, desired, unavailable, created)

    def _create_replicaset(
        self,
        deployment: Mapping[str, Any],
        template: Mapping[str, Any],
        template_hash: str,
        revision: int,
        replicas: int,
        max_replicas: int,
    ) -> Mapping[str, Any]:
        metadata = deployment["metadata"]
        template_meta = dict(template.get("metadata") or {})
        labels = {**(template_meta.get("labels") or {}), HASH_LABEL: template_hash}
        selector = json.loads(json.dumps(deployment["spec"].get("selector") or {}))
        selector.setdefault("matchLabels", {})[HASH_LABEL] = template_hash
        return self.store.create(
            REPLICASETS,
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": f"{metadata['name']}-{template_hash}",
                    "namespace": metadata["namespace"],
                    "labels": labels,
                    "annotations": {
                        REVISION_ANNOTATION: str(revision),
                        "deployment.kubernetes.io/desired-replicas": str(
                            deployment["spec"].get("replicas", 1)
                        ),
                        "deployment.kubernetes.io/max-replicas": str(max_replicas),
                    },
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "Deployment",
                            "name": metadata["name"],
                            "uid": metadata["uid"],
                            "controller": True,
                            "blockOwnerDeletion": True,
                        }
                    ],
                },
                "spec": {
                    "replicas": replicas,
                    "minReadySeconds": int(deployment["spec"].get("minReadySeconds") or 0),
                    "selector": selector,
                    "template": {**template, "metadata": {**template_meta, "labels": labels}},
                },
            },
        )

    def _annotate(self, key: str, obj: Mapping[str, Any], annotations: Mapping[str, str]) -> None:
        current = obj["metadata"].get("annotations") or {}
        if any(current.get(k) != v for k, v in annotations.items()):
            metadata = obj["metadata"]
            self.store.patch(
                key,
                metadata["name"],
                {"metadata": {"annotations": annotations}},
                metadata["namespace"],
            )

    def _set_replicas(self, rs: Mapping[str, Any], replicas: int) -> None:
        if int(rs["spec"].get("replicas", 0)) != replicas:
            metadata = rs["metadata"]
            self.store.patch(
                REPLICASETS,
                metadata["name"],
                {"spec": {"replicas": replicas}},
                metadata["namespace"],
            )

    def _scale(
        self,
        deployment: Mapping[str, Any],
        new_rs: Mapping[str, Any],
        olds: list[Mapping[str, Any]],
        desired: int,
        surge: int,
        max_unavailable: int,
        strategy: Mapping[str, Any],
    ) -> None:
        def replicas(rs: Mapping[str, Any]) -> int:
            return int(rs["spec"].get("replicas", 0))

        def available(rs: Mapping[str, Any]) -> int:
            return int((rs.get("status") or {}).get("availableReplicas", 0))

        active_olds = [rs for rs in olds if replicas(rs) > 0]
        if strategy.get("type") == "Recreate":
            for rs in active_olds:
                self._set_replicas(rs, 0)
            if not any(int((rs.get("status") or {}).get("replicas", 0)) for rs in olds):
                self._set_replicas(new_rs, desired)
            return
        if not active_olds:
            self._set_replicas(new_rs, desired)
            return
        total = replicas(new_rs) + sum(replicas(rs) for rs in active_olds)
        new_count = replicas(new_rs)
        if new_count < desired and desired + surge - total > 0:
            new_count = min(desired, new_count + desired + surge - total)
            self._set_replicas(new_rs, new_count)
        total = new_count + sum(replicas(rs) for rs in active_olds)
        min_available = desired - max_unavailable
        scale_down = total - min_available - (new_count - available(new_rs))
        counts = {rs["metadata"]["name"]: replicas(rs) for rs in active_olds}
        for rs in active_olds:  # unhealthy old replicas go first, as they serve nothing
            unhealthy = counts[rs["metadata"]["name"]] - available(rs)
            cut = min(unhealthy, scale_down)
            if cut > 0:
                counts[rs["metadata"]["name"]] -= cut
                scale_down -= cut
        healthy_cut = sum(available(rs) for rs in [new_rs, *active_olds]) - min_available
        for rs in active_olds:
            cut = min(counts[rs["metadata"]["name"]], healthy_cut)
            if cut > 0:
                counts[rs["metadata"]["name"]] -= cut
                healthy_cut -= cut
        for rs in active_olds:
            self._set_replicas(rs, counts[rs["metadata"]["name"]])

    def _cleanup(self, deployment: Mapping[str, Any], olds: list[Mapping[str, Any]]) -> None:
        limit = int(deployment["spec"].get("revisionHistoryLimit", 10))
        idle = [
            rs
            for rs in olds
            if not int(rs["spec"].get("replicas", 0))
            and not int((rs.get("status") or {}).get("replicas", 0))
        ]
        idle.sort(key=_revision)
        for rs in idle[: max(0, len(idle) - limit)]:
            self.store.delete(REPLICASETS, rs["metadata"]["name"], rs["metadata"]["namespace"])

    def _update_status(
        self, namespace: str, name: str, desired: int, max_unavailable: int, created: bool
    ) -> None:
        deployment = self.store.get(DEPLOYMENTS, name, namespace)
        uid = deployment["metadata"]["uid"]
        sets = self._owned(deployment, REPLICASETS)
        revision = (deployment["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION)
        new_rs = next(
            (
                rs
                for rs in sets
                if (rs["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION) == revision
            ),
            None,
        )

        def count(rs: Mapping[str, Any] | None, field: str) -> int:
            return int(((rs or {}).get("status") or {}).get(field, 0))

        replicas = sum(count(rs, "replicas") for rs in sets)
        updated = count(new_rs, "replicas")
        ready = sum(count(rs, "readyReplicas") for rs in sets)
        available = sum(count(rs, "availableReplicas") for rs in sets)
        spec_total = sum(int(rs["spec"].get("replicas", 0)) for rs in sets)
        previous = deployment.get("status") or {}
        conditions = {c["type"]: c for c in previous.get("conditions") or []}
        rs_name = new_rs["metadata"]["name"] if new_rs else name
        now = asyncio.get_running_loop().time()

        available_cond = (
            _condition(
                conditions.get("Available"),
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                touch=False,
            )
            if available >= desired - max_unavailable
            else _condition(
                conditions.get("Available"),
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                touch=False,
            )
        )
        complete = (
            new_rs is not None
            and updated == desired
            and replicas == desired
            and available >= desired
            and int(new_rs["spec"].get("replicas", 0)) == desired
        )
        progressed = (
            updated > int(previous.get("updatedReplicas", 0))
            or ready > int(previous.get("readyReplicas", 0))
            or available > int(previous.get("availableReplicas", 0))
            or replicas - updated
            < int(previous.get("replicas", 0)) - int(previous.get("updatedReplicas", 0))
        )
        prior = conditions.get("Progressing")
        in_rollout = (
            created
            or prior is None
            or prior.get("reason") != "NewReplicaSetAvailable"
            or any(int(rs["spec"].get("replicas", 0)) for rs in sets if rs is not new_rs)
        )
        progressing = prior
        if in_rollout:
            if created:
                progressing = _condition(
                    prior,
                    "Progressing",
                    "True",
                    "NewReplicaSetCreated",
                    f'Created new replica set "{rs_name}"',
                    touch=True,
                )
            elif complete:
                progressing = _condition(
                    prior,
                    "Progressing",
                    "True",
                    "NewReplicaSetAvailable",
                    f'ReplicaSet "{rs_name}" has successfully progressed.',
                    touch=False,
                )
            elif progressed:
                self._last_progress[uid] = now
                progressing = _condition(
                    prior,
                    "Progressing",
                    "True",
                    "ReplicaSetUpdated",
                    f'ReplicaSet "{rs_name}" is progressing.',
                    touch=True,
                )
            elif prior is not None and prior.get("reason") != "ProgressDeadlineExceeded":
                deadline = int(deployment["spec"].get("progressDeadlineSeconds", 600))
                since = self._last_progress.setdefault(uid, now)
                if now - since >= deadline:
                    progressing = _condition(
                        prior,
                        "Progressing",
                        "False",
                        "ProgressDeadlineExceeded",
                        f'ReplicaSet "{rs_name}" has timed out progressing.',
                        touch=True,
                    )
        if complete or (progressing or {}).get("reason") == "ProgressDeadlineExceeded":
            self._rolling.discard((namespace, name))
        else:
            self._rolling.add((namespace, name))
        status: dict[str, Any] = {
            "observedGeneration": deployment["metadata"].get("generation", 1),
            "replicas": replicas,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
            "unavailableReplicas": max(0, spec_total - available),
            "conditions": [available_cond] + ([progressing] if progressing else []),
        }
        for zero in (
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
            "unavailableReplicas",
        ):
            if not status[zero]:
                del status[zero]
        if status != previous:
            self.store.replace(
                DEPLOYMENTS, name, {**deployment, "status": status}, namespace, subresource="status"
            )
