"""The revisions of StatefulSets and DaemonSets, and what their rollouts last reported.

`RevisionIndex` keeps each ControllerRevision's small snapshot and notices a rollback (an older
revision whose number is raised above the others) when it happens. `RolloutMemory` keeps, per
workload, the rollout last reported (a newer revision closes it as superseded) and when the
current one reached its resting result, so its duration stays what it was.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from cortex_events.domain.apps import ControllerRevisionSnapshot
from cortex_events.domain.changes import Changed, ChangeDetails, revision_change
from cortex_events.domain.deployments import ROLLOUT_COMPLETED, ROLLOUT_IN_PROGRESS, Revision
from cortex_events.domain.revisions import Progress, controller_revision

NsName = tuple[str, str]


@dataclass(slots=True)
class KnownRevision:
    snapshot: ControllerRevisionSnapshot
    # When its number was raised while the operator watched: a rollback to it began then.
    revised_at: datetime | None = None
    # Who made it and what it changed from the revision before, once both were known.
    change: ChangeDetails | None = None


class RevisionIndex:
    """ControllerRevisions by (namespace, name)."""

    def __init__(self) -> None:
        self._known: dict[NsName, KnownRevision] = {}

    def put(self, cr: ControllerRevisionSnapshot, *, now: datetime) -> KnownRevision | None:
        key = (cr.namespace, cr.name)
        previous = self._known.get(key)
        revised_at = previous.revised_at if previous is not None else None
        if previous is not None and previous.snapshot.revision != cr.revision:
            revised_at = now
        self._known[key] = KnownRevision(cr, revised_at)
        return previous

    def delete(self, namespace: str, name: str) -> ControllerRevisionSnapshot | None:
        known = self._known.pop((namespace, name), None)
        return known.snapshot if known is not None else None

    def delete_uid(self, uid: str) -> ControllerRevisionSnapshot | None:
        for key, known in list(self._known.items()):
            if known.snapshot.uid == uid:
                return self.delete(*key)
        return None

    def of(
        self, kind: str, namespace: str, name: str, workload: Changed | None = None
    ) -> dict[str, Revision]:
        """The workload's revisions by ControllerRevision name (see `by_number`); given the
        ``workload``'s snapshot, each says who made it and what it changed."""
        return {cr.name: revision for cr, revision in self._held(kind, namespace, name, workload)}

    def restart_marks(self, kind: str, namespace: str, name: str) -> dict[int, str | None]:
        """Each revision's ``kubectl rollout restart`` mark, by number."""
        return {cr.revision: cr.restarted_at for cr, _ in self._held(kind, namespace, name)}

    def _held(
        self, kind: str, namespace: str, name: str, workload: Changed | None = None
    ) -> list[tuple[ControllerRevisionSnapshot, Revision]]:
        held = sorted(
            (
                known
                for (cr_namespace, _), known in self._known.items()
                if cr_namespace == namespace
                and known.snapshot.owner is not None
                and (known.snapshot.owner.kind, known.snapshot.owner.name) == (kind, name)
            ),
            key=lambda known: known.snapshot.revision,
        )
        found: list[tuple[ControllerRevisionSnapshot, Revision]] = []
        previous: ControllerRevisionSnapshot | None = None
        for known in held:
            revision = controller_revision(known.snapshot, previous, started=known.revised_at)
            if workload is not None:
                revision = replace(revision, details=_change(known, revision, previous, workload))
            found.append((known.snapshot, revision))
            previous = known.snapshot
        return found

    def known(self) -> dict[str, tuple[str, str]]:
        return {k.snapshot.uid: key for key, k in self._known.items()}

    def is_empty(self) -> bool:
        return not self._known


def _change(
    known: KnownRevision,
    revision: Revision,
    previous: ControllerRevisionSnapshot | None,
    workload: Changed,
) -> ChangeDetails:
    """Who made ``revision`` and what it changed from ``previous`` (see `revision_change`)."""
    before = previous.template if previous is not None else None
    after = known.snapshot.template
    change = revision_change(workload, revision.started, before, after, kept=known.change)
    known.change = change if change.diff is not None else known.change
    return change


def by_number(revisions: dict[str, Revision]) -> dict[int, Revision]:
    return {revision.number: revision for revision in revisions.values()}


@dataclass(slots=True)
class _Rollout:
    revision: Revision
    progress: Progress
    ended: datetime | None


class RolloutMemory:
    """Per workload uid: the rollout last reported and when it came to rest."""

    def __init__(self) -> None:
        self._last: dict[str, _Rollout] = {}

    def reported(self, uid: str) -> tuple[Revision, Progress] | None:
        last = self._last.get(uid)
        return (last.revision, last.progress) if last is not None else None

    def ended(
        self, uid: str, current: tuple[Revision, Progress] | None, written: datetime | None
    ) -> datetime | None:
        """When ``current`` reached its resting result: kept from when it was first seen so
        (the status write that brought it there, ``written``), so later writes do not move it.
        """
        if current is None:
            return None
        revision, progress = current
        last = self._last.get(uid)
        if progress.result == ROLLOUT_IN_PROGRESS:
            return None
        if (
            last is not None
            and last.revision.number == revision.number
            and last.progress.result == progress.result
        ):
            return last.ended
        return written

    def settled(
        self, uid: str, current: tuple[Revision, Progress] | None
    ) -> tuple[Revision, Progress] | None:
        """``current``, unless its revision was seen completed: a completed rollout stays
        completed (a node added to a DaemonSet's, a pod restarted, do not reopen it)."""
        last = self._last.get(uid)
        if (
            current is not None
            and last is not None
            and last.revision.number == current[0].number
            and last.progress.result == ROLLOUT_COMPLETED
            and current[1].result != ROLLOUT_COMPLETED
        ):
            return last.revision, last.progress
        return current

    def remember(
        self, uid: str, current: tuple[Revision, Progress] | None, ended: datetime | None
    ) -> None:
        if current is not None:
            self._last[uid] = _Rollout(current[0], current[1], ended)

    def forget(self, uid: str) -> None:
        self._last.pop(uid, None)
