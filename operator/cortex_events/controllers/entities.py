"""CortexEntity objects: held once, their status written by one writer, retention and cleanup.

`EntityStore` holds every CortexEntity the operator watches, parsed once per generation; the
recorder reads its specs from there. `EntityController` reacts to spec changes (a Warning Event
for an invalid spec or an unknown tag, a new mapping applied at once), and runs the one loop
that writes every CortexEntity's status (through the status subresource, only when it
changes), posts what each recorded as aggregated Kubernetes Events, and enforces retention.
Every deletion in Cortex, retention and cleanup alike, goes through delivery, which holds the
events' keys meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from cortex_events.controllers.entity_status import (
    EntityActivity,
    EntityFacts,
    StatusSnapshot,
    build_status,
    summarize,
)
from cortex_events.cortex.errors import CortexError
from cortex_events.cortex.ratelimit import urgency
from cortex_events.delivery.decisions import Listed, plan_retention
from cortex_events.delivery.fence import NotLeading
from cortex_events.delivery.ledger import Ledger, TagLedger, TagState
from cortex_events.delivery.ports import CortexApi
from cortex_events.domain.durations import format_duration
from cortex_events.domain.podsummary import with_summaries
from cortex_events.domain.priority import Priority
from cortex_events.domain.render import read_owned
from cortex_events.domain.specs import EntitySpec, SpecError, parse_entity
from cortex_events.kube.events import InvolvedObject

logger = logging.getLogger("cortex_events.entities")

CXE = ("cortex.io", "v1alpha1", "cortexentities")
API_VERSION = "cortex.io/v1alpha1"


@dataclass
class EntityRecord:
    """One CortexEntity as the operator knows it: its spec parsed, its status as last seen."""

    namespace: str
    name: str
    uid: str
    generation: int
    parsed: EntitySpec | SpecError
    status: Mapping[str, Any]

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def about(self) -> InvolvedObject:
        return InvolvedObject(API_VERSION, "CortexEntity", self.namespace, self.name, self.uid)


class EntityStore:
    """Every watched CortexEntity, by ``namespace/name``."""

    def __init__(self) -> None:
        self._records: dict[str, EntityRecord] = {}

    def observe(self, body: Mapping[str, Any]) -> EntityRecord:
        """Take a CortexEntity as the API server has it now; its spec is parsed again only
        when its generation (or uid) moved."""
        metadata = body.get("metadata") or {}
        namespace, name = str(metadata.get("namespace", "")), str(metadata.get("name", ""))
        uid, generation = str(metadata.get("uid", "")), int(metadata.get("generation") or 0)
        record = self._records.get(f"{namespace}/{name}")
        if record is None or (record.uid, record.generation) != (uid, generation):
            record = EntityRecord(namespace, name, uid, generation, parse_entity(body), {})
            self._records[record.key] = record
        record.status = dict(body.get("status") or {})
        return record

    def remove(self, namespace: str, name: str) -> EntityRecord | None:
        return self._records.pop(f"{namespace}/{name}", None)

    def records(self) -> list[EntityRecord]:
        return list(self._records.values())

    def in_namespace(self, namespace: str) -> list[EntitySpec]:
        """The valid specs in ``namespace``: what maps its workloads."""
        return [
            r.parsed
            for r in self._records.values()
            if r.namespace == namespace and isinstance(r.parsed, EntitySpec)
        ]

    def spec(self, key: str) -> EntitySpec | None:
        record = self._records.get(key)
        return record.parsed if record and isinstance(record.parsed, EntitySpec) else None


class Loader(Protocol):
    """The part of `cortex_events.delivery.pipeline.Delivery` the controller uses."""

    failure: CortexError | None

    async def ensure_loaded(self, tag: str) -> TagLedger | None: ...


class Deleter(Protocol):
    async def delete(self, tag: str, doomed: list[tuple[str, str]]) -> int: ...

    async def delete_deploys(
        self, tag: str, select: Callable[[datetime, tuple[str, ...]], bool]
    ) -> int: ...

    async def delete_type(
        self, tag: str, event_type: str, until: datetime, doomed: list[tuple[str, str]]
    ) -> int: ...


class StatusWriter(Protocol):
    async def patch_status(
        self, resource: tuple[str, str, str], namespace: str, name: str, status: dict[str, Any]
    ) -> None: ...


class Notices(Protocol):
    def info(self, about: InvolvedObject, reason: str, message: str) -> None: ...

    def warn(self, about: InvolvedObject, reason: str, message: str) -> None: ...


class MatchCounter(Protocol):
    def matched_workloads(self) -> dict[str, int]: ...


class EntityController:
    def __init__(
        self,
        store: EntityStore,
        *,
        delivery: Loader,
        deleter: Deleter,
        ledger: Ledger,
        api: CortexApi,
        matches: MatchCounter,
        status: StatusWriter,
        notices: Notices,
        activity: EntityActivity,
        on_mapping_changed: Callable[[str], None],
        cluster: str,
        status_interval: float,
        retention_interval: float,
        dry_run: bool = False,
        leading: Callable[[], bool] = lambda: True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        records_deploys: Callable[[EntitySpec], bool] = lambda _: False,
    ) -> None:
        self.store = store
        self._records_deploys = records_deploys
        self._delivery = delivery
        self._deleter = deleter
        self._leading = leading
        self._ledger = ledger
        self._api = api
        self._matches = matches
        self._status = status
        self._notices = notices
        self._activity = activity
        self._mapping_changed = on_mapping_changed
        self._cluster = cluster
        self._status_interval = status_interval
        self._retention_interval = retention_interval
        self._dry_run = dry_run
        self._clock = clock
        # Per entity: the retention of its last pass, and when (monotonic seconds).
        self._retained: dict[str, tuple[timedelta, float]] = {}
        self._wakeup = asyncio.Event()

    # -- what the handlers report -----------------------------------------------------------

    async def spec_changed(self, body: Mapping[str, Any]) -> EntitySpec | SpecError:
        """A CortexEntity was created, resumed at start-up or had its spec changed."""
        record = self.store.observe(body)
        parsed = record.parsed
        if self._leading():  # a standby only keeps the mapping current; the leader reports
            if isinstance(parsed, SpecError):
                logger.error("Invalid CortexEntity %s: %s", record.key, parsed)
                self._notices.warn(record.about, "InvalidSpec", str(parsed))
            elif await self.check_tag(parsed.tag) is False:
                self._notices.warn(
                    record.about,
                    "EntityNotFound",
                    f"Cortex has no entity with tag or id {parsed.tag!r}",
                )
        self._mapping_changed(record.namespace)
        self.refresh_soon()
        return parsed

    def seen(self, body: Mapping[str, Any], event_type: str | None) -> None:
        """Any watch event of a CortexEntity: keep the store current."""
        if event_type == "DELETED":
            metadata = body.get("metadata") or {}
            removed = self.store.remove(str(metadata.get("namespace")), str(metadata.get("name")))
            if removed is not None:
                self._mapping_changed(removed.namespace)
        else:
            self.store.observe(body)

    async def deleting(self, body: Mapping[str, Any]) -> int:
        """A CortexEntity with ``cleanupOnDelete`` is being deleted: delete what it recorded.

        Raises when Cortex cannot be asked now, or another replica leads (the finalizer
        stays; kopf tries again)."""
        if not self._leading():
            raise NotLeading
        record = self.store.observe(body)
        deleted = 0
        if isinstance(record.parsed, EntitySpec):
            try:
                with urgency(Priority.HOUSEKEEPING):  # after failures, workloads and churn
                    deleted = await self.cleanup(record.parsed)
            except CortexError as error:
                # The object stays until its events are gone: say why, on the object.
                self._notices.warn(
                    record.about,
                    "CleanupFailed",
                    f"Could not delete the events this CortexEntity recorded ({error}); its "
                    "deletion waits for that and is tried again every 30s",
                )
                raise
        self.store.remove(record.namespace, record.name)
        self._mapping_changed(record.namespace)
        return deleted

    async def check_tag(self, tag: str) -> bool | None:
        """Whether Cortex knows the tag (loading its ledger); None when Cortex can't say now."""
        try:
            return await self._delivery.ensure_loaded(tag) is not None
        except NotLeading:
            return None
        except CortexError as error:
            logger.warning("Could not check entity %r in Cortex: %s", tag, error)
            return None

    # -- the status loop ----------------------------------------------------------------------

    def refresh_soon(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        """Refresh every status each interval, and soon after a spec changed."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._status_interval):
                    await self._wakeup.wait()
            self._wakeup.clear()
            try:
                await self.refresh()
            except Exception:
                logger.exception("Refreshing CortexEntity status failed; will retry")

    async def refresh(self, *, retention: bool | None = None) -> None:
        """Write each CortexEntity's status if it changed, post its activity, run retention:
        on the leader only, so that status has one writer."""
        if not self._leading():
            return
        now = time.monotonic()
        snapshot = self.snapshot()
        records = self.store.records()
        present = {r.key for r in records}
        self._retained = {k: v for k, v in self._retained.items() if k in present}
        for record in records:
            self._post_activity(record)
            spec = record.parsed
            if (
                isinstance(spec, EntitySpec)
                and spec.retention
                and self._retention_due(record.key, spec.retention, now, retention)
            ):
                await self._retain(record, spec)
            status = build_status(self.facts(record, snapshot), record.status, now=self._clock())
            if any(record.status.get(k) != v for k, v in status.items()):
                await self._status.patch_status(CXE, record.namespace, record.name, status)
                record.status = {**record.status, **status}

    def _retention_due(
        self, key: str, retention: timedelta, now: float, forced: bool | None
    ) -> bool:
        """Whether an entity's retention pass is due: at once when the entity comes with a
        retention or changes it, then every retention interval (``forced`` decides alone
        where given). Each entity keeps its own schedule, so that one created just after
        another entity's pass waits for no interval."""
        last = self._retained.get(key)
        due = (
            forced
            if forced is not None
            else (last is None or last[0] != retention or now - last[1] >= self._retention_interval)
        )
        if due:
            self._retained[key] = (retention, now)
        return due

    def _post_activity(self, record: EntityRecord) -> None:
        recorded, dropped = self._activity.take(record.key)
        if recorded:
            if self._dry_run:
                self._notices.info(
                    record.about, "DryRun", f"Dry run: would record {summarize(recorded)}"
                )
            else:
                self._notices.info(record.about, "Recorded", f"Recorded {summarize(recorded)}")
        if dropped:
            self._notices.warn(
                record.about, "NotRecorded", f"Could not record {summarize(dropped)}"
            )

    async def _retain(self, record: EntityRecord, spec: EntitySpec) -> None:
        try:
            with urgency(Priority.HOUSEKEEPING):  # after failures, workloads and churn
                deleted = await self.enforce_retention(spec)
        except Exception as error:
            logger.warning("Retention for %s failed, will retry: %s", record.key, error)
            return
        if deleted:
            self._notices.info(record.about, "Retention", f"Deleted {deleted} expired events")

    def snapshot(self) -> StatusSnapshot:
        return StatusSnapshot(
            recorded=self._ledger.entity_stats(), matched=self._matches.matched_workloads()
        )

    def facts(self, record: EntityRecord, snapshot: StatusSnapshot) -> EntityFacts:
        tag_found: bool | None = None
        if isinstance(record.parsed, EntitySpec):
            state = self._ledger.tag(record.parsed.tag).state
            tag_found = {TagState.LOADED: True, TagState.NOT_FOUND: False}.get(state)
        recorded, last = snapshot.recorded.get(record.key, (0, None))
        return EntityFacts(
            generation=record.generation,
            parsed=record.parsed,
            tag_found=tag_found,
            cortex_error=self._delivery.failure,
            matched_workloads=snapshot.matched.get(record.key, 0),
            events_recorded=recorded,
            last_event=last,
        )

    # -- retention and cleanup ----------------------------------------------------------------

    async def enforce_retention(self, spec: EntitySpec) -> int:
        """Delete the tag's operator-owned events older than ``spec.retention``; returns how many.

        One listing finds the expired events (all types at once, so a pass costs one call per
        page, not one per type); `plan_retention` turns them into typed, time-bounded deletes
        where no one else's events share the window, and deletes by uuid where they do.
        """
        if spec.retention is None:
            return 0
        cutoff = self._clock() - spec.retention
        listed = [
            Listed(event.uuid, event.type, event.timestamp, self._owned_key(event.custom_data))
            async for event in self._api.iter_events(spec.tag, end_time=cutoff)
        ]
        plan = plan_retention(listed, with_summaries(spec.event_types))
        for event_type, (until, doomed) in plan.by_type.items():
            await self._deleter.delete_type(spec.tag, event_type, until, doomed)
            self._log_retention(spec, event_type, len(doomed))
        for event_type, doomed in plan.by_uuid.items():
            await self._deleter.delete(spec.tag, doomed)
            self._log_retention(spec, event_type, len(doomed))
        deploys = 0
        if self._records_deploys(spec):
            deploys = await self._deleter.delete_deploys(spec.tag, lambda when, _: when <= cutoff)
            logger.info("Retention: deleted %d deploys older than %s from entity %r",
                        deploys, format_duration(spec.retention), spec.tag)  # fmt: skip
        return plan.count() + deploys

    def _owned_key(self, custom_data: object) -> str | None:
        owned = read_owned(custom_data, cluster=self._cluster)
        return owned.key if owned is not None else None

    def _log_retention(self, spec: EntitySpec, event_type: str, count: int) -> None:
        assert spec.retention is not None
        logger.info(
            "Retention: deleted %d %s events older than %s from entity %r",
            count,
            event_type,
            format_duration(spec.retention),
            spec.tag,
        )

    async def cleanup(self, spec: EntitySpec) -> int:
        """Delete every event this CortexEntity recorded; returns how many."""
        if await self._delivery.ensure_loaded(spec.tag) is None:
            return 0
        mine = [
            (key, entry.uuid)
            for key, entry in self._ledger.tag(spec.tag).entries.items()
            if spec.key in entry.entities
        ]
        await self._deleter.delete(spec.tag, mine)
        deploys = 0
        if self._records_deploys(spec):
            deploys = await self._deleter.delete_deploys(spec.tag, lambda _, by: spec.key in by)
        logger.info(
            "Cleanup: deleted %d events and %d deploys recorded by %s from %r",
            len(mine), deploys, spec.key, spec.tag,
        )  # fmt: skip
        return len(mine) + deploys
