"""The Deploys API operations of `cortex_events.cortex.api.CortexApi`.

Only the per-entity operations: the deletes across every entity (``DELETE
/api/v1/catalog/deploys`` and ``.../deploys/all``) are not here, and an entity's filtered
delete needs at least one filter, since without one it deletes every deploy of the entity.
Requests go through the surface's one ``_request``: the leadership gate, then (in the client)
the same rate limiter and retries; a create is retried only where Cortex surely did not act on
it, as for custom events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from cortex_events.cortex.models import Deploy, DeployPage, DeployRequest
from cortex_events.cortex.wire import (
    MAX_PAGE_SIZE,
    check_page,
    deploy_filters,
    deploy_path,
    deploys_path,
    parse,
    walk_pages,
)


class DeployOperations:
    """Mixed into `CortexApi`, which provides ``_request`` (the gate, then the exchange)."""

    _request: Callable[..., Awaitable[Any]]

    async def list_deploys(self, tag: str, *, page: int = 0, page_size: int = 250) -> DeployPage:
        """One page of the entity's deploys (the API has no filters)."""
        check_page(page, page_size)
        path = deploys_path(tag)
        params = {"page": str(page), "pageSize": str(page_size)}
        return parse(DeployPage, await self._request("GET", path, params=params), "GET", path)

    async def iter_deploys(
        self, tag: str, *, page_size: int = MAX_PAGE_SIZE
    ) -> AsyncIterator[Deploy]:
        """Every deploy of the entity, page by page from page 0 (see `iter_events` on pages
        that shift during the walk)."""

        async def fetch(page: int) -> tuple[list[Deploy], int]:
            result = await self.list_deploys(tag, page=page, page_size=page_size)
            return result.deployments, result.total_pages

        async for deploy in walk_pages(fetch):
            yield deploy

    async def create_deploy(self, tag: str, deploy: DeployRequest) -> Deploy:
        """Record a new deploy; retried like `create_event` (never once Cortex may have it)."""
        return await self._send_deploy("POST", deploys_path(tag), deploy)

    async def update_deploy(self, tag: str, uuid: str, deploy: DeployRequest) -> Deploy:
        """Replace a deploy's content (PUT)."""
        return await self._send_deploy("PUT", deploy_path(tag, uuid), deploy)

    async def _send_deploy(self, method: str, path: str, deploy: DeployRequest) -> Deploy:
        return parse(Deploy, await self._request(method, path, json=deploy.to_json()), method, path)

    async def delete_deploy(self, tag: str, uuid: str) -> None:
        """Delete one deploy; `CortexNotFound` when it is gone already."""
        await self._request("DELETE", deploy_path(tag, uuid), read_body=False)

    async def delete_deploys(
        self,
        tag: str,
        *,
        sha: str | None = None,
        environment: str | None = None,
        type: str | None = None,
    ) -> None:
        """Delete the entity's deploys that match every filter given (at least one)."""
        params = deploy_filters(sha, environment, type)
        await self._request("DELETE", deploys_path(tag), params=params, read_body=False)
