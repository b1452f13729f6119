"""Liveness and the log when the Kubernetes API refuses the operator or goes silent."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from cortex_events.ops.apiprobe import ApiProbe, probe_path
from cortex_events.ops.health import HealthServer

HOST = "https://127.0.0.1:6443"


class Answer:
    def __init__(self, status: int, reason: str, message: str) -> None:
        self.status, self.reason = status, reason
        self.data = json.dumps({"kind": "Status", "message": message}).encode()
        self.headers = {"Audit-Id": "0b5d3c1e", "Date": "Fri, 04 Dec 2026 05:16:43 GMT"}

    def getheaders(self) -> dict[str, str]:
        return self.headers


class Kube:
    """Answers the probe's list with what the test sets in ``failure``."""

    def __init__(self) -> None:
        self.failure: Exception | None = None
        self.paths: list[str] = []

    async def request(self, method: str, path: str, body: Any = None, **options: Any) -> Any:
        self.paths.append(path)
        if self.failure is not None:
            raise self.failure
        return {"items": []}


class Idle:
    depth = 0
    paused = False
    last_progress = 0.0


@pytest.fixture
def health() -> HealthServer:
    from prometheus_client import CollectorRegistry

    return HealthServer(Idle(), CollectorRegistry(), wedged_after=300)


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "cortex_events.app"]


async def test_a_refused_token_is_said_once_as_such_and_fails_liveness_after_the_limit(
    health: HealthServer, caplog: pytest.LogCaptureFixture
) -> None:
    kube = Kube()
    probe = ApiProbe(kube, health, path=probe_path(()), host=HOST, wedged_after=300)
    kube.failure = ApiException(http_resp=Answer(401, "Unauthorized", "Unauthorized"))
    with caplog.at_level(logging.INFO, logger="cortex_events.app"):
        for _ in range(3):
            await probe.once()
        health.api_answered = time.monotonic() - 301  # as if 5 minutes had passed
        problems = health.problems()
        kube.failure = None
        await probe.once()
    assert lines(caplog) == [
        f"The Kubernetes API at {HOST} refuses the operator's credentials (HTTP 401 "
        "Unauthorized): its credentials are not valid there: the token expired, or its "
        "ServiceAccount was deleted (helm uninstall deletes it); /healthz fails after 300s "
        "of this",
        "The Kubernetes API answers again",
    ]
    assert problems == [
        "the Kubernetes API has refused the operator's requests for 301s (HTTP 401 Unauthorized)"
    ]
    assert health.problems() == []
    assert kube.paths[0] == "/apis/cortex.io/v1alpha1/cortexentities"


async def test_rbac_taken_away_is_a_refusal_with_the_api_servers_message(
    health: HealthServer, caplog: pytest.LogCaptureFixture
) -> None:
    kube = Kube()
    path = probe_path(("shop", "web"))
    probe = ApiProbe(kube, health, path=path, host=HOST, wedged_after=300)
    kube.failure = ApiException(
        http_resp=Answer(403, "Forbidden", "cortexentities.cortex.io is forbidden")
    )
    with caplog.at_level(logging.INFO, logger="cortex_events.app"):
        await probe.once()
    (line,) = lines(caplog)
    assert "(HTTP 403 Forbidden: cortexentities.cortex.io is forbidden): RBAC" in line
    assert "Audit-Id" not in line
    assert kube.paths == ["/apis/cortex.io/v1alpha1/namespaces/shop/cortexentities"]


async def test_no_answer_is_not_a_refusal(
    health: HealthServer, caplog: pytest.LogCaptureFixture
) -> None:
    kube = Kube()
    probe = ApiProbe(kube, health, path=probe_path(()), host=HOST, wedged_after=300)
    kube.failure = urllib3.exceptions.MaxRetryError(
        urllib3.HTTPConnectionPool("127.0.0.1"), "/", urllib3.exceptions.ProtocolError("closed")
    )
    with caplog.at_level(logging.INFO, logger="cortex_events.app"):
        await probe.once()
        health.api_answered = time.monotonic() - 301
    assert lines(caplog) == [
        f"The Kubernetes API at {HOST} is not answering: the connection was closed without "
        "an answer"
    ]
    assert health.problems()[0].startswith("the Kubernetes API has not answered for 301s")
