"""Leader election on a ``coordination.k8s.io/v1`` Lease, with the semantics client-go uses.

kopf's own peering cannot serve here: it pauses a standby's watches altogether (so its caches go
cold and a takeover starts from nothing), and it has no fencing, so a paused leader that comes
back could still send. This elector runs beside kopf: every replica watches and keeps its state
warm, and only the one that holds the Lease delivers to Cortex.

- **Acquire.** A candidate takes the Lease when it is free (no holder, or released) or expired:
  its record has not changed for ``lease_duration`` seconds *as this candidate observed it*
  (client-go's rule: a local clock measures, so clock skew between replicas does not matter).
  Writes carry the record's resourceVersion, so two candidates never both win.
- **Renew.** The leader renews every ``retry_period``. `leading` is true only while the last
  successful renewal is less than ``renew_deadline`` old; past it the leader steps down, which
  happens before any other replica may take the Lease (``lease_duration`` > ``renew_deadline``).
  That margin is the fence: a leader that cannot renew stops sending first.
- **Release.** On a clean shutdown the leader clears the holder, so a successor takes over at
  once instead of waiting for the Lease to expire.
- **Cleanup.** Where the operator runs as a ServiceAccount of the Lease's namespace (the
  chart's), the Lease it writes is owned by that ServiceAccount, so the garbage collector
  deletes it with the ServiceAccount (as ``helm uninstall`` deletes it). A deletion at shutdown
  could not do it: ``helm uninstall`` deletes the RBAC and the ServiceAccount at the moment the
  Pods are told to stop, and a stopping replica's request is refused.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

logger = logging.getLogger("cortex_events.leadership")


class LeaseConflict(Exception):
    """Someone else wrote the Lease first (409), or created it meanwhile."""


class LeaseForbidden(Exception):
    """RBAC refuses this replica the Lease (403)."""


class LeaseUnavailable(Exception):
    """The Lease could not be read or written; the message says why in one line."""


class LeaseApi(Protocol):
    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def create_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]: ...

    async def replace_lease(
        self, namespace: str, name: str, body: dict[str, Any]
    ) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ElectionSettings:
    """Timings in seconds; the defaults are client-go's and controller-runtime's."""

    namespace: str
    identity: str
    name: str = "cortex-events-operator"
    lease_duration: float = 15.0
    """How long a Lease that stopped changing is respected before a standby takes it."""
    renew_deadline: float = 10.0
    """How long the leader keeps leading without a successful renewal."""
    retry_period: float = 2.0
    """How often the leader renews and a standby tries to acquire."""
    owner: dict[str, str] | None = None
    """An ownerReference (the operator's ServiceAccount) the Lease is written with."""

    def __post_init__(self) -> None:
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError(
                "leader election needs retry period < renew deadline < lease duration "
                f"(got {self.retry_period:g}s, {self.renew_deadline:g}s, "
                f"{self.lease_duration:g}s)"
            )


SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def own_namespace(configured: str = "") -> str | None:
    """Where the Lease lives: as configured, else the operator's own namespace (the downward
    API's ``POD_NAMESPACE``, or its service account's), else None (outside a cluster)."""
    if configured:
        return configured
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or None
    except OSError:
        return None


def replica_identity() -> str:
    """This replica's name in the Lease: its Pod's name and a suffix of its own, so that a
    restarted Pod of the same name is a new holder."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4().hex[:6]}"


def micro_time(moment: datetime) -> str:
    """Kubernetes' MicroTime format."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Run `run()` as a task; read `leading`; `release()` on shutdown."""

    def __init__(
        self,
        api: LeaseApi,
        settings: ElectionSettings,
        *,
        on_change: Callable[[bool], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._api = api
        self.settings = settings
        self._on_change = on_change
        self._clock = clock
        self._wall = wall
        self._renewed_at: float | None = None  # our last successful write as the holder
        self._observed: tuple[Any, ...] | None = None  # the record as last seen
        self._observed_at = 0.0
        self._lease: dict[str, Any] | None = None
        self._was_leading = False
        self._problem: str | None = None
        self.transitions = 0
        self.holder: str | None = None
        # The replica whose expired Lease this one took (None: it was free or released).
        self.took_from: str | None = None

    # -- state ---------------------------------------------------------------------------

    @property
    def leading(self) -> bool:
        """True while this replica holds the Lease and renewed it within the deadline."""
        renewed = self._renewed_at
        return renewed is not None and self._clock() - renewed < self.settings.renew_deadline

    def _notice(self) -> None:
        now_leading = self.leading
        if now_leading != self._was_leading:
            self._was_leading = now_leading
            self.transitions += 1
            if self._on_change is not None:
                self._on_change(now_leading)

    # -- the loop ------------------------------------------------------------------------

    async def run(self) -> None:
        """Try to acquire or renew every retry period, forever."""
        while True:
            await self.attempt()
            await asyncio.sleep(self.settings.retry_period)

    async def attempt(self) -> bool:
        """One try to acquire or renew; returns whether this replica leads afterwards."""
        try:
            async with asyncio.timeout(self.settings.renew_deadline):
                await self._try_acquire_or_renew()
        except LeaseForbidden:
            self._report(
                f"Leader election: access to Lease {self.settings.namespace}/"
                f"{self.settings.name} is denied (RBAC); staying standby"
            )
        except LeaseConflict:
            pass  # another replica wrote first; look again next time
        except Exception as error:
            reason = str(error) or type(error).__name__
            self._report(f"Leader election: the Lease could not be read or written: {reason}")
        else:
            if self._problem is not None:
                logger.info("Leader election: the Lease is reachable again")
                self._problem = None
        self._notice()
        return self.leading

    def _report(self, problem: str) -> None:
        if problem != self._problem:
            logger.warning(problem)
            self._problem = problem

    async def _try_acquire_or_renew(self) -> None:
        s = self.settings
        # A renewal counts from before its request left: the write may land any time after.
        began = self._clock()
        now = self._wall()
        lease = await self._api.get_lease(s.namespace, s.name)
        if lease is None:
            body = self._record(None, now)
            self._lease = await self._api.create_lease(s.namespace, body)
            self.took_from = None
            logger.info("Leader election: created and acquired Lease %s/%s", s.namespace, s.name)
            self._won(began)
            return
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or None
        self.holder = holder
        record = (holder, spec.get("renewTime"), spec.get("leaseDurationSeconds"))
        if record != self._observed:
            self._observed, self._observed_at = record, self._clock()
        duration = float(spec.get("leaseDurationSeconds") or s.lease_duration)
        if holder is not None and holder != s.identity:
            self._renewed_at = None  # someone else holds it: never lead on an old renewal
            if self._clock() - self._observed_at < duration:
                return  # held and not expired
        body = self._record(lease, now)
        self._lease = await self._api.replace_lease(s.namespace, s.name, body)
        self.took_from = holder if holder != s.identity else None
        if holder != s.identity:
            expired = f", expired, from {holder}" if holder else ""
            logger.info("Leader election: acquired Lease %s/%s%s", s.namespace, s.name, expired)
        self._won(began)

    def _won(self, began: float) -> None:
        self._renewed_at = began
        self.holder = self.settings.identity
        spec = (self._lease or {}).get("spec") or {}
        self._observed = (self.settings.identity, spec.get("renewTime"),
                          spec.get("leaseDurationSeconds"))  # fmt: skip
        self._observed_at = self._clock()

    def _record(self, lease: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
        s = self.settings
        spec = dict((lease or {}).get("spec") or {})
        previous = spec.get("holderIdentity") or None
        if previous != s.identity:
            spec["acquireTime"] = micro_time(now)
            if lease is not None:
                spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        spec.update(
            holderIdentity=s.identity,
            leaseDurationSeconds=round(s.lease_duration),
            renewTime=micro_time(now),
        )
        spec.setdefault("leaseTransitions", 0)
        metadata: dict[str, Any] = {"name": s.name, "namespace": s.namespace}
        if lease is not None:
            found = lease.get("metadata") or {}
            # A replace is whole: what others set on the Lease's metadata is written back.
            metadata.update(
                (key, found[key])
                for key in ("labels", "annotations", "ownerReferences", "resourceVersion")
                if key in found
            )
        owners = list(metadata.get("ownerReferences") or [])
        if s.owner is not None and not any(o.get("uid") == s.owner["uid"] for o in owners):
            metadata["ownerReferences"] = [*owners, s.owner]
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": spec,
        }

    async def release(self) -> None:
        """Give the Lease up (a clean shutdown), so that a standby takes over at once."""
        if not self.leading or self._lease is None:
            return
        s = self.settings
        self._renewed_at = None
        self._notice()
        body = dict(self._lease)
        spec = dict(body.get("spec") or {})
        spec.update(holderIdentity=None, leaseDurationSeconds=1, renewTime=micro_time(self._wall()))
        body["spec"] = spec
        try:
            await self._api.replace_lease(s.namespace, s.name, body)
        except Exception as error:
            logger.warning("Leader election: could not release the Lease: %s", error)
        else:
            logger.info("Leader election: released Lease %s/%s", s.namespace, s.name)
