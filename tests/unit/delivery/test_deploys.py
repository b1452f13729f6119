"""Deploy delivery: exactly once across restarts and lost answers, nothing where another source
recorded the rollout, a bounded look-up, waits before sending, and the fence."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from cortex_events.cortex.client import CortexClient
from cortex_events.cortex.errors import CortexBadRequest, CortexServerError
from cortex_events.delivery.decisions import scan_pages
from cortex_events.delivery.fence import Fence, NotLeading
from cortex_events.delivery.queue import OutgoingDeploy
from cortex_events.delivery.requests import deploy_request
from cortex_events.domain.render import MANAGED_BY
from cortex_events.domain.rollout_deploys import DeployBody, Deployer
from tests.support.cortex_double import MemoryCortex
from tests.support.delivery_stack import DeliveryStack

CLUSTER = "prod-eu"
TAG = "payments"
LIVE = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
STARTED = LIVE - timedelta(seconds=42)


@dataclass
class Told:
    sent: list[str] = field(default_factory=list)
    not_sent: list[tuple[str, str]] = field(default_factory=list)

    def deploy_sent(self, item: OutgoingDeploy) -> None:
        self.sent.append(item.key)

    def deploy_not_sent(self, item: OutgoingDeploy, reason: str, detail: str) -> None:
        self.not_sent.append((item.key, reason))


def deploy(
    revision: int = 2, *, sha: str | None = "abc123", not_before: datetime | None = None
) -> OutgoingDeploy:
    key = f"deploy/deployment/uid-1/revision/{revision}"
    body = DeployBody(
        title=f"Rollout of web to nginx:1.{revision} completed in 42s",
        type="DEPLOY",
        timestamp=LIVE,
        sha=sha,
        environment="production",
        deployer=Deployer("Ada", "ada@example.com"),
        custom_data={"eventKey": key, "managedBy": MANAGED_BY, "cluster": CLUSTER,
                     "cortexEntities": ["shop/payments"], "revision": revision},
    )  # fmt: skip
    return OutgoingDeploy(TAG, key, body, ("shop/payments",), STARTED, not_before or STARTED)


def stack(cortex: MemoryCortex, told: Told | None = None) -> DeliveryStack:
    return DeliveryStack(cortex, cluster=CLUSTER, deploys=True, deploy_listener=told)


async def test_a_deploy_is_created_once_and_not_again_after_a_restart() -> None:
    cortex, told = MemoryCortex(), Told()
    await stack(cortex, told).run_until_idle(deploy(), deploy())
    (stored,) = cortex.deploys[TAG].values()
    assert (stored.sha, stored.environment, stored.type) == ("abc123", "production", "DEPLOY")
    assert stored.deployer is not None
    assert stored.deployer.email == "ada@example.com"
    assert told.sent == [deploy().key]

    cortex.calls.clear()
    await stack(cortex).run_until_idle(deploy())

    assert cortex.count("create-deploy") == 0
    # One pass over the entity's deploys rebuilt what it holds; nothing else was needed.
    assert [c.params["page"] for c in cortex.of("list-deploys")] == [0]


async def test_a_lost_answer_is_looked_up_before_the_deploy_is_sent_again() -> None:
    cortex = MemoryCortex()
    cortex.lose_answer_once = True

    await stack(cortex).run_until_idle(deploy(), timeout=10)

    assert cortex.count("create-deploy") == 1
    assert len(cortex.deploys[TAG]) == 1


async def test_no_deploy_where_another_source_recorded_the_same_rollout() -> None:
    cortex, told = MemoryCortex(), Told()
    # Argo CD's notification: the sync's time, before the rollout went live.
    synced = STARTED - timedelta(seconds=5)
    cortex.add_deploy(TAG, "argo", sha="abc123", environment="production", timestamp=synced)

    await stack(cortex, told).run_until_idle(deploy(), deploy())

    assert list(cortex.deploys[TAG]) == ["argo"]
    assert told.not_sent == [(deploy().key, "other_source")], "counted once"
    assert told.sent == []


@pytest.mark.parametrize(
    ("sha", "environment", "when"),
    [
        ("other", "production", STARTED),  # another sha
        ("abc123", "staging", STARTED),  # another environment
        ("abc123", "production", STARTED - timedelta(days=3)),  # an earlier rollout of it
    ],
)
async def test_another_sources_deploy_of_something_else_does_not_stop_this_one(
    sha: str, environment: str, when: datetime
) -> None:
    cortex = MemoryCortex()
    cortex.add_deploy(TAG, "argo", sha=sha, environment=environment, timestamp=when)

    await stack(cortex).run_until_idle(deploy())

    assert len(cortex.deploys[TAG]) == 2


async def test_this_clusters_own_deploys_are_not_another_source() -> None:
    cortex = MemoryCortex()
    first = deploy(2)
    cortex.add_deploy(TAG, "mine", sha="abc123", environment="production", timestamp=LIVE,
                      customData=first.body.custom_data)  # fmt: skip

    await stack(cortex).run_until_idle(deploy(3))

    assert len(cortex.deploys[TAG]) == 2


async def test_the_look_up_before_a_create_reads_both_ends_of_a_long_list() -> None:
    cortex = MemoryCortex()
    for number in range(4500):  # five pages of 1000, none this operator's
        cortex.add_deploy(
            TAG, f"old-{number}", sha=f"s{number}", timestamp=STARTED - timedelta(days=9)
        )

    await stack(cortex).run_until_idle(deploy(), timeout=10)

    pages = [c.params["page"] for c in cortex.of("list-deploys")]
    loaded, scanned = pages[:5], pages[5:]
    assert loaded == [0, 1, 2, 3, 4], "one pass to load the ledger"
    assert scanned == [0, 1, 3, 4], "then a scan of both ends before the create"
    assert cortex.count("create-deploy") == 1
    assert scan_pages(1, 2) == []
    assert scan_pages(60, 50) == list(range(1, 60))


async def test_a_deploy_waits_until_its_settle_time() -> None:
    cortex = MemoryCortex()
    soon = datetime.now(UTC) + timedelta(seconds=0.3)
    delivery = stack(cortex)

    async with delivery.running():
        await delivery.submit(deploy(not_before=soon))
        assert await delivery.queue.wait_idle(timeout=0.1) is False, "it waits"
        assert cortex.count("create-deploy") == 0
        assert await delivery.queue.wait_idle(timeout=5)

    assert cortex.count("create-deploy") == 1


async def test_what_cortex_refuses_is_reported_once_and_not_sent_again() -> None:
    cortex, told = MemoryCortex(), Told()
    cortex.failures.append(CortexBadRequest("type is invalid", status_code=400))
    gone, told_gone = MemoryCortex(entities={"someone-else"}), Told()

    await stack(cortex, told).run_until_idle(deploy(), deploy())
    await stack(gone, told_gone).run_until_idle(deploy(), deploy())

    assert told.not_sent == [(deploy().key, "rejected")]
    assert cortex.count("create-deploy") == 1
    assert told_gone.not_sent == [(deploy().key, "entity_not_found")]


async def test_after_a_takeover_no_deploy_is_created_before_earlier_creates_landed() -> None:
    cortex = MemoryCortex()
    delivery = stack(cortex)
    delivery.delivery.took_over(0.3)

    async with delivery.running():
        await delivery.submit(deploy())
        assert await delivery.queue.wait_idle(timeout=0.1) is False
        assert cortex.calls == []
        assert await delivery.queue.wait_idle(timeout=5)
    assert cortex.count("create-deploy") == 1


async def test_the_fence_covers_every_deploy_operation() -> None:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(500)

    fenced = CortexClient(
        "https://cortex.test",
        SecretStr("ctx-key"),
        transport=httpx.MockTransport(answer),
        gate=Fence(lambda: False).check,
    )
    request_body = deploy().body

    with pytest.raises(NotLeading):
        await fenced.create_deploy(TAG, deploy_request(request_body))
    with pytest.raises(NotLeading):
        await fenced.list_deploys(TAG)
    with pytest.raises(NotLeading):
        [d async for d in fenced.iter_deploys(TAG)]
    with pytest.raises(NotLeading):
        await fenced.update_deploy(TAG, "u", deploy_request(request_body))
    with pytest.raises(NotLeading):
        await fenced.delete_deploy(TAG, "u")
    with pytest.raises(NotLeading):
        await fenced.delete_deploys(TAG, type="DEPLOY")
    assert sent == []
    await fenced.aclose()


async def test_a_create_cortex_may_have_stored_is_looked_up_over_more_pages_then_sent() -> None:
    cortex = MemoryCortex()
    for number in range(4500):  # five pages of 1000, none this operator's
        cortex.add_deploy(TAG, f"old-{number}", timestamp=STARTED - timedelta(days=9))
    cortex.failures.append(CortexServerError("internal error", status_code=500))

    await stack(cortex).run_until_idle(deploy(), timeout=10)

    assert cortex.count("create-deploy") == 2, "refused once, then sent again"
    assert len(cortex.deploys[TAG]) == 4501
    pages = [c.params["page"] for c in cortex.of("list-deploys")]
    assert pages[-5:] == [0, 1, 2, 3, 4], "after a 500 the whole list (within 50 pages a side)"
