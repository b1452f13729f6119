"""Cortex's catalog as a source of mapping: read now and then, applied without a restart.

`CatalogMapping.refresh` is the one place the operator reads the catalog: the descriptors
(``x-cortex-k8s`` blocks, and which entities have one) and the list of entities, each only where
a configured source needs it (`MappingConfig.reads_descriptors`, ``reads_entities``). Every
request goes through the Cortex client, so through its rate limiter and the leader's fence: a
standby reads nothing, and refreshes as soon as it leads. A refresh that fails keeps the last
index; one whose index differs from the last asks for every namespace to be mapped again.

The cost of a refresh, in requests: ``ceil(N / 250)`` for the descriptors and
``ceil(N / 1000)`` for the entities, for N entities in the catalog.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from cortex_events.cortex.errors import CortexError
from cortex_events.delivery.fence import NotLeading
from cortex_events.domain.catalog import (
    CatalogEntity,
    CatalogIndex,
    Descriptor,
    MappingConfig,
    build_index,
    describe_sources,
    read_descriptor,
    read_entity,
)
from cortex_events.domain.changes import KEPT_ANNOTATIONS
from cortex_events.domain.model import TAG_ANNOTATION

logger = logging.getLogger("cortex_events.catalog")

DEFAULT_INTERVAL = 300.0
MAX_PROBLEMS_LOGGED = 5


@runtime_checkable
class CatalogReader(Protocol):
    """The part of `cortex_events.cortex.client.CortexClient` that reads the catalog."""

    def iter_descriptors(self) -> AsyncIterator[Any]: ...

    def iter_entities(self) -> AsyncIterator[Any]: ...


class CatalogSource(Protocol):
    @property
    def index(self) -> CatalogIndex | None: ...


@dataclass(frozen=True)
class MappingOptions:
    """How the router maps besides CortexEntities: the annotation that names tags, and
    Cortex's catalog where it is read."""

    tag_annotation: str = TAG_ANNOTATION
    catalog: CatalogSource | None = None

    def current(self) -> CatalogIndex | None:
        return self.catalog.index if self.catalog is not None else None

    def kept(self, extra: frozenset[str]) -> tuple[frozenset[str], frozenset[str]]:
        """The annotations snapshots keep beside the ``cortex.io/`` ones: a Pod's (the tag's),
        and a workload's (the tag's, who and what's, and ``extra``: the deploys')."""
        pods = frozenset({self.tag_annotation})
        return pods, pods | KEPT_ANNOTATIONS | extra


class CatalogMapping:
    """The catalog's current `CatalogIndex` (None until first read), kept fresh.

    ``reevaluate`` is asked for each namespace of ``namespaces()`` when the index changes;
    ``leading`` says whether this replica may send to Cortex (a standby does not read)."""

    def __init__(
        self,
        reader: CatalogReader,
        config: MappingConfig,
        *,
        reevaluate: Callable[[str], None],
        namespaces: Callable[[], Iterable[str]],
        interval: float = DEFAULT_INTERVAL,
        leading: Callable[[], bool] = lambda: True,
    ) -> None:
        self._reader, self.config = reader, config
        self._reevaluate, self._namespaces = reevaluate, namespaces
        self._interval, self._leading = interval, leading
        self.index: CatalogIndex | None = None
        self._failing = False
        self._kick = asyncio.Event()

    def refresh_soon(self) -> None:
        """Read the catalog now rather than at the next interval (this replica now leads)."""
        self._kick.set()

    async def run(self) -> None:
        """Refresh at once, then every ``interval`` seconds (and when kicked), while leading."""
        logger.info(
            "Mapping from Cortex's catalog: %s; refreshed every %gs",
            describe_sources(self.config),
            self._interval,
        )
        while True:
            self._kick.clear()
            if self._leading():
                try:
                    await self.refresh()
                except Exception:
                    logger.exception("Reading Cortex's catalog failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), timeout=self._interval)

    async def refresh(self) -> bool:
        """Read the catalog once; True when the index changed (its workloads are then mapped
        again). A failure keeps the index as it was and is logged once until it recovers."""
        try:
            index, problems = await read_catalog(self._reader, self.config)
        except NotLeading:
            return False  # leadership lost meanwhile: the next leader reads it
        except CortexError as error:
            if not self._failing:
                logger.warning(
                    "Cannot read Cortex's catalog (%s): mapping from it stays as last read; "
                    "retried every %gs",
                    error,
                    self._interval,
                )
            self._failing = True
            return False
        if self._failing:
            logger.info("Cortex's catalog is readable again")
        self._failing = False
        for problem in problems[:MAX_PROBLEMS_LOGGED]:
            logger.warning("Cortex's catalog: %s; ignored", problem)
        if len(problems) > MAX_PROBLEMS_LOGGED:
            logger.warning(
                "Cortex's catalog: %d more problems ignored", len(problems) - MAX_PROBLEMS_LOGGED
            )
        if index == self.index:
            return False
        first = self.index is None
        self.index = index
        counts = index.counts()
        logger.info(
            "Cortex's catalog %s: %d x-cortex-k8s items for cluster %r, %d entities (%d "
            "mapped by name); mapping every workload again",
            "read" if first else "changed",
            counts["items"],
            self.config.cluster,
            counts["entities"],
            counts["named"],
        )
        for namespace in list(self._namespaces()):
            self._reevaluate(namespace)
        return True


async def read_catalog(
    reader: CatalogReader, config: MappingConfig
) -> tuple[CatalogIndex, list[str]]:
    """One read of the catalog, as ``config``'s sources need it: the index, and what was wrong
    in the descriptors (ignored). A `CortexError` when Cortex cannot be read."""
    descriptors: list[Descriptor] = []
    problems: list[str] = []
    if config.reads_descriptors:
        async for raw in reader.iter_descriptors():
            descriptor, wrong = read_descriptor(raw)
            problems.extend(wrong)
            if descriptor is not None:
                descriptors.append(descriptor)
    entities: list[CatalogEntity] | None = None
    if config.reads_entities:
        entities = [e async for raw in reader.iter_entities() if (e := read_entity(raw))]
    return build_index(config, descriptors, entities), problems
