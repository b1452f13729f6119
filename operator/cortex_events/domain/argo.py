"""Argo Rollouts (``argoproj.io/v1alpha1`` Rollout): creation, each revision's rollout with its
steps, pauses, abort and promotion, scale, deletion.

The Argo Rollouts controller numbers a Rollout's revisions in its ``rollout.argoproj.io/revision``
annotation (as the deployment controller numbers a Deployment's). One revision's rollout is one
event (key ``argo-rollout/<uid>/revision/<revision>``, type ``ARGO_ROLLOUT_REVISION``), created
when the status first reports on that revision and updated in place as it goes: the canary step
it has reached, a pause (``status.pauseConditions``, or ``spec.paused``), an abort
(``status.abort``), a promotion (a pause left, or ``status.promoteFull``), and its end: the
new pods became the stable ones (``status.stableRS`` is ``status.currentPodHash``) or the
rollout was aborted or degraded. Revision 1 is the Rollout's creation, not a rollout.

What the controller writes, as it writes it: a promotion may take a canary from one pause
straight to the next (the steps between pass within one reconciliation), so a pause left is
also a pause at a later step; a canary step's pause with a ``duration`` ends by itself and is
no promotion; an abort resets ``currentStepIndex`` to 0, so the step it was aborted at is the
one last seen before it.

A Rollout with a ``workloadRef`` takes its pod template from a Deployment; its images are that
Deployment's, and it maps through that Deployment's ``cortex.io/tag``, as Cortex's own agent
maps it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cortex_events.domain.apps import status_written
from cortex_events.domain.changes import change_source
from cortex_events.domain.deployments import (
    ROLLOUT_COMPLETED,
    ROLLOUT_FAILED,
    ROLLOUT_IN_PROGRESS,
    Revision,
    rollout_intent,
    rollout_name,
)
from cortex_events.domain.intents import EventIntent
from cortex_events.domain.lifecycle import Facts, KindEvents, replicas_summary, workload_events
from cortex_events.domain.model import (
    ARGO_REVISION_ANNOTATION,
    EventType,
    Workload,
    replica_fields,
    workload_fields,
)
from cortex_events.domain.parsing import (
    FieldWriter,
    as_int,
    as_list,
    as_map,
    as_str,
    field_writer,
    object_parts,
    template_images,
)
from cortex_events.domain.revisions import record_duration
from cortex_events.domain.scaling import Scale, ScaleWindow
from cortex_events.domain.snapshots import revision_number
from cortex_events.domain.templates import template_writers

ARGO_EVENTS = KindEvents(
    creation=EventType.ARGO_ROLLOUT_CREATION,
    rollout=EventType.ARGO_ROLLOUT_REVISION,
    deletion=EventType.ARGO_ROLLOUT_DELETION,
    scale=EventType.ARGO_ROLLOUT_SCALE,
)
ROLLOUT_PAUSED = "Paused"
ROLLOUT_ABORTED = "Aborted"
ENDED = frozenset({ROLLOUT_COMPLETED, ROLLOUT_ABORTED, ROLLOUT_FAILED})
DEGRADED_PHASE = "Degraded"
HEALTHY_PHASE = "Healthy"


@dataclass(frozen=True, slots=True)
class RolloutSnapshot(Workload):
    """What the operator keeps of an Argo Rollout.

    ``observed_generation`` is None where the status has not reported on any generation (Argo
    writes it as a string); ``step`` is ``status.currentStepIndex`` (0-based, of ``steps``
    canary steps; ``timed_pauses`` are those whose pause has a duration); ``pauses`` the
    reasons of ``status.pauseConditions`` (plus ``spec.paused`` as ``Paused``);
    ``workload_ref`` the name of the Deployment its template comes from.
    """

    generation: int
    observed_generation: int | None
    replicas: int
    updated_replicas: int
    ready_replicas: int
    revision: int | None
    images: tuple[str, ...]
    workload_ref: str | None
    strategy: str
    steps: int
    timed_pauses: frozenset[int]
    step: int | None
    pauses: tuple[str, ...]
    aborted: bool
    promote_full: bool
    phase: str | None
    message: str | None
    current_hash: str | None
    stable_hash: str | None
    status_written: datetime | None
    replicas_writer: FieldWriter | None
    template_writers: tuple[FieldWriter, ...] = ()

    __hash__ = Workload.__hash__


def _generation(value: object) -> int | None:
    text = str(value).strip() if isinstance(value, (str, int)) else ""
    return int(text) if text.isdigit() else None


def rollout_snapshot(
    obj: Mapping[str, Any],
    *,
    deleted_at: datetime | None = None,
    keep: frozenset[str] = frozenset(),
) -> RolloutSnapshot:
    """Snapshot a raw ``argoproj.io/v1alpha1`` Rollout dict."""
    metadata, spec, status = object_parts(obj)
    strategy = as_map(spec.get("strategy"))
    canary = as_map(strategy.get("canary"))
    reference = as_map(spec.get("workloadRef"))
    pauses = tuple(
        reason
        for condition in as_list(status.get("pauseConditions"))
        if (reason := as_str(as_map(condition).get("reason"))) is not None
    )
    if spec.get("paused") is True:
        pauses = (*pauses, ROLLOUT_PAUSED)
    step = status.get("currentStepIndex")
    steps = as_list(canary.get("steps"))
    timed = frozenset(
        index
        for index, entry in enumerate(steps)
        if as_map(as_map(entry).get("pause")).get("duration") not in (None, "", 0)
    )
    referenced = as_str(reference.get("name")) if reference.get("kind") == "Deployment" else None
    return RolloutSnapshot(
        **workload_fields("Rollout", metadata, deleted_at, keep),
        **replica_fields(metadata, spec, status),
        observed_generation=_generation(status.get("observedGeneration")),
        revision=revision_number(as_map(metadata.get("annotations")), ARGO_REVISION_ANNOTATION),
        images=template_images(spec),
        workload_ref=referenced,
        strategy="blueGreen" if "blueGreen" in strategy else "canary",
        steps=len(steps),
        timed_pauses=timed,
        step=as_int(step) if isinstance(step, int) else None,
        pauses=pauses,
        aborted=status.get("abort") is True,
        promote_full=status.get("promoteFull") is True,
        phase=as_str(status.get("phase")),
        message=as_str(status.get("message")),
        current_hash=as_str(status.get("currentPodHash")),
        stable_hash=as_str(status.get("stableRS")),
        status_written=status_written(metadata),
        replicas_writer=field_writer(metadata, "spec", "replicas"),
        template_writers=template_writers(metadata),
    )


def reports_on_revision(r: RolloutSnapshot) -> bool:
    """Whether the status describes the current spec (and so the current revision)."""
    return (
        r.revision is not None
        and r.current_hash is not None
        and (r.observed_generation is None or r.observed_generation >= r.generation)
    )


def rollout_result(r: RolloutSnapshot) -> str:
    """Aborted, Failed (degraded), Completed (its pods are the stable ones), Paused, or
    InProgress."""
    if r.aborted:
        return ROLLOUT_ABORTED
    if r.phase == DEGRADED_PHASE:
        return ROLLOUT_FAILED
    if r.current_hash is not None and r.current_hash == r.stable_hash:
        return ROLLOUT_COMPLETED
    if r.pauses:
        return ROLLOUT_PAUSED
    return ROLLOUT_IN_PROGRESS


@dataclass(frozen=True, slots=True)
class Seen:
    """What the tracker remembers of the current revision's rollout between changes:
    ``promoted`` counts the pauses it left (each a promotion), ``ended`` when it ended,
    ``step`` the canary step it stood at (for an aborted one: the step it was aborted at,
    None where that was never seen), ``timed`` whether its pause ends by itself."""

    revision: int
    result: str
    promoted: int = 0
    ended: datetime | None = None
    step: int | None = None
    timed: bool = False


def _timed(r: RolloutSnapshot, result: str) -> bool:
    """Whether ``r`` rests at a canary step's pause that has a duration (and nothing else
    holds it: no ``spec.paused``)."""
    return (
        result == ROLLOUT_PAUSED
        and r.step is not None
        and r.step in r.timed_pauses
        and ROLLOUT_PAUSED not in r.pauses
    )


def _left_pause(previous: Seen, r: RolloutSnapshot, result: str) -> bool:
    """A promotion: a pause that does not end by itself was left, for a step on, the end, or
    a pause at a later step."""
    if previous.result != ROLLOUT_PAUSED or previous.timed:
        return False
    if result in (ROLLOUT_IN_PROGRESS, ROLLOUT_COMPLETED):
        return True
    later = r.step is not None and previous.step is not None and r.step > previous.step
    return result == ROLLOUT_PAUSED and later


def next_seen(previous: Seen | None, r: RolloutSnapshot, result: str) -> Seen | None:
    """The memory after ``r``: a pause left (see `_left_pause`) is a promotion."""
    if r.revision is None:
        return previous
    aborted = result == ROLLOUT_ABORTED
    if previous is None or previous.revision != r.revision:
        ended = r.status_written if result in ENDED else None
        return Seen(r.revision, result, ended=ended, step=None if aborted else r.step,
                    timed=_timed(r, result))  # fmt: skip
    promoted = previous.promoted + (1 if _left_pause(previous, r, result) else 0)
    ended = previous.ended
    if result in ENDED and ended is None:
        ended = r.status_written
    step = previous.step if aborted else r.step
    return Seen(r.revision, result, promoted, ended if result in ENDED else None, step,
                _timed(r, result))  # fmt: skip


def _step_text(r: RolloutSnapshot, index: int | None) -> str | None:
    if r.strategy != "canary" or not r.steps or index is None:
        return None
    return f"step {min(index + 1, r.steps)} of {r.steps}"


def revision_event(r: RolloutSnapshot, revision: Revision, seen: Seen) -> EventIntent:
    """The current revision's rollout event as the status stands."""
    ref = r.ref
    what = rollout_name(ref.name, revision)
    result = seen.result
    index = seen.step if result == ROLLOUT_ABORTED else r.step
    step = _step_text(r, index)
    details: dict[str, Any] = {
        "revision": revision.number,
        "images": list(revision.images),
        "change": revision.change,
        "strategy": r.strategy,
        "result": result,
        "phase": r.phase,
        "step": (index + 1) if index is not None and r.steps else None,
        "steps": r.steps,
        "paused": bool(r.pauses),
        "pauseReasons": list(r.pauses),
        "aborted": r.aborted,
        "promotions": seen.promoted,
        "promoteFull": r.promote_full,
        "updatedReplicas": r.updated_replicas,
        "replicas": r.replicas,
    }
    if r.workload_ref:
        details["workloadRef"] = r.workload_ref
    took = record_duration(details, revision.started, seen.ended)
    where = f"{ref.namespace}/{ref.name}"
    at = f" at {step}" if step else ""
    if result == ROLLOUT_COMPLETED:
        title = f"{what} completed" + (f" in {took}" if took else "")
        promoted = " after a full promotion" if r.promote_full else ""
        description = f"Revision {revision.number} of {where} is stable{promoted}"
    elif result == ROLLOUT_ABORTED:
        title = f"{what} aborted{at}"
        # Until the controller has acted on the abort, the message is still the pause's.
        said = r.message if r.message and r.phase == DEGRADED_PHASE else None
        description = f"Revision {revision.number} of {where} was aborted{at}" + (
            f": {said}" if said else ""
        )
    elif result == ROLLOUT_FAILED:
        title = f"{what} degraded{at}"
        description = f"Revision {revision.number} of {where} is degraded" + (
            f": {r.message}" if r.message else ""
        )
    elif result == ROLLOUT_PAUSED:
        title = f"{what} paused{at}"
        description = (
            f"Revision {revision.number} of {where} is paused{at} "
            f"({', '.join(r.pauses)}); {r.updated_replicas} of {r.replicas} pods updated"
        )
    else:
        title = f"{what}: {step}" if step else f"{what} started"
        if seen.promoted:
            title = f"{what} promoted" + (f" to {step}" if step else "")
        description = (
            f"Revision {revision.number} of {where} is rolling out{at}; "
            f"{r.updated_replicas} of {r.replicas} pods updated"
        )
    return rollout_intent(
        EventType.ARGO_ROLLOUT_REVISION, ref, revision, title, description, details
    )


def rollout_events(
    r: RolloutSnapshot,
    *,
    revision: Revision | None,
    seen: Seen | None,
    scale: Scale | None = None,
    window: ScaleWindow | None = None,
) -> list[EventIntent]:
    """Every event ``r`` implies. ``revision``: its current revision (from revision 2), once
    the status reports on it; ``seen``: what the tracker remembers of that revision's rollout
    (`next_seen`)."""
    facts = Facts(
        r.ref,
        r.created,
        r.deleted_at,
        replicas_summary(r.replicas, r.images),
        {"replicas": r.replicas, "images": list(r.images), "strategy": r.strategy},
        change_source(r.labels, r.annotations),
    )
    rollouts = []
    if revision is not None and seen is not None and revision.number >= 2:
        rollouts.append(revision_event(r, revision, seen))
    return workload_events(ARGO_EVENTS, facts, rollouts, scale=scale, window=window)
