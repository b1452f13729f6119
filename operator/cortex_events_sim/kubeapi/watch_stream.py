"""Watches over HTTP: the store's events for one resource as a stream of JSON lines.

The stream replays from the client's ``resourceVersion`` (see `Store.watch`), then sends each
write as it happens; events that are already queued go out in one chunk. With
``allowWatchBookmarks`` it sends a BOOKMARK every ``bookmark_interval`` seconds of quiet. It
ends at ``timeoutSeconds``, when the store closes the watch (the server stopping, a CRD
removed, a 410 for a version too old), or when the client goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from aiohttp import web

from .errors import KubeApiError
from .resources import ResourceType
from .selectors import Selector
from .store import Store
from .watches import encode_event


async def stream_watch(
    request: web.Request,
    store: Store,
    rtype: ResourceType,
    namespace: str | None,
    *,
    bookmark_interval: float,
    opened: Callable[[], None],
) -> web.StreamResponse:
    """Answer a watch request; ``opened`` is called once the watch is set up."""
    query = request.query
    selector = Selector.parse(query.get("labelSelector"), query.get("fieldSelector"))
    since_text = query.get("resourceVersion") or ""
    try:
        since = int(since_text) if since_text else None
    except ValueError as exc:
        raise KubeApiError(400, f"invalid resourceVersion: {since_text!r}") from exc
    timeout = float(query["timeoutSeconds"]) if query.get("timeoutSeconds") else None
    bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
    watcher = store.watch(rtype, namespace, selector, since)
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    opened()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout if timeout else None
    next_bookmark = loop.time() + bookmark_interval
    try:
        await response.prepare(request)
        while True:
            now = loop.time()
            waits = [next_bookmark - now] if bookmarks else []
            if deadline is not None:
                waits.append(deadline - now)
            wait = max(0.0, min(waits)) if waits else None
            try:
                line = await asyncio.wait_for(watcher.queue.get(), wait)
            except TimeoutError:
                if deadline is not None and loop.time() >= deadline:
                    break
                mark = {
                    "kind": rtype.kind,
                    "apiVersion": rtype.api_version,
                    "metadata": {"resourceVersion": str(store.rv)},
                }
                await response.write(encode_event("BOOKMARK", mark))
                next_bookmark = loop.time() + bookmark_interval
                continue
            if line is None:
                break
            chunk = [line]
            ended = False
            while not watcher.queue.empty():
                more = watcher.queue.get_nowait()
                if more is None:
                    ended = True
                    break
                chunk.append(more)
            await response.write(b"".join(chunk))
            if ended:
                break
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
    except ConnectionError:
        pass
    finally:
        store.unwatch(watcher)
    return response
