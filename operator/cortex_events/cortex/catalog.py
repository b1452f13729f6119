"""The catalog operations of `cortex_events.cortex.client.CortexClient`: the descriptors and the
list of entities, read page by page, for mapping workloads from Cortex's catalog.

Both are paged (``page`` from 0 and ``pageSize`` are required); requests go through the client's
``_request``: the same rate limiter, retries and fence as every other request. They only read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from cortex_events.cortex.wire import MAX_PAGE_SIZE, check_page, parse, walk_pages

DESCRIPTORS_PATH = "/api/v1/catalog/descriptors"
ENTITIES_PATH = "/api/v1/catalog"
DESCRIPTOR_PAGE_SIZE = 250
"""Descriptors per page: whole entity descriptors are large, and Cortex documents no maximum
for this list (250 is its default page size elsewhere)."""
ENTITY_PAGE_SIZE = MAX_PAGE_SIZE
"""Entities per page: Cortex's maximum (1000) for the list of entities."""

_READ = ConfigDict(extra="allow", alias_generator=to_camel, populate_by_name=True, frozen=True)


class DescriptorPage(BaseModel):
    """One page of ``GET /api/v1/catalog/descriptors``: each descriptor as a JSON object."""

    model_config = _READ

    descriptors: list[Any]
    page: int
    total: int
    total_pages: int


class EntityPage(BaseModel):
    """One page of ``GET /api/v1/catalog``: each entity's summary (``tag``, ``isArchived``,
    ...) as a JSON object."""

    model_config = _READ

    entities: list[Any]
    page: int
    total: int
    total_pages: int


class CatalogOperations:
    """Mixed into the client, which provides ``_request`` (rate limit, retries, fence)."""

    _request: Callable[..., Awaitable[Any]]

    async def list_descriptors(
        self, *, page: int = 0, page_size: int = DESCRIPTOR_PAGE_SIZE
    ) -> DescriptorPage:
        """One page of entity descriptors, as JSON (``yaml=false``)."""
        check_page(page, page_size)
        params = {"page": str(page), "pageSize": str(page_size), "yaml": "false"}
        body = await self._request("GET", DESCRIPTORS_PATH, params=params)
        return parse(DescriptorPage, body, "GET", DESCRIPTORS_PATH)

    async def iter_descriptors(
        self, *, page_size: int = DESCRIPTOR_PAGE_SIZE
    ) -> AsyncIterator[Any]:
        """Every descriptor, page by page from page 0."""

        async def fetch(page: int) -> tuple[list[Any], int]:
            result = await self.list_descriptors(page=page, page_size=page_size)
            return result.descriptors, result.total_pages

        async for descriptor in walk_pages(fetch):
            yield descriptor

    async def list_entities(
        self, *, page: int = 0, page_size: int = ENTITY_PAGE_SIZE
    ) -> EntityPage:
        """One page of the catalog's entities (services, resources and domains; archived ones
        left out, as Cortex does by default)."""
        check_page(page, page_size)
        params = {"page": str(page), "pageSize": str(page_size)}
        body = await self._request("GET", ENTITIES_PATH, params=params)
        return parse(EntityPage, body, "GET", ENTITIES_PATH)

    async def iter_entities(self, *, page_size: int = ENTITY_PAGE_SIZE) -> AsyncIterator[Any]:
        """Every entity of the catalog, page by page from page 0."""

        async def fetch(page: int) -> tuple[list[Any], int]:
            result = await self.list_entities(page=page, page_size=page_size)
            return result.entities, result.total_pages

        async for entity in walk_pages(fetch):
            yield entity
