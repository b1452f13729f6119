"""Every request the operator sends in the demo, held to Cortex's published OpenAPI description.

The demo (``cortex-events demo --keep``) runs the real operator against its simulated cluster
and the Cortex emulator; the emulator's admin API gives every request it received. Each must
be one the description allows: the operation, its parameters and its body. The description is
read from beside the repository (`tests.support.openapi`); where it is absent this test skips.
"""

from __future__ import annotations

import collections
import json
import re
import signal
import urllib.request
from pathlib import Path

import pytest

from tests.integration.test_demo import Demo
from tests.support.openapi import MISSING, load_contract

pytestmark = pytest.mark.integration


def test_every_request_of_the_demo_is_one_cortex_describes(tmp_path: Path) -> None:
    contract = load_contract()
    if contract is None:
        pytest.skip(MISSING)
    folder = tmp_path / "tmp"
    folder.mkdir()
    demo = Demo(folder, "--keep")
    try:
        found = re.search(r"curl (\S+)/_fake/events", demo.wait_for("Cortex events", 120))
        assert found is not None
        with urllib.request.urlopen(f"{found.group(1)}/_fake/requests", timeout=10) as answer:  # noqa: S310
            requests = json.loads(answer.read())
    finally:
        demo.stop(signal.SIGTERM)

    used = collections.Counter(
        op.name for r in requests if (op := contract.operation(r["method"], r["path"]))
    )
    # The demo creates, updates and lists events, and records deploys after listing them.
    assert {
        "POST /api/v1/catalog/{tagOrId}/custom-events",
        "PUT /api/v1/catalog/{tagOrId}/custom-events/{uuid}",
        "GET /api/v1/catalog/{tagOrId}/custom-events",
        "POST /api/v1/catalog/{tagOrId}/deploys",
        "GET /api/v1/catalog/{tagOrId}/deploys",
    } <= set(used), used
    problems = [
        f"{r['method']} {r['path']}: {problem}"
        for r in requests
        for problem in contract.request_problems(r["method"], r["path"], r["query"], r["body"])
    ]
    assert problems == []
    assert all(r["status"] in (200, 204) for r in requests), [r["status"] for r in requests]
