"""Every tag and uuid enters a request path as exactly one percent-encoded segment.

``..`` and ``.`` are the exception no encoding fixes: HTTP clients (httpx among them) collapse
them, so the tag ``..`` addressed ``/api/v1/custom-events`` and a delete by type for it went to
the catalog as a whole. They are refused before anything is sent.
"""

from __future__ import annotations

from urllib.parse import unquote

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from cortex_events.cortex.client import CortexClient
from cortex_events.domain.tags import tag_problem

TAGS = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=60)


def _client(seen: list[httpx.Request]) -> CortexClient:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "DELETE":
            return httpx.Response(204)
        return httpx.Response(200, json={"events": [], "page": 0, "total": 0, "totalPages": 0})

    return CortexClient(
        "https://cortex.example",
        SecretStr("path-test-key-0123"),
        transport=httpx.MockTransport(answer),
        max_retries=0,
    )


@given(tag=TAGS.filter(lambda tag: tag_problem(tag) is None), uuid=TAGS)
async def test_a_tag_and_a_uuid_are_each_one_segment_of_the_path(tag: str, uuid: str) -> None:
    seen: list[httpx.Request] = []
    async with _client(seen) as client:
        await client.list_events(tag)
        try:
            await client.delete_event(tag, uuid)
        except ValueError:
            assert uuid in {".", ".."}
    for request in seen:
        segments = request.url.raw_path.decode().split("?")[0].split("/")
        assert segments[:4] == ["", "api", "v1", "catalog"]
        assert unquote(segments[4]) == tag
        assert segments[5] == "custom-events"
        if len(segments) > 6:
            assert unquote(segments[6]) == uuid
            assert len(segments) == 7


@pytest.mark.parametrize("part", [".", ".."])
async def test_dot_segments_are_refused_before_anything_is_sent(part: str) -> None:
    seen: list[httpx.Request] = []
    async with _client(seen) as client:
        with pytest.raises(ValueError, match="would address another resource"):
            await client.delete_events(part, type="POD_CREATION")
        with pytest.raises(ValueError, match="would address another resource"):
            await client.list_events(part)
        with pytest.raises(ValueError, match="would address another resource"):
            await client.delete_event("web", part)
    assert seen == []
    assert tag_problem(part) == "it is only dots, which a URL path reads as a folder"
