"""The simulated garbage collector: deletes the dependents of a removed owner."""

from __future__ import annotations

from collections.abc import Iterator

from .objects import Key
from .owners import OwnerIndex


class GarbageCollector:
    """Deletes an object once none of the owners its ``ownerReferences`` name exists."""

    def __init__(self, owners: OwnerIndex) -> None:
        self.owners = owners
        self.store = owners.store
        self._removed_uids: set[str] = set()

    def owner_removed(self, uid: str) -> None:
        self._removed_uids.add(uid)

    def orphans(self) -> Iterator[Key]:
        """The dependents of the owners removed since the last round, to `collect`."""
        removed, self._removed_uids = self._removed_uids, set()
        for uid in removed:
            yield from sorted(self.owners.release(uid))

    def collect(self, child: Key) -> None:
        key, namespace, name = child
        obj = self.store.peek(key, name, namespace or None)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return
        if not self.owners.has_live_owner(obj):
            self.store.delete(key, name, namespace or None)
