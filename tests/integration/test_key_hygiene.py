"""The API key never leaves the operator, whatever Cortex or the HTTP layer say back.

A hostile Cortex answers every request by quoting the ``Authorization`` header back in every
escaping text can carry it in. The real operator (a subprocess, its key read from a file with
a trailing newline, as ``kubectl create secret --from-file`` leaves it) and ``cortex-events
check`` then report those failures through each of their channels: the CortexEntity's Ready
condition, Kubernetes Events (a cleanup that fails on deletion says why), log lines and the
check table. None may hold the key in any form; each must show that something was redacted,
so that the test cannot pass by not reaching the path.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from cortex_events_sim import workloads
from cortex_events_sim.fake_cortex import FakeCortex
from cortex_events_sim.kubectl import Kubectl
from cortex_events_sim.loop_thread import loop_in_thread
from cortex_events_sim.ports import free_port
from cortex_events_sim.server_thread import ServerThread
from tests.integration.conftest import API_KEY
from tests.support.harness import OperatorProcess, start_watching, wait_for
from tests.support.hostile import key_escapings

pytestmark = pytest.mark.integration

NS = "shop"
# Characters that each escaping treats differently: a slash, a plus, quotes, a backslash, a
# percent sign and an equals sign.
KEY = "k3y/with+odd\"chars\\and'quotes%20=0123456789"


def leaks(text: str) -> list[str]:
    """The escapings of the key found in ``text``; the key's digits are a shorter marker that
    no redaction may leave behind."""
    found = [name for name, form in key_escapings(KEY).items() if form in text]
    return found + (["the key's tail"] if "quotes%20=0123456789" in text else [])


async def _echo_the_key(request: web.Request) -> web.Response:
    header = request.headers.get("Authorization", "")
    key = header.removeprefix("Bearer ")
    told = " | ".join(key_escapings(key).values())
    if request.method == "GET" and request.path.endswith("/custom-events"):
        return web.json_response({"message": f"token not valid: {told}"}, status=401)
    return web.Response(status=500, text=f"upstream failed for {told}")


@pytest.fixture
def hostile_cortex() -> Iterator[str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _echo_the_key)
    runner = web.AppRunner(app)
    port = free_port()
    with loop_in_thread("hostile-cortex", stop_timeout=10) as loop:
        asyncio.run_coroutine_threadsafe(runner.setup(), loop).result(10)
        site = web.TCPSite(runner, "127.0.0.1", port)
        asyncio.run_coroutine_threadsafe(site.start(), loop).result(10)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "api-key"
    path.write_text(KEY + "\n")  # as a Secret made with --from-file holds it
    return path


def ready_message(kubectl: Kubectl, name: str) -> str:
    status: dict[str, Any] = kubectl.get("CortexEntity", name, NS).get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready":
            return str(condition.get("message", ""))
    return ""


def test_the_key_appears_in_no_status_event_log_line_or_check_row(
    kube: ServerThread,
    kubectl: Kubectl,
    operator: OperatorProcess,
    hostile_cortex: str,
    key_file: Path,
) -> None:
    del operator.env["CORTEX_API_KEY"]
    operator.env["CORTEX_BASE_URL"] = hostile_cortex
    start_watching(operator, kube, "--api-key-file", str(key_file))
    kubectl.create(workloads.cortex_entity("plain", "payments-api", namespace=NS))
    wait_for(
        lambda: "Cortex refused the API key" in ready_message(kubectl, "plain"),
        what="the Ready condition to tell the refusal",
    )
    cleanup = workloads.cortex_entity("cleanup", "orders", namespace=NS, cleanup_on_delete=True)
    kubectl.create(cleanup)
    wait_for(
        lambda: "finalizers" in kubectl.get("CortexEntity", "cleanup", NS)["metadata"],
        what="the cleanup finalizer",
    )
    kubectl.delete("CortexEntity", "cleanup", NS)

    def failed_cleanup() -> list[dict[str, Any]]:
        return [
            e
            for e in kubectl.list("Event", NS)
            if e["involvedObject"]["name"] == "cleanup" and e["reason"] == "CleanupFailed"
        ]

    import pprint

    pprint.pprint(
        [
            (e["involvedObject"]["name"], e["reason"], e["message"][:80])
            for e in kubectl.list("Event", NS)
        ]
    ) if False else None
    events = wait_for(failed_cleanup, timeout=30, what="the Event for the failed cleanup")

    status = ready_message(kubectl, "plain")
    every_event = json.dumps(kubectl.list("Event", NS))
    log = operator.log_text()
    check = subprocess.run(
        [sys.executable, "-m", "cortex_events", "check", "--api-key-file", str(key_file)],
        env=operator.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert check.returncode == 1, check.stderr
    outputs = {
        "status": status,
        "cleanup Event": json.dumps(events),
        "all Events": every_event,
        "log": log,
        "check": check.stdout + check.stderr,
    }
    found = {where: leaks(text) for where, text in outputs.items() if leaks(text)}
    assert not found, f"the key leaked: {found}"
    for where in ("status", "cleanup Event", "log", "check"):
        assert "[REDACTED]" in outputs[where], f"the {where} path carried no key at all"


def test_a_rotated_key_file_is_used_without_a_restart(
    kube: ServerThread,
    kubectl: Kubectl,
    operator: OperatorProcess,
    cortex: FakeCortex,
    tmp_path: Path,
) -> None:
    # As the kubelet updates a mounted Secret: the file is replaced, the process keeps running.
    path = tmp_path / "api-key"
    path.write_text("an-old-key-that-cortex-refuses\n")
    del operator.env["CORTEX_API_KEY"]
    start_watching(operator, kube, "--api-key-file", str(path))
    kubectl.create(workloads.pod("web-1", namespace=NS, tag="web"))
    wait_for(
        lambda: any(r.status == 401 for r in cortex.state.requests),
        what="Cortex to refuse the old key",
    )
    replacement = tmp_path / "api-key.new"
    replacement.write_text(API_KEY + "\n")
    replacement.replace(path)
    wait_for(
        lambda: any(e.type == "POD_CREATION" for e in cortex.state.events("web")),
        timeout=60,
        what="the event, sent with the new key",
    )
    assert operator.starts == 1
    assert operator.process is not None
    assert operator.process.poll() is None
    assert "The API key file" in operator.log_text()
