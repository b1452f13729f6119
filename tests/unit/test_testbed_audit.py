"""The test bed's audit log, read as the API server writes it (no control plane is started)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from testbed.controlplane import AUDIT_POLICY, ControlPlane

pytestmark = pytest.mark.skipif(
    shutil.which("openssl") is None, reason="the test bed makes its certificates with openssl"
)


def entry(user: str, verb: str, name: str, *, stage: str = "ResponseComplete") -> str:
    line: dict[str, Any] = {
        "stage": stage,
        "verb": verb,
        "user": {"username": user},
        "objectRef": {"resource": "pods", "namespace": "bench", "name": name},
        "responseStatus": {"code": 200},
        "requestURI": f"/api/v1/namespaces/bench/pods/{name}",
        "requestReceivedTimestamp": "2026-12-01T10:00:00.123456Z",
    }
    return json.dumps(line)


def test_only_complete_lines_are_read_and_the_next_read_resumes_after_them(
    tmp_path: Path,
) -> None:
    plane = ControlPlane(tmp_path / "assets", tmp_path / "plane")
    first, second = entry("a", "patch", "p-1"), entry("b", "get", "p-2")
    half = len(second) // 2
    plane.audit_log.write_text(first + "\n" + second[:half])

    records, offset = plane.audit_since(0)
    assert [(r.user, r.verb, r.name) for r in records] == [("a", "patch", "p-1")]
    assert records[0].is_write
    assert records[0].at is not None
    assert records[0].at.microsecond == 123456
    assert plane.audit_since(offset) == ([], offset), "a line being written is not read"

    with plane.audit_log.open("a") as log:
        log.write(second[half:] + "\n" + entry("c", "watch", "", stage="ResponseStarted") + "\n")
    records, end = plane.audit_since(offset)
    assert [(r.user, r.verb) for r in records] == [("b", "get"), ("c", "watch")]
    assert end == plane.audit_mark()
    assert [r.user for r in plane.audit()] == ["a", "b", "c"]
    assert [r.user for r in plane.audit("b")] == ["b"]


def test_a_missing_log_reads_as_empty(tmp_path: Path) -> None:
    plane = ControlPlane(tmp_path / "assets", tmp_path / "plane")
    assert plane.audit_since(0) == ([], 0)
    assert plane.audit() == []


def test_the_audit_policy_is_the_callers_or_records_everything(tmp_path: Path) -> None:
    default = ControlPlane(tmp_path / "assets", tmp_path / "default")
    assert (default.folder / "audit-policy.yaml").read_text() == AUDIT_POLICY
    policy = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: None\n"
    quiet = ControlPlane(tmp_path / "assets", tmp_path / "quiet", audit_policy=policy)
    assert (quiet.folder / "audit-policy.yaml").read_text() == policy


def test_a_refusal_recorded_with_its_bodies_says_its_causes_and_what_was_sent(
    tmp_path: Path,
) -> None:
    plane = ControlPlane(tmp_path / "assets", tmp_path / "plane")
    refused: dict[str, Any] = json.loads(entry("op", "patch", "shop"))
    refused["responseStatus"] = {"code": 422, "message": "the server rejected our request"}
    refused["requestObject"] = {"metadata": {"annotations": {"k": "v"}}}
    refused["responseObject"] = {
        "kind": "Status",
        "details": {"causes": [{"field": "status.x", "message": "Invalid value"}]},
    }
    accepted: dict[str, Any] = json.loads(entry("op", "patch", "shop"))
    accepted["requestObject"] = {"metadata": {}}
    plane.audit_log.write_text(json.dumps(refused) + "\n" + json.dumps(accepted) + "\n")

    first, second = plane.audit()
    assert first.message == "the server rejected our request"
    assert first.detail == (
        'causes: status.x: Invalid value body: {"metadata":{"annotations":{"k":"v"}}}'
    )
    assert second.detail == "", "an accepted request's bodies are not repeated"
    assert "cortexentities" in AUDIT_POLICY, "the operator's own writes are recorded in full"
