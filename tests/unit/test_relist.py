"""Deletions missed while a watch was broken, found from the listing that restarts it."""

from __future__ import annotations

import asyncio
import contextlib

from cortex_events.controllers.relist import RelistReconciler


class Workloads:
    def __init__(self, known: dict[str, tuple[str, str]]) -> None:
        self._known = known
        self.gone: list[tuple[str, str]] = []

    def known(self, kind: str, namespace: str | None) -> dict[str, tuple[str, str]]:
        return {k: v for k, v in self._known.items() if namespace is None or v[0] == namespace}

    async def vanished(self, kind: str, identity: str) -> None:
        self.gone.append((kind, identity))
        self._known.pop(identity, None)


class Reader:
    def __init__(self, current: dict[str, str]) -> None:
        self.current = current  # name -> uid
        self.asked: list[str] = []

    async def current_uid(self, kind: str, namespace: str, name: str) -> str | None:
        self.asked.append(name)
        return self.current.get(name)


async def settle(reconciler: RelistReconciler) -> None:
    task = asyncio.create_task(reconciler.run())
    await asyncio.sleep(0.3)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_a_known_pod_absent_from_a_new_listing_is_recorded_as_deleted() -> None:
    workloads = Workloads({"u1": ("shop", "a"), "u2": ("shop", "b"), "u3": ("shop", "c")})
    # "b" is gone; "c" was recreated under its name (a new uid): both are deletions.
    reader = Reader({"a": "u1", "c": "u3-new"})
    reconciler = RelistReconciler(workloads, reader, per_namespace=False, quiet=0.05)
    reconciler.observed("Pod", "shop", "u1", None)
    await settle(reconciler)
    assert sorted(workloads.gone) == [("Pod", "u2"), ("Pod", "u3")]
    assert sorted(reader.asked) == ["b", "c"]
    assert reconciler.reconciled == 2


async def test_what_was_listed_or_changed_since_is_not_looked_up() -> None:
    workloads = Workloads({"u1": ("shop", "a"), "u2": ("shop", "b")})
    reader = Reader({})
    reconciler = RelistReconciler(workloads, reader, per_namespace=False, quiet=0.05)
    reconciler.observed("Pod", "shop", "u1", None)
    reconciler.observed("Pod", "shop", "u2", "MODIFIED")  # a watch event during the listing
    await settle(reconciler)
    assert workloads.gone == []
    assert reader.asked == []


async def test_a_pod_still_there_is_kept() -> None:
    workloads = Workloads({"u1": ("shop", "a"), "u2": ("shop", "b")})
    reader = Reader({"a": "u1", "b": "u2"})  # its listed event had not been handled yet
    reconciler = RelistReconciler(workloads, reader, per_namespace=False, quiet=0.05)
    reconciler.observed("Pod", "shop", "u1", None)
    await settle(reconciler)
    assert workloads.gone == []
    assert reader.asked == ["b"]


async def test_watch_events_alone_open_no_listing() -> None:
    workloads = Workloads({"u1": ("shop", "a")})
    reader = Reader({})
    reconciler = RelistReconciler(workloads, reader, per_namespace=False, quiet=0.05)
    reconciler.observed("Pod", "shop", "u9", "ADDED")
    await settle(reconciler)
    assert reader.asked == []


async def test_per_namespace_watches_are_reconciled_per_namespace() -> None:
    workloads = Workloads({"u1": ("a", "p"), "u2": ("b", "q")})
    reader = Reader({})
    reconciler = RelistReconciler(workloads, reader, per_namespace=True, quiet=0.05)
    # Only namespace a's watch listed again: b's pods are not in question.
    reconciler.observed("Pod", "a", "u-other", None)
    await settle(reconciler)
    assert workloads.gone == [("Pod", "u1")]
    assert reader.asked == ["p"]
