"""Who owns what: the dependents of every owner, kept current from the store's changes.

The controllers list the ReplicaSets and Pods they own from it, and the garbage collector
finds the dependents of a removed owner in it, without scanning the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cortex_events_sim.kubeapi.store import Store

from .objects import Key, Marked, owner_uids


class OwnerIndex:
    """Dependents by owner uid, and the uids of the objects that exist."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._children: dict[str, set[Key]] = {}
        self._live_uids: set[str] = set()

    def track(
        self, key: str, event: str, obj: Mapping[str, Any], old: Mapping[str, Any] | None
    ) -> None:
        """Follow one write: the object's owner references, and whether it still exists."""
        metadata = obj["metadata"]
        child: Key = (key, metadata.get("namespace", ""), metadata["name"])
        refs_now = set() if event == "DELETED" else owner_uids(obj)
        refs_before = owner_uids(obj) if event == "DELETED" else owner_uids(old)
        for owner in refs_before - refs_now:
            siblings = self._children.get(owner)
            if siblings is not None:
                siblings.discard(child)
                if not siblings:
                    del self._children[owner]
        for owner in refs_now - refs_before:
            self._children.setdefault(owner, set()).add(child)
        if event == "DELETED":
            self._live_uids.discard(metadata["uid"])
        else:
            self._live_uids.add(metadata["uid"])

    def owned(self, owner: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
        """The owner's dependents of one resource, oldest first."""
        found = []
        for child_key, namespace, name in self._children.get(owner["metadata"]["uid"], ()):
            if child_key == key:
                obj = self.store.peek(key, name, namespace)
                if obj is not None:
                    found.append(obj)
        found.sort(key=lambda o: (o["metadata"]["creationTimestamp"], o["metadata"]["name"]))
        return found

    def release(self, owner_uid: str) -> set[Key]:
        """Forget a removed owner; returns the dependents it had."""
        return self._children.pop(owner_uid, set())

    def has_live_owner(self, obj: Mapping[str, Any]) -> bool:
        return bool(owner_uids(obj) & self._live_uids)


class OwnerController(Marked):
    """A simulated controller of objects that own others: marked when one of them or of their
    dependents changes; each sync reads the object while it is not being deleted."""

    def __init__(self, owners: OwnerIndex) -> None:
        super().__init__()
        self.owners = owners
        self.store = owners.store

    def live(self, resource: str, namespace: str, name: str) -> Mapping[str, Any] | None:
        """The stored object, unless it is gone or being deleted (then nothing is done)."""
        obj = self.store.peek(resource, name, namespace)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return None
        return obj
