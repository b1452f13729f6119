"""Anything the API server accepts can be decoded and copied: a CortexEntity's customData may
nest 10,000 deep (its schema keeps unknown fields, so it cannot bound their depth), and kopf's
watch of CortexEntities, failing to decode one, stopped the whole operator."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROGRAM = """
import copy, json, sys
from cortex_events.kube.client import API_JSON_DEPTH, allow_api_json_depth
if sys.argv[1] == "allowed":
    allow_api_json_depth()
depth = API_JSON_DEPTH - 3  # apiVersion/kind/spec/customData around it
text = '{"spec": {"customData": ' + '{"a": [' * (depth // 2) + '1' + ']}' * (depth // 2) + '}}'
body = json.loads(text)
copy.deepcopy(body)  # as kopf does, two frames a level
json.dumps(body)
"""


@pytest.mark.parametrize(("mode", "code"), [("allowed", 0), ("default", 1)])
def test_the_deepest_object_the_api_server_accepts_is_decoded_once_allowed(
    mode: str, code: int
) -> None:
    # Apart, so that the limit this raises stays out of the test process.
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, mode],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == code, done.stderr[-500:]
    if code:
        assert "RecursionError" in done.stderr
