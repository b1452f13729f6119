"""Running the emulator outside the test's event loop: a background thread and the command."""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import socket
import sys
import threading

import httpx
import pytest

from cortex_events_sim.fake_cortex import run_in_thread, serve

BODY = {"title": "Created K8s pod", "type": "POD_CREATION", "timestamp": "2025-05-20T05:16:49Z"}
PAGE = {"page": 0, "pageSize": 250}


def test_run_in_thread_serves_synchronous_clients_until_the_block_ends() -> None:
    with run_in_thread(api_key="k", entities=["payments"]) as fake:
        url = fake.base_url
        with httpx.Client(base_url=url, headers={"Authorization": "Bearer k"}, timeout=5) as http:
            created = http.post("/api/v1/catalog/payments/custom-events", json=BODY)
            unknown = http.get("/api/v1/catalog/shop/custom-events", params=PAGE)
        assert created.status_code == 200
        assert unknown.status_code == 404
        assert [e.uuid for e in fake.state.events("payments")] == [created.json()["uuid"]]

    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/_fake/health", timeout=5)


async def test_serve_logs_its_url_never_the_key_and_exits_cleanly_on_sigterm() -> None:
    secret = "s3cret-key-value"
    code = (
        "import sys; from cortex_events_sim.fake_cortex import serve; "
        f"sys.exit(serve(0, api_key={secret!r}, entities=['payments'], rate_limit=100))"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stderr is not None
    try:
        first_line = (await asyncio.wait_for(proc.stderr.readline(), timeout=20)).decode()
        match = re.search(r"http://127\.0\.0\.1:\d+", first_line)
        assert match is not None, first_line
        path = "/api/v1/catalog/payments/custom-events"
        async with httpx.AsyncClient(base_url=match.group(0), timeout=5) as http:
            allowed = await http.get(
                path, params=PAGE, headers={"Authorization": f"Bearer {secret}"}
            )
            denied = await http.get(path, params=PAGE, headers={"Authorization": "Bearer other"})
        assert (allowed.status_code, denied.status_code) == (200, 401)

        proc.send_signal(signal.SIGTERM)
        rest = (await asyncio.wait_for(proc.stderr.read(), timeout=10)).decode()
        assert await asyncio.wait_for(proc.wait(), timeout=10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert path in rest  # one line per API request
    assert secret not in first_line + rest


def test_serve_returns_an_error_code_when_the_port_is_taken(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with caplog.at_level(logging.ERROR):
            code = serve(port)

    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in caplog.text


def test_state_wait_for_returns_once_a_request_from_another_thread_lands() -> None:
    with run_in_thread() as fake:
        poster = threading.Thread(
            target=httpx.post,
            args=(f"{fake.base_url}/api/v1/catalog/payments/custom-events",),
            kwargs={"json": BODY, "headers": {"Authorization": "Bearer k"}, "timeout": 5},
        )
        poster.start()
        fake.state.wait_for(lambda state: len(state.events("payments")) == 1, timeout=10)
        poster.join(timeout=10)

        with pytest.raises(TimeoutError):
            fake.state.wait_for(lambda state: len(state.events()) == 2, timeout=0.05)
