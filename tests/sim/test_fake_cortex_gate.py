"""What stands before the emulator's operations: auth, the rate limit and injected faults."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from cortex_events_sim.fake_cortex import FakeCortex, Faults, RateLimiter

KEY = "test-key"
PAGE = {"page": 0, "pageSize": 250}
EVENTS = "/api/v1/catalog/payments/custom-events"
BODY = {"title": "Created K8s pod", "type": "POD_CREATION", "timestamp": "2025-05-20T05:16:49Z"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeCortex]:
    cortex = FakeCortex(api_key=KEY, entities=["payments"])
    await cortex.start()
    try:
        yield cortex
    finally:
        await cortex.stop()


def statuses(fake: FakeCortex) -> list[int]:
    return [r.status for r in fake.state.requests]


# -- authentication -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {KEY}"},
        {"Authorization": "Bearer"},
    ],
)
async def test_requests_without_the_right_bearer_key_answer_401(
    fake: FakeCortex, headers: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=fake.base_url, timeout=5.0) as http:
        response = await http.post(EVENTS, json=BODY, headers=headers)

    assert response.status_code == 401
    assert "API key" in response.json()["message"]
    assert fake.state.events() == []


async def test_without_a_configured_key_any_bearer_key_works_but_one_is_required() -> None:
    async with FakeCortex() as fake, httpx.AsyncClient(base_url=fake.base_url) as http:
        with_key = await http.get(EVENTS, params=PAGE, headers={"Authorization": "Bearer anything"})
        without = await http.get(EVENTS, params=PAGE)

    assert (with_key.status_code, without.status_code) == (200, 401)


async def test_api_requests_are_recorded_with_their_answers(
    fake: FakeCortex, client: httpx.AsyncClient
) -> None:
    await client.post(EVENTS, json=BODY)
    await client.get(EVENTS, params={**PAGE, "type": "POD_CREATION"})
    await client.get(EVENTS, params=PAGE, headers={"Authorization": ""})

    recorded = fake.state.requests
    assert [(r.method, r.status, r.tag) for r in recorded] == [
        ("POST", 200, "payments"),
        ("GET", 200, "payments"),
        ("GET", 401, "payments"),
    ]
    assert recorded[0].body == BODY
    assert recorded[1].query == {**{k: str(v) for k, v in PAGE.items()}, "type": "POD_CREATION"}
    assert recorded[1].path == EVENTS


# -- rate limit -----------------------------------------------------------------------------


async def test_requests_past_the_rate_limit_answer_429_per_key() -> None:
    async with FakeCortex(rate_limit=3) as fake, httpx.AsyncClient(base_url=fake.base_url) as http:
        first = [
            (await http.get(EVENTS, params=PAGE, headers={"Authorization": "Bearer a"})).status_code
            for _ in range(3)
        ]
        limited = await http.get(EVENTS, params=PAGE, headers={"Authorization": "Bearer a"})
        other_key = await http.get(EVENTS, params=PAGE, headers={"Authorization": "Bearer b"})

    assert first == [200, 200, 200]
    assert limited.status_code == 429
    assert limited.headers["Content-Type"].startswith("application/problem+json")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.json()["status"] == 429
    assert other_key.status_code == 200


def test_the_rate_limit_window_slides_over_60_seconds() -> None:
    limiter = RateLimiter(per_minute=2)

    assert limiter.admit("k", now=0.0) is None
    assert limiter.admit("k", now=20.0) is None
    assert limiter.admit("k", now=30.0) == pytest.approx(30.0)
    assert limiter.admit("k", now=45.0) == pytest.approx(15.0)
    assert limiter.admit("k", now=60.5) is None  # the t=0 request left the window
    assert limiter.admit("k", now=61.0) == pytest.approx(19.0)


def test_a_rate_limit_below_one_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        FakeCortex(rate_limit=0)


# -- faults ---------------------------------------------------------------------------------


async def test_fail_next_answers_the_given_status_then_recovers(
    fake: FakeCortex, client: httpx.AsyncClient
) -> None:
    fake.faults.fail_next(2, status=503)

    answers = [(await client.get(EVENTS, params=PAGE)).status_code for _ in range(3)]

    assert answers == [503, 503, 200]
    assert statuses(fake) == [503, 503, 200]


async def test_faults_can_target_one_method(fake: FakeCortex, client: httpx.AsyncClient) -> None:
    fake.faults.fail_next(1, status=502, method="POST")

    listed = await client.get(EVENTS, params=PAGE)
    created = await client.post(EVENTS, json=BODY)
    retried = await client.post(EVENTS, json=BODY)

    assert (listed.status_code, created.status_code, retried.status_code) == (200, 502, 200)
    assert len(fake.state.events()) == 1


async def test_injected_rate_limit_sends_retry_after_and_a_problem_body(
    fake: FakeCortex, client: httpx.AsyncClient
) -> None:
    fake.faults.rate_limit_next(1, retry_after=2.0)

    limited = await client.post(EVENTS, json=BODY)

    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "2"
    assert limited.headers["Content-Type"].startswith("application/problem+json")
    assert fake.state.events() == []
    assert (await client.post(EVENTS, json=BODY)).status_code == 200


async def test_terminal_faults_are_spent_in_the_order_they_were_armed(
    fake: FakeCortex, client: httpx.AsyncClient
) -> None:
    fake.faults.fail_next(1)
    fake.faults.rate_limit_next(1, retry_after=0.5)

    answers = [(await client.get(EVENTS, params=PAGE)).status_code for _ in range(3)]

    assert answers == [500, 429, 200]


async def test_drop_next_closes_the_connection_without_an_answer(
    fake: FakeCortex, client: httpx.AsyncClient
) -> None:
    fake.faults.drop_next(1)

    with pytest.raises(httpx.RemoteProtocolError):
        await client.post(EVENTS, json=BODY)
    after = await client.post(EVENTS, json=BODY)

    assert after.status_code == 200
    assert statuses(fake) == [0, 200]
    assert len(fake.state.events()) == 1


async def test_a_delayed_request_completes_even_after_the_client_gave_up(
    fake: FakeCortex,
) -> None:
    # Like a real server: a create whose answer came too late for the client still happened.
    fake.faults.delay_next(1, seconds=0.5, method="POST")

    async with httpx.AsyncClient(
        base_url=fake.base_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=0.1
    ) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            await impatient.post(EVENTS, json=BODY)
        assert (await impatient.get(EVENTS, params=PAGE)).json()["events"] == []

    await fake.state.wait_for_async(lambda state: bool(state.events()), timeout=5)
    assert [(r.method, r.status) for r in fake.state.requests] == [("GET", 200), ("POST", 200)]


async def test_an_outage_answers_503_until_it_ends_but_the_admin_api_works(
    fake: FakeCortex, client: httpx.AsyncClient
) -> None:
    fake.faults.outage(True)

    during = await client.post(EVENTS, json=BODY)
    health = await client.get("/_fake/health")
    fake.faults.outage(False)
    after = await client.post(EVENTS, json=BODY)

    assert during.status_code == 503
    assert health.status_code == 200
    assert after.status_code == 200
    assert len(fake.state.events()) == 1


async def test_a_dropping_outage_closes_every_connection(
    fake: FakeCortex, client: httpx.AsyncClient
) -> None:
    fake.faults.outage(True, drop=True)

    for _ in range(2):
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(EVENTS, params=PAGE)

    assert statuses(fake) == [0, 0]


async def test_garble_next_does_the_work_then_spoils_the_success_answer(
    fake: FakeCortex, client: httpx.AsyncClient
) -> None:
    armed = await client.post("/_fake/faults", json={"kind": "garble", "method": "POST"})
    fake.faults.garble_next(1, "truncated", method="POST")
    fake.faults.garble_next(1, "html", method="GET")

    html = await client.post(EVENTS, json=BODY)
    cut = await client.post(EVENTS, json=BODY)
    missing = await client.get("/api/v1/catalog/nope/custom-events", params=PAGE)
    whole = await client.post(EVENTS, json=BODY)

    assert (html.status_code, html.headers["Content-Type"].split(";")[0]) == (200, "text/html")
    assert "<html>" in html.text
    assert armed.status_code == 200
    assert cut.status_code == 200
    assert cut.text.startswith('{"')
    with pytest.raises(json.JSONDecodeError):
        cut.json()
    assert whole.json()["title"] == BODY["title"], "the faults are spent"
    assert missing.status_code == 404, "an error answer is left as it is"
    assert missing.json()["message"]
    assert len(fake.state.events()) == 3, "each create was stored"


def test_faults_reject_nonsense() -> None:
    faults = Faults()

    with pytest.raises(ValueError, match="status"):
        faults.fail_next(1, status=200)
    with pytest.raises(ValueError, match="n must"):
        faults.drop_next(-1)
    with pytest.raises(ValueError, match="seconds"):
        faults.delay_next(1, seconds=-1)
    with pytest.raises(ValueError, match="form"):
        faults.garble_next(1, "gibberish")  # type: ignore[arg-type]
    assert faults.pending() == 0


# -- admin API ------------------------------------------------------------------------------


async def test_admin_api_shows_events_and_requests_without_recording_itself(
    fake: FakeCortex, client: httpx.AsyncClient
) -> None:
    fake.state.add_entity("shop")
    created = (await client.post(EVENTS, json=BODY)).json()
    await client.post("/api/v1/catalog/shop/custom-events", json=BODY)

    events = (await client.get("/_fake/events", params={"tag": "payments"})).json()
    everything = (await client.get("/_fake/events")).json()
    requests = (await client.get("/_fake/requests")).json()

    assert events == [{"tag": "payments", **created}]
    assert sorted(e["tag"] for e in everything) == ["payments", "shop"]
    assert [(r["method"], r["path"], r["status"]) for r in requests] == [
        ("POST", EVENTS, 200),
        ("POST", "/api/v1/catalog/shop/custom-events", 200),
    ]
    assert requests[0]["body"] == BODY


async def test_admin_api_needs_no_key_and_is_never_rate_limited() -> None:
    async with (
        FakeCortex(api_key=KEY, rate_limit=1) as fake,
        httpx.AsyncClient(base_url=fake.base_url, timeout=5.0) as http,
    ):
        answers = [(await http.get("/_fake/health")).status_code for _ in range(5)]
        health = (await http.get("/_fake/health")).json()

    assert answers == [200] * 5
    assert health["status"] == "ok"
    assert fake.state.requests == []


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ({"kind": "fail", "status": 502}, 502),
        ({"kind": "rate_limit", "retry_after": 3}, 429),
        ({"kind": "outage", "on": True}, 503),
    ],
)
async def test_admin_api_arms_faults(
    client: httpx.AsyncClient, fault: dict[str, object], expected: int
) -> None:
    armed = await client.post("/_fake/faults", json=fault)

    response = await client.get(EVENTS, params=PAGE)

    assert armed.status_code == 200
    assert response.status_code == expected


async def test_admin_api_arms_drops_for_one_method(client: httpx.AsyncClient) -> None:
    await client.post("/_fake/faults", json={"kind": "drop", "count": 1, "method": "put"})
    created = (await client.post(EVENTS, json=BODY)).json()

    with pytest.raises(httpx.RemoteProtocolError):
        await client.put(f"{EVENTS}/{created['uuid']}", json=BODY)


@pytest.mark.parametrize(
    "fault",
    [{"kind": "explode"}, {"kind": "delay"}, {"kind": "fail", "status": 200}, ["fail"]],
)
async def test_admin_api_rejects_malformed_faults(
    fake: FakeCortex, client: httpx.AsyncClient, fault: object
) -> None:
    response = await client.post("/_fake/faults", json=fault)

    assert response.status_code == 400
    assert fake.faults.pending() == 0


async def test_admin_reset_forgets_events_requests_and_faults(
    fake: FakeCortex, client: httpx.AsyncClient
) -> None:
    await client.post(EVENTS, json=BODY)
    fake.faults.fail_next(5)

    reset = await client.post("/_fake/reset")

    assert reset.status_code == 200
    assert (fake.state.events(), fake.state.requests) == ([], [])
    assert (await client.get(EVENTS, params=PAGE)).status_code == 200
