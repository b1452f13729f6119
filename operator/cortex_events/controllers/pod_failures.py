"""What judging a Pod's failures needs beyond its current state, kept per Pod.

The failure rules are pure (`cortex_events.domain.pod_failures`); two things they read are not
in a Pod's state, and are kept here, for the few Pods that need them:

- where each container's current run of restarts began (`loop_starts`): a run that began after
  the container had recovered is an event of its own, and the state shows that beginning only
  until the next restart;
- when a Pod's waiting state passes its threshold (`next_due`): a Pod that stays unschedulable,
  or runs without becoming ready, sends no watch event, so something must look at it again
  then. `due` hands those Pods out once their time has come; the recorder asks every
  `DEADLINE_CHECK_SECONDS`, a pass over the Pods in a waiting state only.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cortex_events.domain.failure_model import FailurePolicy
from cortex_events.domain.intents import EventIntent
from cortex_events.domain.model import DeploymentSnapshot, PodSnapshot
from cortex_events.domain.pod_restarts import loop_starts
from cortex_events.domain.pod_waits import next_due
from cortex_events.domain.pods import pod_events

DEADLINE_CHECK_SECONDS = 1.0
"""How often the Pods whose waiting state may have passed its threshold are looked at."""


class PodFailures:
    """Single event loop; no locking needed."""

    def __init__(self, policy: FailurePolicy | None = None) -> None:
        self.policy = policy or FailurePolicy()
        self._loops: dict[str, dict[str, int]] = {}
        self._due: dict[str, datetime] = {}

    def events(self, pod: PodSnapshot, owner: Any, now: datetime) -> list[EventIntent]:
        """Every event ``pod``'s state implies at ``now``; ``owner``: the snapshot of the
        workload it maps through (a Deployment's progress deadline is its readiness
        threshold)."""
        uid = pod.ref.uid
        loops = loop_starts(pod, self._loops.get(uid, {}))
        if loops:
            self._loops[uid] = loops
        else:
            self._loops.pop(uid, None)
        tolerated = _not_ready_after(owner)
        due = next_due(pod, now, policy=self.policy, not_ready_after=tolerated)
        if due is None:
            self._due.pop(uid, None)
        else:
            self._due[uid] = due
        return pod_events(
            None, pod, now=now, policy=self.policy, not_ready_after=tolerated, loops=loops
        )

    def due(self, now: datetime) -> list[str]:
        """The Pods (uids) whose waiting state has passed its threshold by ``now``; each is
        handed out once (looking at it again sets its next time, if it has one)."""
        found = [uid for uid, when in self._due.items() if when <= now]
        for uid in found:
            del self._due[uid]
        return found

    def forget(self, uid: str) -> None:
        self._loops.pop(uid, None)
        self._due.pop(uid, None)

    def waiting(self) -> int:
        """How many Pods are waiting for a threshold to pass."""
        return len(self._due)


def _not_ready_after(owner: Any) -> timedelta | None:
    if isinstance(owner, DeploymentSnapshot) and owner.progress_deadline is not None:
        return timedelta(seconds=owner.progress_deadline)
    return None
