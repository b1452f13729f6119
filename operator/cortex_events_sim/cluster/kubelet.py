"""The simulated kubelet of one node: pods start, run, fail and stop as on a real node.

A new pod is bound to the node and created (Pending, ContainerCreating), then runs and is
Ready, or meets the fate its ``sim.cortex-events.io/behavior`` annotation names: OOMKilled or
CrashLoopBackOff (restarting), ImagePullBackOff, CreateContainerConfigError (a missing Secret),
NotReady (running, never ready), Failed or Evicted. A pod being deleted has its
containers stopped and is removed. Each step waits on a timer (`SimTimings`), so clients see
the states one by one.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cortex_events_sim.kubeapi.objects import now_iso
from cortex_events_sim.kubeapi.store import Store

from .objects import PODS

BEHAVIOR_ANNOTATION = "sim.cortex-events.io/behavior"
BEHAVIORS = (
    "Running",
    "OOMKilled",
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "CreateContainerConfigError",
    "NotReady",
    "Failed",
    "Evicted",
    "Succeeded",
)


@dataclass(frozen=True)
class SimTimings:
    """Delays of the simulated kubelet, in seconds (fast by default: Ready in ~0.2 s)."""

    schedule: float = 0.05  #: creation -> bound to the node, containers being created
    start: float = 0.15  #: bound -> containers running (and Ready, unless the fate says not)
    crash: float = 0.3  #: running -> the failure the pod's behaviour names
    restart: float = 0.3  #: a terminated container -> restarted or backing off
    terminate: float = 0.1  #: deletion requested -> containers stopped and the pod removed


class Kubelet:
    """Pod status on one node, driven by timers that `due` hands out when they are due."""

    def __init__(self, store: Store, node_name: str, timings: SimTimings) -> None:
        self.store = store
        self.node_name = node_name
        self.timings = timings
        self._timers: list[tuple[float, int, str, str, str, str]] = []
        self._sequence = itertools.count()
        self._ips = itertools.count(2)

    def due(self, now: float) -> Iterator[tuple[str, str, str, str]]:
        """The work due by ``now``, each ``(action, namespace, name, uid)`` for `act`."""
        while self._timers and self._timers[0][0] <= now:
            _, _, action, namespace, name, uid = heapq.heappop(self._timers)
            yield action, namespace, name, uid

    def watch_pod(self, event: str, pod: Mapping[str, Any], old: Mapping[str, Any] | None) -> None:
        """Start the timers a pod's creation or deletion calls for."""
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

    def act(self, action: str, namespace: str, name: str, uid: str) -> None:
        """Take one due step of the pod, unless it is gone or is another pod of that name."""
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
        now = now_iso()
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
                "startTime": now_iso(),
                "conditions": self._pod_conditions(False),
                "containerStatuses": self._containers(pod, ready=False, state=waiting),
            },
        )
        self._schedule(self.timings.start, "start", pod)

    def _pod_start(self, pod: Mapping[str, Any], behavior: str) -> None:
        if behavior in ("ImagePullBackOff", "CreateContainerConfigError"):
            image = (pod["spec"]["containers"] or [{}])[0].get("image", "")
            message = (
                f'Back-off pulling image "{image}"'
                if behavior == "ImagePullBackOff"
                else 'secret "db-credentials" not found'
            )
            waiting = {"waiting": {"reason": behavior, "message": message}}
            self._set_status(
                pod,
                {
                    "conditions": self._pod_conditions(False),
                    "containerStatuses": self._containers(pod, ready=False, state=waiting),
                },
            )
            return
        running = {"running": {"startedAt": now_iso()}}
        ready = behavior != "NotReady"
        self._set_status(
            pod,
            {
                "phase": "Running",
                "conditions": self._pod_conditions(ready),
                "containerStatuses": self._containers(pod, ready=ready, state=running),
            },
        )
        if behavior not in ("Running", "NotReady"):
            self._schedule(self.timings.crash, "crash", pod)

    def _terminated(self, pod: Mapping[str, Any], reason: str, code: int) -> dict[str, Any]:
        now = now_iso()
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
        elif behavior == "Succeeded":  # a Job's pod whose work is done
            self._set_status(
                pod,
                {
                    "phase": "Succeeded",
                    "conditions": self._pod_conditions(False),
                    "containerStatuses": self._containers(
                        pod, ready=False, state=self._terminated(pod, "Completed", 0)
                    ),
                },
            )
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
                    "lastTransitionTime": now_iso(),
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
                        state={"running": {"startedAt": now_iso()}},
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
