"""Who changed a workload and what changed: the field manager, the change-cause, each
container's image before and after, the names of the other fields that changed, and the GitOps
tool or Helm release the workload comes from.

What changed is told from two revisions' pod templates (a Deployment's ReplicaSets, a
StatefulSet's or DaemonSet's ControllerRevisions, an Argo Rollout's ReplicaSets), which the
operator keeps anyway. A template is kept as a `TemplatePrint`: each container's image, and one
8-byte digest per field, never a value. An environment variable's value (it may be a secret) is
neither kept nor sent: only its name, when its digest differs.

Who changed it is the field manager (``metadata.managedFields``) that wrote the pod template
(``spec.template``) last before the revision started: ``kubectl-set``, ``kubectl-rollout``,
``kubectl-client-side-apply``, ``helm``, ``argocd-controller``, ``kustomize-controller``, or a
server-side apply's ``--field-manager``. A scale's is the manager that wrote ``spec.replicas``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from cortex_events.domain.intents import clip, short_image
from cortex_events.domain.parsing import FieldWriter
from cortex_events.domain.templates import TemplateDiff, TemplatePrint, author, diff_templates

CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"
ARGOCD_TRACKING_ANNOTATION = "argocd.argoproj.io/tracking-id"
HELM_RELEASE_ANNOTATION = "meta.helm.sh/release-name"
HELM_NAMESPACE_ANNOTATION = "meta.helm.sh/release-namespace"
KEPT_ANNOTATIONS = frozenset(
    {
        CHANGE_CAUSE_ANNOTATION,
        ARGOCD_TRACKING_ANNOTATION,
        HELM_RELEASE_ANNOTATION,
        HELM_NAMESPACE_ANNOTATION,
    }
)
"""The annotations workload snapshots keep for who and what."""
INSTANCE_LABEL = "app.kubernetes.io/instance"
FLUX_KUSTOMIZATION = ("kustomize.toolkit.fluxcd.io/name", "kustomize.toolkit.fluxcd.io/namespace")
FLUX_HELM_RELEASE = ("helm.toolkit.fluxcd.io/name", "helm.toolkit.fluxcd.io/namespace")

MAX_NAMES = 20
"""Entries of each list in an event (containers, env names, fields): the rest are counted."""
MAX_TEXT = 253


def change_source(labels: Mapping[str, str], annotations: Mapping[str, str]) -> dict[str, str]:
    """The GitOps tool or Helm release a workload comes from, as far as it tells: Argo CD's
    tracking annotation, Flux's Kustomization or HelmRelease labels, Helm's release
    annotations, then Argo CD's default tracking label (``app.kubernetes.io/instance``)."""
    tracking = annotations.get(ARGOCD_TRACKING_ANNOTATION)
    if tracking:
        application = tracking.partition(":")[0]
        return {"tool": "argocd", "application": clip(application)[:MAX_TEXT]}
    for kind, (name_key, namespace_key) in (
        ("Kustomization", FLUX_KUSTOMIZATION),
        ("HelmRelease", FLUX_HELM_RELEASE),
    ):
        if name := labels.get(name_key):
            namespace = labels.get(namespace_key, "")
            return {"tool": "flux", "kind": kind, "name": name, "namespace": namespace}
    if release := annotations.get(HELM_RELEASE_ANNOTATION):
        namespace = annotations.get(HELM_NAMESPACE_ANNOTATION, "")
        return {"tool": "helm", "release": release[:MAX_TEXT], "namespace": namespace[:MAX_TEXT]}
    if instance := labels.get(INSTANCE_LABEL):
        return {"tool": "argocd", "application": instance}
    return {}


def _source_text(source: Mapping[str, str]) -> str | None:
    tool = source.get("tool")
    if tool == "argocd":
        return f"Argo CD application {source.get('application')}"
    if tool == "flux":
        return f"Flux {source.get('kind')} {source.get('namespace')}/{source.get('name')}"
    if tool == "helm":
        return f"Helm release {source.get('release')}"
    return None


def _bounded(items: list[str]) -> list[str]:
    more = len(items) - MAX_NAMES
    return items[:MAX_NAMES] + ([f"... {more} more"] if more > 0 else [])


@dataclass(frozen=True, slots=True)
class ChangeDetails:
    """Who made a change and what it was. ``by`` is the field manager; ``cause`` the
    ``kubernetes.io/change-cause`` annotation; ``diff`` what differs from the revision before
    (None where that revision is not known); ``source`` the GitOps tool or Helm release."""

    by: str | None = None
    cause: str | None = None
    diff: TemplateDiff | None = None
    source: Mapping[str, str] = field(default_factory=dict)
    single_container: bool = False

    def custom_data(self) -> dict[str, Any]:
        """The event's customData for it; a key only where it is known."""
        data: dict[str, Any] = {}
        if self.by:
            data["changedBy"] = self.by
        if self.cause:
            data["changeCause"] = self.cause
        if self.source:
            data["changeSource"] = dict(self.source)
        diff = self.diff
        if diff is not None:
            data["imageChanges"] = [
                {"container": c, "from": b, "to": a} for c, b, a in diff.images[:MAX_NAMES]
            ]
            if diff.env:
                data["changedEnv"] = {c: _bounded(list(n)) for c, n in diff.env[:MAX_NAMES]}
            if diff.resources:
                data["changedResources"] = _bounded(list(diff.resources))
            if diff.fields:
                data["changedFields"] = _bounded(list(diff.fields))
        return data

    def summary(self) -> str | None:
        """The short form: ``changed by kubectl-set: nginx:1.25 -> nginx:1.26``."""
        what: list[str] = []
        diff = self.diff
        if diff is not None:
            for container, before, after in diff.images[:3]:
                step = f"{short_image(before) if before else 'none'} -> "
                step += short_image(after) if after else "removed"
                what.append(step if self.single_container else f"{container} {step}")
            if len(diff.images) > 3:
                what.append(f"{len(diff.images) - 3} more images")
            what += [f"env of {c}: {', '.join(n[:5])}" for c, n in diff.env[:3]]
            if diff.resources:
                what.append(f"resources of {', '.join(diff.resources[:3])}")
            if diff.fields:
                what.append(
                    ", ".join(diff.fields[:3]) + (" and more" if len(diff.fields) > 3 else "")
                )
        who = f"changed by {self.by}" if self.by else "changed"
        if (via := _source_text(self.source)) is not None:
            who += f" via {via}"
        if not what and not self.by and via is None:
            return None
        text = who + (": " + "; ".join(what) if what else "")
        if self.cause:
            text += f" ({clip(self.cause)[:120]})"
        return text


class Changed(Protocol):
    """What tells who changed a workload: its labels, kept annotations and template writers."""

    @property
    def labels(self) -> Mapping[str, str]: ...

    @property
    def annotations(self) -> Mapping[str, str]: ...

    @property
    def template_writers(self) -> tuple[FieldWriter, ...]: ...


def revision_change(
    workload: Changed,
    started: datetime,
    before: TemplatePrint | None,
    after: TemplatePrint | None,
    annotations: Mapping[str, str] | None = None,
    *,
    kept: ChangeDetails | None = None,
) -> ChangeDetails:
    """Who made the revision of ``workload`` that started at ``started``, and what it changed
    from the template ``before`` to ``after`` (where both are known). ``annotations`` are the
    revision's own (a ReplicaSet carries the change-cause of its revision), else the
    workload's are read. ``kept`` is what was found earlier: returned as it is once it says
    both who and what, and its diff kept where the revision before is gone now. Worth keeping
    once its ``diff`` is known."""
    if kept is not None and kept.by is not None and kept.diff is not None:
        return kept
    cause = (workload.annotations if annotations is None else annotations).get(
        CHANGE_CAUSE_ANNOTATION
    )
    diff = diff_templates(before, after) if before is not None and after is not None else None
    if diff is None and kept is not None:
        diff = kept.diff
    return ChangeDetails(
        by=author(
            workload.template_writers,
            started,
            tuple(name for name, _, _ in diff.images) if diff is not None else (),
        ),
        cause=clip(cause)[:MAX_TEXT] if cause else None,
        diff=diff,
        source=change_source(workload.labels, workload.annotations),
        single_container=after is not None and len(after.containers) == 1,
    )


def with_change(details: dict[str, Any], description: str, change: ChangeDetails | None) -> str:
    """Add ``change`` to an event's ``details`` and its short form to ``description``;
    returns the description."""
    if change is None:
        return description
    details.update(change.custom_data())
    summary = change.summary()
    return f"{description}; {summary}" if summary else description
