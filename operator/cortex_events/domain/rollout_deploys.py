"""Cortex deploys from rollouts: which deploys a workload's state implies, and their bodies.

A deploy is made from the events the lifecycle rules already derived (`deployment_events`),
never detected anew: a ``DEPLOYMENT_ROLLOUT``, ``STATEFULSET_ROLLOUT`` or ``DAEMONSET_ROLLOUT``
event whose result is ``Completed`` becomes a ``DEPLOY``, a ``ROLLBACK`` or a ``RESTART`` as its
revision's change says (see `cortex_events.domain.deployments.Revision`), and a
``DEPLOYMENT_SCALE`` or ``STATEFULSET_SCALE`` event a ``SCALE``; an autoscaler's scales are
quiet events and no deploys. A
rollout that failed, or that a newer revision superseded, is no deploy: a Cortex deploy has no
result, so every reader of it (deployment frequency, ``deploys()`` in CQL, scorecards) would
count a revision that never went live. Revision 1 is the Deployment's creation, not a rollout.

Whether a target entity gets deploys at all, scales included, and under which environment is
its `DeployPolicy`: the CortexEntity's ``spec.deploys`` where it says, else the settings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from cortex_events.domain.deployments import (
    CHANGE_RESTART,
    CHANGE_ROLLBACK,
    ROLLOUT_COMPLETED,
    Revision,
)
from cortex_events.domain.intents import EventIntent, utc
from cortex_events.domain.keys import deploy_revision_key, deploy_scale_key
from cortex_events.domain.mapping import Target
from cortex_events.domain.model import (
    VERSION_LABEL,
    DeploymentSnapshot,
    Described,
    EventType,
    WorkloadRef,
)
from cortex_events.domain.parsing import parse_time
from cortex_events.domain.render import owned_custom_data
from cortex_events.domain.specs import EntitySpec

DEFAULT_SHA_ANNOTATION = "cortex.io/sha"
DEPLOYER_ANNOTATION = "cortex.io/deployer"
"""Who deployed: ``Name <email>``, an email address, or a name."""


class DeployType(StrEnum):
    DEPLOY = "DEPLOY"
    SCALE = "SCALE"
    ROLLBACK = "ROLLBACK"
    RESTART = "RESTART"


_BY_CHANGE = {CHANGE_ROLLBACK: DeployType.ROLLBACK, CHANGE_RESTART: DeployType.RESTART}


@dataclass(frozen=True)
class Deployer:
    name: str | None
    email: str | None


@dataclass(frozen=True)
class DeployIntent:
    """A deploy the state implies, before it is addressed to an entity.

    ``timestamp`` is when it went live (a rollout's completion, a scale's sighting);
    ``started`` when its rollout began; ``details`` its type-specific customData.
    """

    key: str
    type: DeployType
    subject: WorkloadRef
    title: str
    timestamp: datetime
    started: datetime
    sha: str | None
    deployer: Deployer | None
    details: Mapping[str, Any]

    def __hash__(self) -> int:
        return hash((self.key, self.title, self.timestamp))


@dataclass(frozen=True)
class DeployBody:
    """A Cortex deploy as the operator creates it."""

    title: str
    type: str
    timestamp: datetime
    sha: str | None
    environment: str
    deployer: Deployer | None
    custom_data: dict[str, Any]


@dataclass(frozen=True)
class DeployDefaults:
    """The settings behind every entity's `DeployPolicy`; ``environment`` empty means the
    cluster's name."""

    enabled: bool = False
    scales: bool = False
    environment: str = ""
    sha_annotation: str = DEFAULT_SHA_ANNOTATION


@dataclass(frozen=True)
class DeployPolicy:
    enabled: bool
    scales: bool
    environment: str


def deploy_policy(
    specs: Iterable[EntitySpec], defaults: DeployDefaults, cluster: str
) -> DeployPolicy:
    """What one target records: the CortexEntities behind it (in key order) over the settings.

    ``enabled`` and ``scales``: true when any entity that sets them says true, else the setting;
    ``environment``: the first entity's that sets one, else the setting, else ``cluster``.
    """
    ordered = sorted(specs, key=lambda s: s.key)
    enabled = [s.deploys.enabled for s in ordered if s.deploys.enabled is not None]
    scales = [s.deploys.scales for s in ordered if s.deploys.scales is not None]
    environment = next((s.deploys.environment for s in ordered if s.deploys.environment), None)
    return DeployPolicy(
        enabled=any(enabled) if enabled else defaults.enabled,
        scales=any(scales) if scales else defaults.scales,
        environment=environment or defaults.environment or cluster,
    )


def image_version(image: str) -> str | None:
    """An image's digest (``sha256:...``), else its tag; None for a bare name."""
    name, at, digest = image.partition("@")
    if at and digest:
        return digest
    last = name.rsplit("/", 1)[-1]
    _, colon, tag = last.partition(":")
    return tag if colon and tag else None


def parse_deployer(value: str | None) -> Deployer | None:
    """``Ada Lovelace <ada@example.com>``, ``ada@example.com`` or ``Ada``; None when empty."""
    text = (value or "").strip()
    if not text:
        return None
    if text.endswith(">") and "<" in text:
        name, _, email = text[:-1].rpartition("<")
        return Deployer(name.strip() or None, email.strip() or None)
    if "@" in text and " " not in text:
        return Deployer(None, text)
    return Deployer(text, None)


class DeploySource(Described, Protocol):
    """What a deploy reads of the workload it comes from (a Deployment, StatefulSet or
    DaemonSet snapshot)."""

    @property
    def images(self) -> tuple[str, ...]: ...

    @property
    def generation(self) -> int: ...


ROLLOUT_TYPES = frozenset(
    {
        EventType.DEPLOYMENT_ROLLOUT,
        EventType.STATEFULSET_ROLLOUT,
        EventType.DAEMONSET_ROLLOUT,
        EventType.ARGO_ROLLOUT_REVISION,
    }
)
"""The rollout events whose completion is a deploy: every kind whose revisions are rolled out."""
SCALE_TYPES = frozenset(
    {EventType.DEPLOYMENT_SCALE, EventType.STATEFULSET_SCALE, EventType.ARGO_ROLLOUT_SCALE}
)


def _sha(revision: Revision | None, workload: DeploySource, sha_annotation: str) -> str | None:
    """The annotation (the revision's template, then the workload), the version label (the
    same two), then the revision's first image's digest or tag."""
    template = revision.annotations if revision is not None else {}
    candidates = [
        template.get(sha_annotation),
        workload.annotations.get(sha_annotation),
        revision.version if revision is not None else None,
        workload.labels.get(VERSION_LABEL),
    ]
    images = revision.images if revision is not None else workload.images
    candidates.append(image_version(images[0]) if images else None)
    return next((c.strip() for c in candidates if c and c.strip()), None)


def _deployer(revision: Revision | None, workload: DeploySource, by: object) -> Deployer | None:
    """``cortex.io/deployer`` (the revision's template, then the workload), else ``by``, the
    field manager that made the change."""
    template = revision.annotations if revision is not None else {}
    found = parse_deployer(
        template.get(DEPLOYER_ANNOTATION) or workload.annotations.get(DEPLOYER_ANNOTATION)
    )
    if found is None and isinstance(by, str) and by:
        return Deployer(by, None)
    return found


DEPLOY_DETAILS = frozenset({"revision", "images", "change", "result", "durationSeconds"})
"""What a rollout's deploy keeps of its event's customData, besides who and what."""
CHANGE_DETAILS = frozenset(
    {
        "changedBy",
        "changeCause",
        "changeSource",
        "imageChanges",
        "changedEnv",
        "changedResources",
        "changedFields",
    }
)
"""Who and what (`cortex_events.domain.changes.ChangeDetails`), on deploys as on events."""


def deployment_deploys(
    deployment: DeploymentSnapshot,
    events: Iterable[EventIntent],
    revisions: Mapping[int, Revision],
    *,
    sha_annotation: str = DEFAULT_SHA_ANNOTATION,
) -> list[DeployIntent]:
    """The deploys among ``events`` (what `deployment_events` derived from the same state);
    a rollout went live when the Deployment's Progressing condition last moved."""
    current = revisions.get(deployment.revision) if deployment.revision else None
    return workload_deploys(
        deployment,
        events,
        revisions,
        current=current,
        number=deployment.revision,
        live=deployment.progressing_updated,
        sha_annotation=sha_annotation,
    )


def workload_deploys(
    workload: DeploySource,
    events: Iterable[EventIntent],
    revisions: Mapping[int, Revision],
    *,
    current: Revision | None,
    number: int | None = None,
    live: datetime | None = None,
    sha_annotation: str = DEFAULT_SHA_ANNOTATION,
) -> list[DeployIntent]:
    """The deploys among ``events``, what a workload's lifecycle rules derived from its state:
    each completed rollout (of any kind in `ROLLOUT_TYPES`) and each scale not made by an
    autoscaler. ``revisions``: the workload's revisions by number; ``current``: the one it
    runs, for a scale's sha (``number``: its number, where known without it); ``live``: when
    a completed rollout went live, where the workload tells (else the event's ``finishedAt``,
    else its revision's start)."""
    deploys = []
    ref = workload.ref
    for event in events:
        if event.quiet is not None:
            continue  # an autoscaler's scale (or its window's summary) is no deploy
        if event.type in ROLLOUT_TYPES:
            if event.details.get("result") != ROLLOUT_COMPLETED:
                continue
            revision = revisions.get(int(event.details["revision"]))
            if revision is None:
                continue
            finished = parse_time(event.details.get("finishedAt"))
            end = live or finished
            deploys.append(
                DeployIntent(
                    key=deploy_revision_key(ref.kind, ref.uid, revision.number),
                    type=_BY_CHANGE.get(revision.change, DeployType.DEPLOY),
                    subject=ref,
                    title=event.title,
                    timestamp=utc(end) if end is not None else revision.started,
                    started=revision.started,
                    sha=_sha(revision, workload, sha_annotation),
                    deployer=_deployer(revision, workload, event.details.get("changedBy")),
                    details={
                        k: v
                        for k, v in event.details.items()
                        if k in DEPLOY_DETAILS or k in CHANGE_DETAILS
                    },
                )
            )
        elif event.type in SCALE_TYPES:
            deploys.append(
                DeployIntent(
                    key=deploy_scale_key(ref.kind, ref.uid, workload.generation),
                    type=DeployType.SCALE,
                    subject=ref,
                    title=event.title,
                    timestamp=event.timestamp,
                    started=event.timestamp,
                    sha=_sha(current, workload, sha_annotation),
                    deployer=_deployer(current, workload, event.details.get("changedBy")),
                    details={
                        "revision": current.number if current is not None else number,
                        "images": list(current.images if current else workload.images),
                        "fromReplicas": event.details["fromReplicas"],
                        "toReplicas": event.details["toReplicas"],
                    }
                    | {k: v for k, v in event.details.items() if k in CHANGE_DETAILS},
                )
            )
    return deploys


def render_deploy(
    intent: DeployIntent, target: Target, policy: DeployPolicy, *, cluster: str
) -> DeployBody:
    """The deploy's body on ``target``: the entity's customData, the deploy's details, then
    the operator's own keys (those of every event it records), which always win."""
    custom_data = owned_custom_data(
        intent.details, intent.subject, intent.key, target, cluster=cluster
    )
    return DeployBody(
        title=intent.title,
        type=intent.type.value,
        timestamp=intent.timestamp,
        sha=intent.sha,
        environment=policy.environment,
        deployer=intent.deployer,
        custom_data=custom_data,
    )
