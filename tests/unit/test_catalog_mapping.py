"""Cortex's catalog as a source of mapping, in the recorder: read by `CatalogMapping`, applied to
the workloads already known, changed without a restart, kept when Cortex cannot be read."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from cortex_events.controllers.catalog import CatalogMapping, MappingOptions
from cortex_events.controllers.entity_status import EntityActivity
from cortex_events.controllers.recorder import Recorder
from cortex_events.cortex.errors import CortexServerError
from cortex_events.domain.catalog import MappingConfig, Source
from cortex_events.domain.mapping import TagIssue
from cortex_events.domain.model import WorkloadRef
from cortex_events.domain.tags import describe_bad_tag
from cortex_events.ops.observability import Metrics, OperatorListener
from tests.unit.test_recorder import NOW, Collector, deployment, pod, replicaset


class FakeCatalog:
    """A reader of Cortex's catalog: descriptors and entities as given, or a failure."""

    def __init__(self, descriptors: list[dict[str, Any]], entities: list[str]) -> None:
        self.descriptors = descriptors
        self.entities = entities
        self.reads = 0
        self.failing = False

    async def _items(self, items: list[Any]) -> AsyncIterator[Any]:
        self.reads += 1
        if self.failing:
            raise CortexServerError("Cortex answered 503", status_code=503)
        for item in items:
            yield item

    def iter_descriptors(self) -> AsyncIterator[Any]:
        return self._items(self.descriptors)

    def iter_entities(self) -> AsyncIterator[Any]:
        return self._items([{"tag": tag, "isArchived": False} for tag in self.entities])


def block(tag: str, *identifiers: str, cluster: str | None = "test") -> dict[str, Any]:
    items = [{"identifier": i, **({"cluster": cluster} if cluster else {})} for i in identifiers]
    return {"info": {"x-cortex-tag": tag, "x-cortex-k8s": {"deployment": items}}}


def make(
    reader: FakeCatalog,
    *sources: Source,
    label_keys: tuple[str, ...] = (),
    tag_annotation: str = "cortex.io/tag",
    leading: Callable[[], bool] = lambda: True,
) -> tuple[Recorder, Collector, CatalogMapping]:
    collector = Collector()
    recorder: Recorder | None = None

    def reevaluate(namespace: str) -> None:
        assert recorder is not None
        recorder.request_reevaluation(namespace, delay=0)

    catalog = CatalogMapping(
        reader,
        MappingConfig(frozenset(sources), label_keys, "test"),
        reevaluate=reevaluate,
        namespaces=lambda: recorder.index.namespaces() if recorder else (),
        leading=leading,
    )
    recorder = Recorder(
        collector,
        collector.store,
        cluster="test",
        skips=collector,
        clock=lambda: NOW,
        mapping=MappingOptions(tag_annotation, catalog),
    )
    return recorder, collector, catalog


async def until(check: Callable[[], bool], what: str) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


async def seed(recorder: Recorder, labels: dict[str, str] | None = None) -> None:
    await recorder.changed("ReplicaSet", replicaset(), None)
    await recorder.changed("Deployment", deployment(labels=labels), None)
    await recorder.changed("Pod", pod(owner_rs="web-5d8f"), None)


async def test_a_deployment_named_in_a_block_gets_its_events_with_no_annotation() -> None:
    reader = FakeCatalog([block("payments", "shop/web")], [])
    recorder, out, catalog = make(reader, Source.DESCRIPTOR)
    await seed(recorder)
    assert out.items == [], "nothing maps before the catalog is read"
    assert await catalog.refresh() is True
    await until(lambda: len(out.items) == 2, "the Deployment and its Pod mapped")
    assert sorted(out.pairs()) == [
        ("payments", "DEPLOYMENT_CREATION"),
        ("payments", "POD_CREATION"),
    ]
    assert reader.reads == 1, "descriptor mapping alone does not read the entity list"


async def test_a_block_for_another_cluster_maps_nothing() -> None:
    reader = FakeCatalog([block("payments", "shop/web", cluster="other")], [])
    recorder, out, catalog = make(reader, Source.DESCRIPTOR)
    await seed(recorder)
    await catalog.refresh()
    await recorder.reevaluate_namespace("shop")
    assert out.items == []


async def test_a_change_in_cortex_applies_without_a_restart() -> None:
    reader = FakeCatalog([block("payments", "shop/other")], [])
    recorder, out, catalog = make(reader, Source.DESCRIPTOR)
    await seed(recorder)
    await catalog.refresh()
    await recorder.reevaluate_namespace("shop")
    assert out.items == []
    reader.descriptors = [block("payments", "shop/web")]
    assert await catalog.refresh() is True
    await until(lambda: len(out.items) == 2, "the moved block applied")
    assert {item.tag for item in out.items} == {"payments"}
    assert await catalog.refresh() is False, "an unchanged catalog maps nothing again"


async def test_labels_and_names_map_to_the_entities_cortex_has() -> None:
    reader = FakeCatalog([], ["payments", "web"])
    recorder, out, catalog = make(reader, Source.LABELS, label_keys=("team",))
    await seed(recorder, labels={"team": "payments"})
    await catalog.refresh()
    await until(lambda: len(out.items) == 2, "the label mapped the Deployment and its Pod")
    assert sorted(out.pairs()) == [
        ("payments", "DEPLOYMENT_CREATION"),
        ("payments", "POD_CREATION"),
    ]

    by_name, named, name_catalog = make(FakeCatalog([], ["web"]), Source.NAME)
    await seed(by_name)
    await name_catalog.refresh()
    await until(lambda: len(named.items) == 2, "the name mapped the Deployment and its Pod")
    assert {item.tag for item in named.items} == {"web"}


async def test_a_failed_read_keeps_the_last_mapping_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reader = FakeCatalog([block("payments", "shop/web")], [])
    recorder, out, catalog = make(reader, Source.DESCRIPTOR)
    await catalog.refresh()
    reader.failing = True
    with caplog.at_level(logging.WARNING, "cortex_events.catalog"):
        assert await catalog.refresh() is False
        assert await catalog.refresh() is False
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith("Cannot read Cortex's catalog (")
    assert "mapping from it stays as last read" in warnings[0]
    await seed(recorder)
    assert ("payments", "DEPLOYMENT_CREATION") in out.pairs()


async def test_a_standby_reads_nothing_until_it_leads() -> None:
    leads = False
    reader = FakeCatalog([block("payments", "shop/web")], [])
    _, _, catalog = make(reader, Source.DESCRIPTOR, leading=lambda: leads)
    task = asyncio.create_task(catalog.run())
    try:
        await asyncio.sleep(0.05)
        assert reader.reads == 0
        leads = True
        catalog.refresh_soon()
        await until(lambda: catalog.index is not None, "the new leader read the catalog")
        assert reader.reads == 1
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_custom_tag_annotation_maps_pods_and_deployments() -> None:
    recorder, out, _ = make(FakeCatalog([], []), tag_annotation="example.com/entity")
    await recorder.changed("Pod", pod(annotations={"example.com/entity": "web"}), None)
    await recorder.changed(
        "Deployment",
        deployment(annotations={"example.com/entity": "api", "cortex.io/tag": "ignored"}),
        None,
    )
    assert out.pairs() == [("web", "POD_CREATION"), ("api", "DEPLOYMENT_CREATION")]


def test_a_bad_value_of_a_custom_tag_annotation_is_told_under_its_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    posted: list[str] = []
    listener = OperatorListener(
        Metrics(), EntityActivity(), lambda _, reason, message: posted.append(message)
    )
    problems = (describe_bad_tag("team/svc", "it contains a slash"),)
    issue = TagIssue(False, "team/svc", problems, None, "example.com/entity")
    with caplog.at_level(logging.WARNING, "cortex_events"):
        listener.tag_issue(WorkloadRef("Pod", "shop", "web-1", "u1"), issue)
    assert posted[0].startswith("example.com/entity on Pod shop/web-1: 'team/svc' is not a")
    assert "cortex.io/tag" not in posted[0]
