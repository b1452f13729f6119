"""Mapping workloads from Cortex's catalog, the way Cortex's own Kubernetes integration maps them.

Three sources, each turned on by the ``CORTEX_MAPPING`` setting:

* ``descriptor``: an entity's ``x-cortex-k8s`` block lists workloads by kind, as
  ``{identifier: namespace/name, cluster}`` under ``deployment``, ``statefulset``, ``cronjob`` and
  ``argorollout``. An item maps the workload of that kind, namespace and name when its
  ``cluster`` is this operator's cluster name (``CORTEX_CLUSTER_NAME``), or when it names no
  cluster. An identifier without a namespace (``web``) names that workload in every namespace.
* ``labels``: a workload (or a Pod) whose label under one of the configured keys has an
  existing entity's tag as its value maps to that entity.
* ``name``: a workload whose name is an existing entity's tag maps to it, unless that entity has
  an ``x-cortex-k8s`` block (the block overrides the guess by name, as in Cortex). Pods are not
  mapped by their own name (their generated names are no tags): they follow their owners.

`CatalogIndex` is what one refresh of the catalog yields; `build_index` makes it from the pages
Cortex answered. Everything here is pure: reading the pages is the controller's job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from cortex_events.domain.parsing import as_list, as_map, as_str
from cortex_events.domain.tags import tag_problem


class Source(StrEnum):
    """A source of mapping in Cortex's catalog (a value of ``CORTEX_MAPPING``)."""

    DESCRIPTOR = "descriptor"
    LABELS = "labels"
    NAME = "name"


DESCRIPTOR_KINDS: Mapping[str, str] = {
    "deployment": "Deployment",
    "statefulset": "StatefulSet",
    "cronjob": "CronJob",
    "argorollout": "Rollout",
}
"""The lists of an ``x-cortex-k8s`` block, and the kind each names."""
K8S_BLOCK = "x-cortex-k8s"
TAG_FIELD = "x-cortex-tag"

MAX_ITEMS_PER_ENTITY = 200
"""Items of one entity's ``x-cortex-k8s`` block read at most; the rest are reported, not used."""
MAX_IDENTIFIER = 317
"""``namespace/name``: a namespace (63) and a name (253) with their slash."""
MAX_CLUSTER = 253
MAX_LABEL_KEYS = 20


@dataclass(frozen=True, slots=True)
class K8sItem:
    """One item of an ``x-cortex-k8s`` block: a workload of ``kind`` named ``name`` in
    ``namespace`` (None: any namespace), on ``cluster`` (None: any cluster)."""

    kind: str
    namespace: str | None
    name: str
    cluster: str | None


@dataclass(frozen=True)
class Descriptor:
    """What mapping reads of one entity's descriptor: its tag, whether it has an
    ``x-cortex-k8s`` block, and the block's items."""

    tag: str
    has_k8s_block: bool
    items: tuple[K8sItem, ...]


@dataclass(frozen=True)
class MappingConfig:
    """Which catalog sources map, with what: ``label_keys`` for ``labels``; ``cluster`` to
    match the descriptors' items against."""

    sources: frozenset[Source] = frozenset()
    label_keys: tuple[str, ...] = ()
    cluster: str = "default"

    @property
    def reads_descriptors(self) -> bool:
        """Whether a refresh needs the descriptors (``descriptor`` mapping, or ``name``: an
        entity with an ``x-cortex-k8s`` block is not guessed by name)."""
        return bool(self.sources & {Source.DESCRIPTOR, Source.NAME})

    @property
    def reads_entities(self) -> bool:
        """Whether a refresh needs the list of entities (``labels`` and ``name`` map only to
        entities that exist, archived ones left out)."""
        return bool(self.sources & {Source.LABELS, Source.NAME})


def _text(value: object, limit: int) -> str | None:
    text = as_str(value)
    return text.strip() if text is not None and 0 < len(text.strip()) <= limit else None


def read_descriptor(raw: object) -> tuple[Descriptor | None, list[str]]:
    """One descriptor of ``GET /api/v1/catalog/descriptors`` (JSON: the entity's YAML as an
    object, its ``x-cortex-*`` fields under ``info`` or at the top), and what was wrong in it.
    None when it names no usable tag."""
    document = as_map(raw)
    info = as_map(document.get("info"))
    tag = as_str(info.get(TAG_FIELD)) or as_str(document.get(TAG_FIELD))
    if tag is None or tag_problem(tag) is not None:
        return None, ([f"a descriptor's {TAG_FIELD} {tag!r} is not a Cortex tag"] if tag else [])
    block_raw = info.get(K8S_BLOCK, document.get(K8S_BLOCK))
    if block_raw is None:
        return Descriptor(tag, False, ()), []
    problems: list[str] = []
    block = as_map(block_raw)
    if not block:
        problems.append(f"{tag}: {K8S_BLOCK} is not an object with lists of workloads")
    items: list[K8sItem] = []
    for key, kind in DESCRIPTOR_KINDS.items():
        for entry in as_list(block.get(key)):
            item = _item(kind, entry)
            if item is None:
                problems.append(
                    f"{tag}: {K8S_BLOCK}.{key} item {_shown(entry)} has no usable identifier "
                    "(namespace/name)"
                )
            elif len(items) >= MAX_ITEMS_PER_ENTITY:
                problems.append(f"{tag}: {K8S_BLOCK} lists more than {MAX_ITEMS_PER_ENTITY} items")
                break
            else:
                items.append(item)
    return Descriptor(tag, True, tuple(items)), problems


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _item(kind: str, raw: object) -> K8sItem | None:
    entry = as_map(raw)
    identifier = _text(entry.get("identifier"), MAX_IDENTIFIER)
    if identifier is None:
        return None
    namespace, slash, name = identifier.rpartition("/")
    if not name or "/" in namespace or (slash and not namespace):
        return None
    cluster = _text(entry.get("cluster"), MAX_CLUSTER)
    return K8sItem(kind, namespace or None, name, cluster)


@dataclass(frozen=True)
class CatalogEntity:
    """One entity of ``GET /api/v1/catalog``: its tag and whether it is archived."""

    tag: str
    archived: bool = False


def read_entity(raw: object) -> CatalogEntity | None:
    entry = as_map(raw)
    tag = as_str(entry.get("tag"))
    if tag is None or tag_problem(tag) is not None:
        return None
    return CatalogEntity(tag, entry.get("isArchived") is True)


WorkloadKey = tuple[str, str, str]  # (kind, namespace, name)


@dataclass(frozen=True)
class CatalogIndex:
    """What Cortex's catalog maps, as of one refresh (see the module documentation).

    ``by_workload`` and ``by_name`` hold the descriptors' items (``by_name`` those without a
    namespace); ``existing`` the tags that labels and names may map to; ``named`` those that
    a name maps to (existing, without an ``x-cortex-k8s`` block)."""

    config: MappingConfig
    by_workload: Mapping[WorkloadKey, tuple[str, ...]] = field(default_factory=dict)
    by_name: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    existing: frozenset[str] = frozenset()
    named: frozenset[str] = frozenset()

    def descriptor_tags(self, kind: str, namespace: str, name: str) -> tuple[str, ...]:
        """The entities whose ``x-cortex-k8s`` block names this workload."""
        if Source.DESCRIPTOR not in self.config.sources:
            return ()
        return self.by_workload.get((kind, namespace, name), ()) + self.by_name.get(
            (kind, name), ()
        )

    def label_tags(self, labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
        """(label key, tag) for each configured key whose value is an existing entity's tag."""
        if Source.LABELS not in self.config.sources:
            return ()
        return tuple(
            (key, value)
            for key in self.config.label_keys
            if (value := labels.get(key)) is not None and value in self.existing
        )

    def name_tag(self, kind: str, name: str) -> str | None:
        """The entity this workload's name guesses, if any (never for a Pod)."""
        if Source.NAME not in self.config.sources or kind == "Pod":
            return None
        return name if name in self.named else None

    def counts(self) -> dict[str, int]:
        """How many items, entities and names this index holds, for log lines."""
        return {
            "items": sum(len(tags) for tags in self.by_workload.values())
            + sum(len(tags) for tags in self.by_name.values()),
            "entities": len(self.existing),
            "named": len(self.named),
        }


def build_index(
    config: MappingConfig,
    descriptors: Iterable[Descriptor],
    entities: Iterable[CatalogEntity] | None,
) -> CatalogIndex:
    """The index of one refresh. ``entities`` is None where the list of entities was not read
    (``descriptor`` mapping alone): every descriptor's entity then counts as existing."""
    described = list(descriptors)
    if entities is None:
        existing = frozenset(d.tag for d in described)
    else:
        existing = frozenset(e.tag for e in entities if not e.archived)
    by_workload: dict[WorkloadKey, list[str]] = {}
    by_name: dict[tuple[str, str], list[str]] = {}
    with_block: set[str] = set()
    for descriptor in described:
        if descriptor.has_k8s_block:
            with_block.add(descriptor.tag)
        if descriptor.tag not in existing:
            continue  # archived, or gone between the two listings
        for item in descriptor.items:
            if item.cluster is not None and item.cluster != config.cluster:
                continue
            if item.namespace is None:
                found = by_name.setdefault((item.kind, item.name), [])
            else:
                found = by_workload.setdefault((item.kind, item.namespace, item.name), [])
            if descriptor.tag not in found:
                found.append(descriptor.tag)
    return CatalogIndex(
        config=config,
        by_workload={key: tuple(sorted(tags)) for key, tags in by_workload.items()},
        by_name={key: tuple(sorted(tags)) for key, tags in by_name.items()},
        existing=existing,
        named=existing - with_block,
    )


def describe_sources(config: MappingConfig) -> str:
    """``descriptor, labels (app, team), name``: what maps, for log lines."""
    parts = []
    for source in Source:
        if source in config.sources:
            keys = f" ({', '.join(config.label_keys)})" if source is Source.LABELS else ""
            parts.append(f"{source.value}{keys}")
    return ", ".join(parts) or "none"


def parse_sources(value: object) -> frozenset[Source]:
    """``descriptor,labels`` -> those sources; a ValueError names an unknown one."""
    if isinstance(value, (set, frozenset, tuple, list)):
        parts = [str(part) for part in value]
    else:
        parts = str(value or "").split(",")
    found: set[Source] = set()
    for part in parts:
        word = part.strip().lower()
        if not word:
            continue
        try:
            found.add(Source(word))
        except ValueError:
            known = ", ".join(s.value for s in Source)
            raise ValueError(f"unknown mapping source {part.strip()!r}: use {known}") from None
    return frozenset(found)
