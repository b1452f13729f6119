"""Mapping from Cortex's catalog: descriptors' x-cortex-k8s blocks, label keys, names, and the
order in which they combine with annotations and CortexEntities."""

from __future__ import annotations

from typing import Any

import pytest

from cortex_events.domain.catalog import (
    CatalogEntity,
    CatalogIndex,
    K8sItem,
    MappingConfig,
    Source,
    build_index,
    parse_sources,
    read_descriptor,
    read_entity,
)
from cortex_events.domain.mapping import OwnerInfo, Resolution, resolve
from cortex_events.domain.model import ALL_EVENT_TYPES
from cortex_events.domain.specs import EntitySpec, parse_entity

ALL = frozenset(Source)


def descriptor(tag: str, k8s: Any = None, *, top_level: bool = False) -> dict[str, Any]:
    info: dict[str, Any] = {"title": tag, "x-cortex-tag": tag}
    if k8s is not None:
        info["x-cortex-k8s"] = k8s
    return {"openapi": "3.0.1", **info} if top_level else {"openapi": "3.0.1", "info": info}


def index(
    descriptors: list[dict[str, Any]],
    entities: list[str] | None = None,
    *,
    sources: frozenset[Source] = ALL,
    label_keys: tuple[str, ...] = ("app",),
    cluster: str = "prod",
    archived: tuple[str, ...] = (),
) -> CatalogIndex:
    read = [d for raw in descriptors if (d := read_descriptor(raw)[0]) is not None]
    listed = None
    if entities is not None:
        listed = [CatalogEntity(tag, tag in archived) for tag in entities]
    return build_index(MappingConfig(sources, label_keys, cluster), read, listed)


def tags(resolution: Resolution) -> list[str]:
    return [t.tag for t in resolution.targets]


def resolve_deployment(
    catalog: CatalogIndex | None,
    name: str = "web",
    *,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    entities: list[EntitySpec] | None = None,
    namespace: str = "shop",
) -> Resolution:
    return resolve(
        "Deployment",
        namespace,
        name,
        labels or {},
        annotations or {},
        owner=None,
        entities=entities or [],
        catalog=catalog,
    )


def test_a_descriptor_block_is_read_by_kind_namespace_name_and_cluster() -> None:
    found, problems = read_descriptor(
        descriptor(
            "payments",
            {
                "deployment": [{"identifier": "shop/payments", "cluster": "prod"}],
                "statefulset": [{"identifier": "shop/ledger"}],
                "cronjob": [{"identifier": "nightly", "cluster": "dev"}],
                "argorollout": [{"identifier": "shop/payments-canary"}],
            },
        )
    )
    assert problems == []
    assert found is not None
    assert found.tag == "payments"
    assert found.has_k8s_block
    assert found.items == (
        K8sItem("Deployment", "shop", "payments", "prod"),
        K8sItem("StatefulSet", "shop", "ledger", None),
        K8sItem("CronJob", None, "nightly", "dev"),
        K8sItem("Rollout", "shop", "payments-canary", None),
    )


def test_descriptor_fields_at_the_top_level_are_read_too() -> None:
    block = {"statefulset": [{"identifier": "data/db"}]}
    found, _ = read_descriptor(descriptor("db", block, top_level=True))
    assert found is not None
    assert found.items == (K8sItem("StatefulSet", "data", "db", None),)


@pytest.mark.parametrize(
    "item",
    [{}, {"identifier": ""}, {"identifier": "a/b/c"}, {"identifier": "/web"}, "shop/web", 3],
)
def test_an_unusable_item_is_reported_and_the_others_still_count(item: object) -> None:
    found, problems = read_descriptor(
        descriptor("web", {"deployment": [item, {"identifier": "shop/web"}]})
    )
    assert found is not None
    assert found.items == (K8sItem("Deployment", "shop", "web", None),)
    assert len(problems) == 1
    assert "web: x-cortex-k8s.deployment item" in problems[0]
    assert "namespace/name" in problems[0]


def test_a_descriptor_without_a_usable_tag_is_skipped_with_a_reason() -> None:
    assert read_descriptor({"info": {"title": "no tag"}}) == (None, [])
    found, problems = read_descriptor(descriptor("team/svc"))
    assert found is None
    assert "not a Cortex tag" in problems[0]


def test_the_items_of_one_entity_are_bounded() -> None:
    many = [{"identifier": f"shop/w{i}"} for i in range(250)]
    found, problems = read_descriptor(descriptor("web", {"deployment": many}))
    assert found is not None
    assert len(found.items) == 200
    assert problems == ["web: x-cortex-k8s lists more than 200 items"]


def test_the_entity_list_reads_tags_and_archived() -> None:
    assert read_entity({"tag": "web", "isArchived": True}) == CatalogEntity("web", True)
    assert read_entity({"tag": "web"}) == CatalogEntity("web", False)
    assert read_entity({"name": "no tag"}) is None


def test_a_deployment_named_in_a_block_maps_only_for_this_cluster() -> None:
    catalog = index(
        [
            descriptor("payments", {"deployment": [{"identifier": "shop/web", "cluster": "prod"}]}),
            descriptor("staging", {"deployment": [{"identifier": "shop/web", "cluster": "dev"}]}),
            descriptor("any", {"deployment": [{"identifier": "shop/web"}]}),
            descriptor("db", {"statefulset": [{"identifier": "shop/web"}]}),
        ],
        sources=frozenset({Source.DESCRIPTOR}),
    )
    resolution = resolve_deployment(catalog)
    assert tags(resolution) == ["any", "payments"]
    assert all(t.event_types == ALL_EVENT_TYPES and t.entities == () for t in resolution.targets)
    assert "x-cortex-k8s of 'payments'" in resolution.reason
    assert resolve_deployment(catalog, namespace="other").targets == ()


def test_an_identifier_without_namespace_names_the_workload_in_every_namespace() -> None:
    catalog = index([descriptor("web", {"deployment": [{"identifier": "web"}]})])
    assert tags(resolve_deployment(catalog, namespace="a")) == ["web"]
    assert tags(resolve_deployment(catalog, namespace="b")) == ["web"]


def test_a_pod_maps_through_the_deployment_a_block_names() -> None:
    catalog = index([descriptor("payments", {"deployment": [{"identifier": "shop/web"}]})])
    owner = OwnerInfo("web", "uid-1", {"app": "web"}, {})
    resolution = resolve(
        "Pod", "shop", "web-6d9f-x2", {}, {}, owner=owner, entities=[], catalog=catalog
    )
    assert tags(resolution) == ["payments"]


def test_labels_map_only_to_existing_entities_and_only_the_configured_keys() -> None:
    catalog = index(
        [],
        ["payments", "api"],
        sources=frozenset({Source.LABELS}),
        label_keys=("app", "team"),
    )
    labelled = {"app": "payments", "team": "ghost", "tier": "api"}
    assert tags(resolve_deployment(catalog, "web", labels=labelled)) == ["payments"]
    assert "label app of Deployment web" in resolve_deployment(catalog, labels=labelled).reason


def test_a_name_maps_to_an_existing_entity_without_a_k8s_block() -> None:
    catalog = index(
        [descriptor("web"), descriptor("api", {"deployment": [{"identifier": "shop/api-v2"}]})],
        ["web", "api", "old"],
        sources=frozenset({Source.NAME}),
        archived=("old",),
    )
    assert tags(resolve_deployment(catalog, "web")) == ["web"]
    # api's block overrides the guess by name, as in Cortex; an archived entity maps nothing.
    assert resolve_deployment(catalog, "api").targets == ()
    assert resolve_deployment(catalog, "old").targets == ()
    assert resolve_deployment(catalog, "unknown").targets == ()


def test_a_pod_is_not_mapped_by_its_own_name() -> None:
    catalog = index([], ["web-6d9f-x2"], sources=frozenset({Source.NAME}))
    pod = resolve("Pod", "shop", "web-6d9f-x2", {}, {}, owner=None, entities=[], catalog=catalog)
    assert pod.targets == ()
    assert tags(resolve_deployment(catalog, "web-6d9f-x2")) == ["web-6d9f-x2"]


def test_explicit_sources_combine_and_the_guesses_count_only_where_none_maps() -> None:
    catalog = index(
        [descriptor("from-block", {"deployment": [{"identifier": "shop/web"}]})],
        ["from-block", "from-label", "web"],
    )
    labels = {"app": "from-label"}
    # The block and the annotation both contribute; label and name are not asked.
    both = resolve_deployment(catalog, labels=labels, annotations={"cortex.io/tag": "annotated"})
    assert tags(both) == ["annotated", "from-block"]
    # A CortexEntity is explicit too.
    spec = parse_entity(
        {"metadata": {"name": "e", "namespace": "shop"}, "spec": {"tag": "entity", "selector": {}}}
    )
    assert isinstance(spec, EntitySpec)
    without_block = index([], ["from-label", "web"])
    assert tags(resolve_deployment(without_block, labels=labels, entities=[spec])) == ["entity"]
    # Nothing explicit: the label first, then the name.
    assert tags(resolve_deployment(without_block, labels=labels)) == ["from-label"]
    assert tags(resolve_deployment(without_block)) == ["web"]


def test_a_disabled_workload_stays_off_whatever_the_catalog_says() -> None:
    catalog = index([descriptor("web", {"deployment": [{"identifier": "shop/web"}]})])
    resolution = resolve_deployment(catalog, annotations={"cortex.io/events": "disabled"})
    assert resolution.disabled
    assert resolution.targets == ()


def test_a_custom_tag_annotation_replaces_cortex_io_tag() -> None:
    resolution = resolve(
        "Deployment",
        "shop",
        "web",
        {},
        {"example.com/entity": "web", "cortex.io/tag": "ignored"},
        owner=None,
        entities=[],
        tag_annotation="example.com/entity",
    )
    assert tags(resolution) == ["web"]
    annotation_name = "example.com/entity"
    annotation = {annotation_name: " "}
    empty = resolve(
        "Pod", "shop", "p", {}, annotation, owner=None, entities=[], tag_annotation=annotation_name
    )
    assert (
        empty.tag_issues[0].describe() == "example.com/entity is empty: it names no Cortex entity"
    )


def test_only_the_configured_sources_map() -> None:
    catalog = index(
        [descriptor("block", {"deployment": [{"identifier": "shop/web"}]})],
        ["block", "web", "label"],
        sources=frozenset({Source.NAME}),
    )
    assert tags(resolve_deployment(catalog, labels={"app": "label"})) == ["web"]


def test_without_the_entity_list_the_descriptors_say_what_exists() -> None:
    catalog = index([descriptor("web", {"deployment": [{"identifier": "shop/web"}]})], None)
    assert catalog.existing == frozenset({"web"})
    assert catalog.counts() == {"items": 1, "entities": 1, "named": 0}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("descriptor, labels", {Source.DESCRIPTOR, Source.LABELS}),
        ("NAME", {Source.NAME}),
        ("", set()),
        (["name"], {Source.NAME}),
    ],
)
def test_sources_are_parsed_from_a_comma_list(value: object, expected: set[Source]) -> None:
    assert parse_sources(value) == frozenset(expected)


def test_an_unknown_source_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown mapping source 'tags': use descriptor, labels"):
        parse_sources("descriptor,tags")


def test_a_refresh_reads_only_what_its_sources_need() -> None:
    assert MappingConfig(frozenset({Source.DESCRIPTOR})).reads_entities is False
    assert MappingConfig(frozenset({Source.LABELS})).reads_descriptors is False
    name = MappingConfig(frozenset({Source.NAME}))
    assert name.reads_descriptors
    assert name.reads_entities
