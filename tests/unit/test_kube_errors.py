"""A failed Kubernetes API request said in one line, without raw headers."""

from __future__ import annotations

import json
from typing import Any

import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from cortex_events.kube.errors import describe, refusal


class Answer:
    """What `ApiException(http_resp=...)` reads of an HTTP answer."""

    def __init__(self, status: int, reason: str, body: dict[str, Any] | str) -> None:
        self.status, self.reason = status, reason
        self.data = (json.dumps(body) if isinstance(body, dict) else body).encode()
        self.headers = {"Audit-Id": "0b5d3c1e-aaaa", "Date": "Fri, 04 Dec 2026 05:16:43 GMT"}

    def getheaders(self) -> dict[str, str]:
        return self.headers


def status(code: int, reason: str, message: str) -> ApiException:
    body = {"kind": "Status", "status": "Failure", "message": message, "reason": reason}
    return ApiException(http_resp=Answer(code, reason, body))


def unreachable(url: str) -> Exception:
    pool = urllib3.PoolManager(retries=urllib3.Retry(0))
    with pytest.raises(urllib3.exceptions.MaxRetryError) as caught:
        pool.request("GET", url, timeout=2)
    return caught.value


def test_an_api_refusal_is_its_status_and_message_without_headers() -> None:
    error = status(403, "Forbidden", 'pods is forbidden: User "x" cannot watch resource "pods"')
    assert "HTTP response headers" in str(error), "what the client prints by itself"
    assert describe(error) == (
        'HTTP 403 Forbidden: pods is forbidden: User "x" cannot watch resource "pods"'
    )
    assert refusal(error) == 403
    assert describe(status(401, "Unauthorized", "Unauthorized")) == "HTTP 401 Unauthorized"
    assert refusal(status(401, "Unauthorized", "Unauthorized")) == 401
    assert refusal(status(500, "InternalError", "etcd")) is None


def test_an_answer_that_is_no_status_gives_its_code_only() -> None:
    error = ApiException(http_resp=Answer(502, "Bad Gateway", "<html>proxy</html>"))
    assert describe(error) == "HTTP 502 Bad Gateway"


def test_no_answer_says_why_instead_of_max_retry_error() -> None:
    refused = unreachable("https://127.0.0.1:1/version")
    assert (
        describe(refused) == "connection refused (nothing listens there: is the cluster running?)"
    )
    assert describe(unreachable("https://no-such-host.invalid/version")) == (
        "its host name does not resolve"
    )
    assert refusal(refused) is None


async def test_a_look_up_that_fails_says_why_in_one_line() -> None:
    """The downtime sweep and the relist log this; the client's own text has raw headers."""
    from cortex_events.kube.client import KubeClient
    from cortex_events.kube.errors import KubeRequestFailed

    class Refusing(KubeClient):
        async def request(self, method: str, path: str, body: Any = None, **options: Any) -> Any:
            raise status(403, "Forbidden", 'pods "web-1" is forbidden')

    with pytest.raises(KubeRequestFailed) as caught:
        await Refusing(None).current_uid("Pod", "shop", "web-1")  # type: ignore[arg-type]
    assert str(caught.value) == 'HTTP 403 Forbidden: pods "web-1" is forbidden'
