"""``cortex-events check``: how many workloads each source of mapping maps.

Each workload the check listed (every watched kind, and the Pods that belong to no workload:
the others follow their owners) is resolved as the operator resolves it, with the tag
annotation, the CortexEntities and, where ``CORTEX_MAPPING`` asks for it, Cortex's catalog read
once. One row per source with its count, and one for the workloads no source maps.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from cortex_events.config.settings import Settings
from cortex_events.controllers.catalog import read_catalog
from cortex_events.cortex.client import CortexClient
from cortex_events.cortex.errors import CortexError
from cortex_events.domain.catalog import CatalogIndex, Source, describe_sources
from cortex_events.domain.mapping import resolve
from cortex_events.domain.specs import EntitySpec, parse_entity

Listed = tuple[str, Mapping[str, Any]]  # (kind, metadata)


class Row(Protocol):
    def __call__(self, check: str, ok: bool | None, detail: str) -> Any: ...


def count_sources(
    workloads: Iterable[Listed],
    entities: Iterable[Mapping[str, Any]],
    catalog: CatalogIndex | None,
    tag_annotation: str,
) -> tuple[dict[str, int], int]:
    """Workloads mapped by each source (a workload counts under each that maps it), and how
    many no source maps (opted-out ones left out)."""
    specs = [s for raw in entities if isinstance(s := parse_entity(raw), EntitySpec)]
    counts = dict.fromkeys(("annotation", "CortexEntity", *Source), 0)
    unmapped = 0
    for kind, metadata in workloads:
        if kind == "Pod" and metadata.get("ownerReferences"):
            continue  # a workload's Pod: it follows its owner
        namespace = str(metadata.get("namespace") or "default")
        resolution = resolve(
            kind,
            namespace,
            str(metadata.get("name") or ""),
            _strings(metadata.get("labels")),
            _strings(metadata.get("annotations")),
            owner=None,
            entities=[s for s in specs if s.namespace == namespace],
            catalog=catalog,
            tag_annotation=tag_annotation,
        )
        for source in resolution.via:
            counts[source] += 1
        if not resolution.targets and not resolution.disabled:
            unmapped += 1
    return counts, unmapped


def _strings(value: object) -> dict[str, str]:
    items = value.items() if isinstance(value, Mapping) else ()
    return {k: v for k, v in items if isinstance(k, str) and isinstance(v, str)}


def _workloads(count: int) -> str:
    return f"{count} workload" + ("" if count == 1 else "s")


async def mapping_rows(
    settings: Settings,
    workloads: Sequence[Listed],
    entities: Sequence[Mapping[str, Any]],
    row: Row,
) -> list[Any]:
    """The check's rows: Cortex's catalog read (where configured), then each source's count."""
    rows: list[Any] = []
    catalog: CatalogIndex | None = None
    config = settings.mapping_config
    if settings.mapping:
        if settings.api_key is None:
            rows.append(row("Cortex's catalog", None, "no key to read it with"))
        else:
            async with CortexClient(
                settings.base_url, settings.api_key, per_minute=settings.rate_limit, max_retries=1
            ) as client:
                try:
                    catalog, problems = await read_catalog(client, config)
                except CortexError as error:
                    rows.append(row("Cortex's catalog", False, f"cannot read it: {error}"))
                else:
                    counts = catalog.counts()
                    detail = (
                        f"{describe_sources(config)}: {counts['entities']} entities, "
                        f"{counts['items']} x-cortex-k8s items for cluster {config.cluster!r}"
                    )
                    rows.append(row("Cortex's catalog", True, detail))
                    rows += [row("Cortex's catalog", None, problem) for problem in problems[:5]]
    counts, unmapped = count_sources(workloads, entities, catalog, settings.tag_annotation)
    names = {
        "annotation": settings.tag_annotation,
        "CortexEntity": "CortexEntity",
        Source.DESCRIPTOR: "x-cortex-k8s (descriptor)",
        Source.LABELS: f"labels ({', '.join(settings.mapping_label_keys)})",
        Source.NAME: "name",
    }
    for source, name in names.items():
        if source in ("annotation", "CortexEntity") or (catalog and source in settings.mapping):
            rows.append(row(f"Mapped by {name}", True, _workloads(counts[source])))
    rows.append(row("Mapped by nothing", True, _workloads(unmapped)))
    return rows
