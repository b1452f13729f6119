"""Every request the operator sends in the demo, held to Cortex's published OpenAPI description.

The demo (``cortex-events demo --keep``) runs the real operator against its simulated cluster
and the Cortex emulator; the emulator's admin API gives every request it received. Each must
be one the description allows: the operation, its parameters and its body. The description is
read from beside the repository (`tests.support.openapi`); where it is absent this test skips.
"""

from __future__ import annotations

import json
import re
import signal
import urllib.request
from pathlib import Path

import pytest

from tests.integration.test_demo import Demo
from tests.support.openapi import DELIVERY, contract_or_skip, used

pytestmark = pytest.mark.integration


def test_every_request_of_the_demo_is_one_cortex_describes(tmp_path: Path) -> None:
    contract = contract_or_skip()
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

    # The demo creates, updates and lists events, and records deploys after listing them.
    assert used(contract, ((r["method"], r["path"]) for r in requests)) >= DELIVERY
    problems = [
        f"{r['method']} {r['path']}: {problem}"
        for r in requests
        for problem in contract.request_problems(r["method"], r["path"], r["query"], r["body"])
    ]
    assert problems == []
    assert all(r["status"] in (200, 204) for r in requests), [r["status"] for r in requests]
