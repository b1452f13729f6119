"""A container's failures: each OOM kill, an image it cannot pull, and its runs of restarts.

A container that keeps restarting (in CrashLoopBackOff, killed by its liveness probe, unable to
start, an init container failing) is one event per run of restarts, updated in place with its
restart count. A run of restarts ends when the container has run for `RECOVERY`; where the
next one began is read from the container's last run (`loop_start`), and kept by the caller
between two looks at the Pod (`loop_starts`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime

from cortex_events.domain.failure_model import (
    CRASH_LOOP_REASON,
    IMAGE_PULL_REASONS,
    KILLED_BY_SIGNAL,
    OOM_REASON,
    RECOVERY,
    RUN_ERROR_REASON,
    START_ERROR_REASONS,
    FailurePolicy,
    container_details,
    container_text,
    failed_exit,
    failure_event,
    waiting_failure,
)
from cortex_events.domain.intents import EventIntent, short_image, upper_first
from cortex_events.domain.keys import crash_loop_key, image_pull_key, oom_kill_key
from cortex_events.domain.model import EPOCH, ContainerState, PodSnapshot


def loop_start(container: ContainerState, known: int | None) -> int:
    """The restart count before the container's current run of restarts began: read from its
    last run when that one lasted `RECOVERY` (the run of restarts begins with its end), else
    ``known``, else 0 (the Pod's first)."""
    c = container
    # A container that could not start has no run at all (its startedAt is the epoch).
    ran = c.last_terminated_reason not in START_ERROR_REASONS and c.last_started_at != EPOCH
    if (
        ran
        and c.last_started_at
        and c.last_terminated_at
        and c.last_terminated_at >= (c.last_started_at + RECOVERY)
    ):
        # Running again, the count already includes the restart after that long run.
        return max(c.restart_count - 1, 0) if c.running_since else c.restart_count
    return known if known is not None and known <= c.restart_count else 0


def loop_starts(pod: PodSnapshot, known: Mapping[str, int]) -> dict[str, int]:
    """Where each container's current run of restarts began, for those past their first:
    what the caller keeps for the next look at the Pod."""
    starts = {c.name: loop_start(c, known.get(c.name)) for c in pod.containers}
    return {name: start for name, start in starts.items() if start > 0}


def oom_kills(pod: PodSnapshot, c: ContainerState, now: datetime) -> Iterator[EventIntent]:
    # An OOM kill shows as the current state until the container restarts, then as lastState
    # with the restart count one higher: both give the same occurrence number.
    kills: list[tuple[int, int | None, datetime | None]] = []
    if c.terminated_reason == OOM_REASON:
        kills.append((c.restart_count, c.terminated_exit_code, c.terminated_at))
    if c.last_terminated_reason == OOM_REASON:
        kills.append(
            (max(c.restart_count - 1, 0), c.last_terminated_exit_code, c.last_terminated_at)
        )
    what = container_text(c)
    for occurrence, exit_code, finished in kills:
        details = container_details(pod, c) | {"reason": OOM_REASON, "exitCode": exit_code}
        code = f" (exit code {exit_code})" if exit_code is not None else ""
        yield failure_event(
            pod,
            oom_kill_key(pod.ref.uid, c.name, occurrence),
            f"Pod {pod.ref.name}: {what} OOMKilled",
            f"{upper_first(what)} ({c.image}) was killed for exceeding its memory "
            f"limit{code}; restarts so far: {c.restart_count}",
            finished or now,
            details,
        )


def image_pull(pod: PodSnapshot, c: ContainerState, now: datetime) -> EventIntent | None:
    if c.waiting_reason not in IMAGE_PULL_REASONS:
        return None
    return waiting_failure(
        pod,
        c,
        image_pull_key(pod.ref.uid, c.name, c.image),
        f"Pod {pod.ref.name}: cannot pull image {short_image(c.image)}",
        upper_first(container_text(c)),
        now,
    )


def _times(c: ContainerState, what: str) -> str:
    return f"{c.restart_count} {what}" + ("" if c.restart_count == 1 else "s")


def restart_loop(
    pod: PodSnapshot, c: ContainerState, start: int, policy: FailurePolicy, now: datetime
) -> EventIntent | None:
    """The container's current run of restarts, once it is one: one event per run, updated in
    place (PUT) as the restarts go on."""
    in_loop = c.restart_count - start
    backing_off = c.waiting_reason == CRASH_LOOP_REASON
    cannot_start = c.waiting_reason == RUN_ERROR_REASON or (
        backing_off and c.last_terminated_reason in START_ERROR_REASONS
    )
    init_failed = c.init and failed_exit(c.terminated_exit_code, c.terminated_reason)
    recovered = c.running_since is not None and now - c.running_since >= RECOVERY
    repeated = (
        in_loop >= policy.restarts
        and failed_exit(c.last_terminated_exit_code, c.last_terminated_reason)
        and not recovered
    )
    if not (backing_off or cannot_start or init_failed or repeated):
        return None
    what, name = container_text(c), pod.ref.name
    details = container_details(pod, c) | {"restartsInLoop": in_loop}
    code, reason = c.last_terminated_exit_code, c.last_terminated_reason
    if init_failed and not backing_off:
        code, reason = c.terminated_exit_code, c.terminated_reason
    last = ""
    if code is not None or reason:
        details |= {"lastExitCode": code, "lastReason": reason}
        last = f"; last exit code {code} ({reason or 'Error'})"
        if code in KILLED_BY_SIGNAL and c.probes:
            probes = " or ".join(c.probes)
            details["probes"] = list(c.probes)
            last += f", as when its {probes} probe fails and the kubelet kills it"
    # The runtime's reason it cannot start, else what the container wrote as it ended.
    message = c.waiting_message if c.waiting_reason == RUN_ERROR_REASON else None
    message = message or c.last_terminated_message
    if message:
        details["message"] = message
    if cannot_start:
        details["reason"] = RUN_ERROR_REASON
        title = f"Pod {name}: {what} cannot start"
        text = f"{upper_first(what)} ({c.image}) cannot start after {_times(c, 'attempt')}"
    elif init_failed and not backing_off and c.restart_count == 0:
        details["reason"] = c.terminated_reason or "Error"
        title = f"Pod {name}: {what} failed"
        text = f"{upper_first(what)} ({c.image}) failed: the Pod cannot start until it succeeds"
    else:
        details["reason"] = CRASH_LOOP_REASON
        title = f"Pod {name}: {what} in CrashLoopBackOff"
        text = f"{upper_first(what)} ({c.image}) keeps crashing after {_times(c, 'restart')}"
    began = c.last_terminated_at or c.terminated_at or now
    return failure_event(
        pod,
        crash_loop_key(pod.ref.uid, c.name, start),
        title,
        text + last + (f": {message}" if message else ""),
        began,
        details,
        updatable=True,
    )
