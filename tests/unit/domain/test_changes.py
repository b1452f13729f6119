"""Who changed a workload and what: templates compared by digest, field managers, the GitOps
source, and what an event says of them (names, never values)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cortex_events.domain.changes import ChangeDetails, change_source, revision_change
from cortex_events.domain.parsing import FieldWriter
from cortex_events.domain.templates import (
    author,
    diff_templates,
    template_print,
    template_writers,
)

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
SECRET = "hunter2-s3cr3t-value"


def template(
    image: str = "nginx:1.25",
    *,
    env: dict[str, str] | None = None,
    memory: str = "128Mi",
    sidecar: str | None = None,
    labels: dict[str, str] | None = None,
    volumes: list[Any] | None = None,
) -> dict[str, Any]:
    containers: list[dict[str, Any]] = [
        {
            "name": "web",
            "image": image,
            "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
            "resources": {"limits": {"memory": memory}},
            "args": ["--port", "80"],
        }
    ]
    if sidecar:
        containers.append({"name": "proxy", "image": sidecar})
    spec: dict[str, Any] = {"containers": containers}
    if volumes is not None:
        spec["volumes"] = volumes
    return {"metadata": {"labels": labels or {"app": "web"}}, "spec": spec}


def entry(manager: str, at: datetime, fields: dict[str, Any], subresource: str = "") -> Any:
    found = {
        "manager": manager,
        "operation": "Update",
        "apiVersion": "apps/v1",
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    }
    return found | ({"subresource": subresource} if subresource else {})


IMAGE_FIELDS: dict[str, Any] = {"f:spec": {"f:template": {"f:spec": {"f:containers": {}}}}}
REPLICAS_FIELDS: dict[str, Any] = {"f:spec": {"f:replicas": {}}}
APPLIED_FIELDS: dict[str, Any] = {"f:spec": {"f:replicas": {}, "f:template": {"f:metadata": {}}}}


def test_an_image_change_is_told_per_container() -> None:
    before = template_print(template("nginx:1.25", sidecar="envoy:1.30"))
    after = template_print(template("nginx:1.26", sidecar="envoy:1.30"))
    diff = diff_templates(before, after)
    assert diff.images == (("web", "nginx:1.25", "nginx:1.26"),)
    assert (diff.env, diff.resources, diff.fields) == ((), (), ())


def test_added_and_removed_containers_have_no_image_on_one_side() -> None:
    diff = diff_templates(template_print(template()), template_print(template(sidecar="e:1")))
    assert diff.images == (("proxy", None, "e:1"),)
    back = diff_templates(template_print(template(sidecar="e:1")), template_print(template()))
    assert back.images == (("proxy", "e:1", None),)


def test_env_changes_are_named_and_their_values_are_never_kept() -> None:
    before = template_print(template(env={"DB_PASSWORD": SECRET, "MODE": "a", "GONE": "x"}))
    after = template_print(template(env={"DB_PASSWORD": SECRET + "2", "MODE": "a", "NEW": "y"}))
    diff = diff_templates(before, after)
    assert diff.env == (("web", ("DB_PASSWORD", "GONE", "NEW")),)
    for kept in (before, after):
        assert SECRET not in repr(kept)
        assert SECRET.encode() not in kept.digests


def test_resources_and_other_fields_are_named() -> None:
    before = template_print(template(labels={"app": "web", "pod-template-hash": "a1"}))
    after = template_print(
        template(
            memory="256Mi",
            labels={"app": "web", "tier": "front", "pod-template-hash": "b2"},
            volumes=[{"name": "data"}],
        )
    )
    diff = diff_templates(before, after)
    assert diff.resources == ("web",)
    # The pod-template-hash the deployment controller writes is no one's change.
    assert diff.fields == ("metadata.labels[tier]", "spec.volumes")


def test_the_template_writer_of_a_revision_is_the_newest_before_it_started() -> None:
    metadata = {
        "managedFields": [
            entry("kubectl-client-side-apply", T0, APPLIED_FIELDS),
            entry("kubectl-set", T0 + timedelta(minutes=5), IMAGE_FIELDS),
            entry("kube-controller-manager", T0 + timedelta(minutes=9), {"f:status": {}}, "status"),
            entry("kubectl", T0 + timedelta(minutes=9), REPLICAS_FIELDS, "scale"),
            entry("helm", T0 + timedelta(minutes=20), IMAGE_FIELDS),
        ]
    }
    writers = template_writers(metadata)
    assert [w.manager for w in writers] == ["helm", "kubectl-set", "kubectl-client-side-apply"]
    assert author(writers, T0 + timedelta(minutes=5)) == "kubectl-set"
    assert author(writers, T0 + timedelta(minutes=21)) == "helm"
    assert author(writers, T0) == "kubectl-client-side-apply"
    assert author(writers, T0 - timedelta(minutes=1)) is None


def test_writers_in_the_same_second_are_told_apart_by_the_image_each_owns() -> None:
    # An apply and a `kubectl set image` a moment later: managedFields times are whole
    # seconds, so both read T0, and the apply happens to be listed first.
    owns_image: dict[str, Any] = {
        "f:spec": {"f:template": {"f:spec": {"f:containers": {
            'k:{"name":"app"}': {"f:image": {}}}}}}
    }  # fmt: skip
    owns_env: dict[str, Any] = {
        "f:spec": {"f:template": {"f:spec": {"f:containers": {
            'k:{"name":"app"}': {".": {}, "f:env": {}, "f:name": {}}}}}}
    }  # fmt: skip
    metadata = {
        "managedFields": [
            entry("kubectl-client-side-apply", T0, owns_env),
            entry("kubectl-set", T0, owns_image),
        ]
    }
    writers = template_writers(metadata)
    assert [w.images for w in writers] == [(), ("app",)]
    assert author(writers, T0, ("app",)) == "kubectl-set"
    # A change that is not an image's: the newest writer, as before.
    assert author(writers, T0) == "kubectl-client-side-apply"
    assert author(writers, T0, ("sidecar",)) == "kubectl-client-side-apply"


@pytest.mark.parametrize(
    ("labels", "annotations", "expected"),
    [
        ({}, {"argocd.argoproj.io/tracking-id": "shop-web:apps/Deployment:shop/web"},
         {"tool": "argocd", "application": "shop-web"}),
        ({"kustomize.toolkit.fluxcd.io/name": "apps",
          "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}, {},
         {"tool": "flux", "kind": "Kustomization", "name": "apps", "namespace": "flux-system"}),
        ({"helm.toolkit.fluxcd.io/name": "web", "helm.toolkit.fluxcd.io/namespace": "shop"},
         {"meta.helm.sh/release-name": "web"},
         {"tool": "flux", "kind": "HelmRelease", "name": "web", "namespace": "shop"}),
        ({"app.kubernetes.io/instance": "web"},
         {"meta.helm.sh/release-name": "web", "meta.helm.sh/release-namespace": "shop"},
         {"tool": "helm", "release": "web", "namespace": "shop"}),
        ({"app.kubernetes.io/instance": "shop-web"}, {},
         {"tool": "argocd", "application": "shop-web"}),
        ({"app": "web"}, {}, {}),
    ],
)  # fmt: skip
def test_the_gitops_source_is_read_from_labels_and_annotations(
    labels: dict[str, str], annotations: dict[str, str], expected: dict[str, str]
) -> None:
    assert change_source(labels, annotations) == expected


class Workload:
    def __init__(self, writers: tuple[FieldWriter, ...], **annotations: str) -> None:
        self.labels = {"app.kubernetes.io/instance": "shop-web"}
        self.annotations = annotations
        self.template_writers = writers


def test_a_revision_change_says_who_what_and_why_in_custom_data_and_in_short() -> None:
    writers = (FieldWriter("argocd-controller", "", T0),)
    change = revision_change(
        Workload(writers),
        T0 + timedelta(seconds=1),
        template_print(template("nginx:1.25", env={"TOKEN": SECRET})),
        template_print(template("nginx:1.26", env={"TOKEN": SECRET + "!"})),
        {"kubernetes.io/change-cause": "bump nginx"},
    )
    assert change.custom_data() == {
        "changedBy": "argocd-controller",
        "changeCause": "bump nginx",
        "changeSource": {"tool": "argocd", "application": "shop-web"},
        "imageChanges": [{"container": "web", "from": "nginx:1.25", "to": "nginx:1.26"}],
        "changedEnv": {"web": ["TOKEN"]},
    }
    assert change.summary() == (
        "changed by argocd-controller via Argo CD application shop-web: "
        "nginx:1.25 -> nginx:1.26; env of web: TOKEN (bump nginx)"
    )
    assert SECRET not in repr(change)


def test_without_the_revision_before_only_who_is_told() -> None:
    change = revision_change(Workload(()), T0, None, template_print(template()))
    assert change.custom_data() == {"changeSource": {"tool": "argocd", "application": "shop-web"}}
    assert change.summary() == "changed via Argo CD application shop-web"
    assert ChangeDetails().summary() is None
    assert ChangeDetails().custom_data() == {}


def test_long_lists_are_bounded() -> None:
    env = {f"VAR_{i:02}": "1" for i in range(30)}
    before = template_print(template(env=env))
    after = template_print(template(env=dict.fromkeys(env, "2")))
    change = ChangeDetails(diff=diff_templates(before, after))
    names = change.custom_data()["changedEnv"]["web"]
    assert len(names) == 21
    assert names[-1] == "... 10 more"
