"""Delivery classes: what reaches Cortex first when the budget cannot send everything at once.

Every event and deploy waiting for delivery has a class, and delivery serves the most urgent
class that has work (with a bounded share for the others, `cortex_events.delivery.lanes`):

1. `Priority.FAILURE`: a Pod's failure; a rollout, a Job's run or an Argo Rollout whose result
   is failed or aborted. What someone reading the timeline during an incident needs now.
2. `Priority.WORKLOAD`: what people do to workloads: rollouts (their start and result), scales,
   creations and deletions of workloads, CronJob schedule events, Cortex deploys, and a Pod
   the cluster ended (``POD_DISRUPTION``: a drain's eviction, a preemption), which a node
   pool's upgrade makes by the thousand and so must not crowd out failures.
3. `Priority.CHURN`: Pods coming and going: a Pod's creation (and its in-place updates), its
   deletion, and the summaries Pod churn is folded into (`cortex_events.domain.podsummary`).
4. `Priority.HOUSEKEEPING`: deleting events (retention, cleanup).

A lower value is more urgent. The class of an event follows from its type and, for results,
its details; an updatable event whose content turns to a failure rises to `FAILURE`.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from typing import Any

from cortex_events.domain.model import EventType


class Priority(IntEnum):
    """A delivery class; lower is served first."""

    FAILURE = 0
    WORKLOAD = 1
    CHURN = 2
    HOUSEKEEPING = 3

    @property
    def label(self) -> str:
        """The class as metrics and logs name it: ``failure``, ``workload``, ``churn``,
        ``housekeeping``."""
        return self.name.lower()


FAILED_RESULTS = frozenset({"Failed", "Aborted"})
"""The ``result`` detail of a rollout, a Job's run or an Argo Rollout that went wrong."""

RESULT_TYPES = frozenset(
    {
        EventType.DEPLOYMENT_ROLLOUT,
        EventType.STATEFULSET_ROLLOUT,
        EventType.DAEMONSET_ROLLOUT,
        EventType.JOB_RUN,
        EventType.ARGO_ROLLOUT_REVISION,
    }
)
"""The types whose events carry a ``result`` that can be a failure."""

CHURN_TYPES = frozenset({EventType.POD_CREATION, EventType.POD_DELETION})
"""A Pod's own coming and going (its failures are `Priority.FAILURE`)."""
POD_SUMMARY_SUFFIX = "_PODS"
"""The ending of every Pod summary's type (``DEPLOYMENT_PODS``, ``JOB_PODS``, ...)."""


def priority_of(event_type: str, details: Mapping[str, Any]) -> Priority:
    """The class of an event of ``event_type`` with these details (its customData)."""
    if event_type == EventType.POD_FAILURE:
        return Priority.FAILURE
    if event_type in RESULT_TYPES:
        return Priority.FAILURE if details.get("result") in FAILED_RESULTS else Priority.WORKLOAD
    if event_type in CHURN_TYPES or event_type.endswith(POD_SUMMARY_SUFFIX):
        return Priority.CHURN
    return Priority.WORKLOAD
