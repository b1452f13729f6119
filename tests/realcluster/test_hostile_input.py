"""Careless and hostile input on a real API server: the CRD's bounds and its rules in words as
kube-apiserver enforces them, the deepest CortexEntity it accepts, a 5,000-tag annotation and
dot-only tags, with the operator running on the chart's RBAC throughout."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from cortex_events.domain.tags import TAG_RULE, tag_problem
from cortex_events.kube.client import allow_api_json_depth
from cortex_events_sim.fake_cortex import FakeCortex
from testbed.controlplane import ControlPlane
from tests.support.hostile import TAG_SAMPLES, nested

from .conftest import (
    Operator,
    await_default_service_account,
    events,
    module_namespace,
    pod,
    wait_for,
)
from .test_cortexentity import entity


@pytest.fixture
def namespace(plane: ControlPlane) -> Iterator[str]:
    """A namespace of the test's own, gone before the next test starts: the next operator
    watches the whole cluster, and would otherwise see (and report on) this one's objects."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    with module_namespace(plane, name):
        await_default_service_account(plane, name)
        yield name


def refusals(plane: ControlPlane, objects: list[dict[str, Any]]) -> dict[str, str]:
    """Each object the API server refuses (a server-side dry run), by name, with its message."""
    listing = {"apiVersion": "v1", "kind": "List", "items": objects}
    result = plane.run(plane.binary("kubectl"), "create", "--dry-run=server", "-f", "-",
                       stdin=json.dumps(listing), check=False)  # fmt: skip
    found: dict[str, str] = {}
    for line in result.stderr.splitlines():
        if match := re.search(r'CortexEntity(?:\.cortex\.io)? "([^"]+)" is invalid: (.*)', line):
            found[match.group(1)] = match.group(2)
    accepted = sum("created (server dry run)" in line for line in result.stdout.splitlines())
    assert accepted + len(found) == len(objects), result.stdout + result.stderr
    return found


def test_the_api_server_and_the_operator_apply_one_tag_rule_said_in_words(
    plane: ControlPlane, release: object, namespace: str
) -> None:
    samples = [entity(f"t-{n}", namespace, tag=tag) for n, tag in enumerate(TAG_SAMPLES)]
    refused = refusals(plane, samples)
    for index, tag in enumerate(TAG_SAMPLES):
        problem = tag_problem(tag)
        said = refused.get(f"t-{index}")
        assert (said is None) == (problem is None), (tag, said)
        if said is not None and 1 <= len(tag) <= 253:
            assert ": is not a Cortex tag: it " in said, said
            assert TAG_RULE in said, said
            assert "does not match" not in said, "a raw regular expression"


BOUNDS: list[tuple[dict[str, Any], str]] = [
    (
        {"workloads": [{"kind": "Pod", "name": f"p{n}"} for n in range(65)]},
        "spec.workloads: Too many: 65: must have at most 64 items",
    ),
    (
        {"selector": {"matchLabels": {f"k{n}": "v" for n in range(33)}}},
        "spec.selector.matchLabels: Too many: 33: must have at most 32 items",
    ),
    (
        {"selector": {"matchExpressions": [{"key": "a", "operator": "Exists"}] * 17}},
        "spec.selector.matchExpressions: Too many: 17: must have at most 16 items",
    ),
    (
        {"customData": {f"k{n}": n for n in range(33)}},
        "spec.customData: Too many: 33: must have at most 32 items",
    ),
    (
        {"deploys": {"environment": "e" * 254}},
        "spec.deploys.environment: Too long: may not be more than 253",
    ),
    (
        {"retention": "24000000000h"},
        'spec.retention: Invalid value: "24000000000h": must be a duration in hours, minutes '
        "and seconds, such as 720h, 90m or 1h30m",
    ),
    ({"retention": "87601h"}, 'spec.retention: Invalid value: "87601h": must be from 1m to 87600h'),
    ({"retention": "30s"}, 'spec.retention: Invalid value: "30s": must be from 1m to 87600h'),
]


def test_the_api_server_enforces_each_bound_it_can_say_and_names_it(
    plane: ControlPlane, release: object, namespace: str
) -> None:
    objects = [entity(f"b-{n}", namespace, tag="svc", **spec) for n, (spec, _) in enumerate(BOUNDS)]
    workloads = [{"kind": "Pod", "name": f"p{n}"} for n in range(64)]
    objects.append(
        entity("at-bounds", namespace, tag="svc", retention="87600h", workloads=workloads)
    )
    refused = refusals(plane, objects)
    for index, (_, said) in enumerate(BOUNDS):
        assert said in refused.get(f"b-{index}", ""), (said, refused.get(f"b-{index}"))
    assert "at-bounds" not in refused


def ready(plane: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    # The status alone: the whole object may nest deeper than this process decodes.
    text = plane.kubectl("get", "cortexentity", name, "-n", namespace,
                         "-o", "jsonpath={.status.conditions}")  # fmt: skip
    conditions = json.loads(text) if text.strip() else []
    return next((c for c in conditions if c.get("type") == "Ready"), {})


def test_the_deepest_custom_data_the_api_server_accepts_is_refused_and_the_operator_keeps_going(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, operator: Operator
) -> None:
    # 9,990 objects deep, with the CortexEntity around it just within the API server's 10,000.
    # kopf's watch failed to decode it, which stopped the operator for every namespace. The
    # audit log holds it too (the operator's patches, with their answers): this process reads
    # that log, so it decodes as deep as the operator does.
    allow_api_json_depth()
    deep = entity("deep", namespace, tag="rc-deep", cleanupOnDelete=True)
    deep["spec"]["customData"] = nested(9_990)
    plane.run(plane.binary("kubectl"), "create", "--raw",
              f"/apis/cortex.io/v1alpha1/namespaces/{namespace}/cortexentities", "-f", "-",
              stdin=json.dumps(deep))  # fmt: skip
    plane.apply(entity("plain", namespace, tag="rc-plain"))
    operator.start()
    wait_for(lambda: ready(plane, namespace, "plain").get("reason") == "Synced", what="Synced")
    wait_for(lambda: ready(plane, namespace, "deep").get("reason") == "InvalidSpec",
             what="the deep entity refused")  # fmt: skip
    assert ready(plane, namespace, "deep")["message"] == (
        "spec.customData: nests objects and lists deeper than 8"
    )
    plane.kubectl("delete", "cortexentity", "deep", "-n", namespace, "--timeout=60s")
    assert operator.process.process is not None
    assert operator.process.process.poll() is None, operator.log_text()[-2000:]
    assert "RecursionError" not in operator.log_text()


def test_an_annotation_of_5000_tags_records_16_and_says_what_it_left_out(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, operator: Operator
) -> None:
    tags = [f"rc-many-{n}" for n in range(5_000)]
    operator.start()
    plane.apply(pod("many", namespace, tag=",".join(tags)))
    wait_for(lambda: all(events(cortex, tag, "POD_CREATION") for tag in tags[:16]), 60,
             "the first 16 tags' events")  # fmt: skip

    def warned() -> list[dict[str, Any]]:
        found = plane.get("events", "-n", namespace)["items"]
        return [e for e in found if e.get("reason") == "InvalidTag"]

    (warning,) = wait_for(warned, 30, "the InvalidTag Event")
    assert warning["involvedObject"]["name"] == "many"
    assert "names more than 16 tags, the most an annotation may" in warning["message"]
    assert "longer than 4096 characters" in warning["message"]
    tagged = {request.tag for request in cortex.state.requests}
    assert set(tags[:16]) <= tagged
    assert tagged.isdisjoint(tags[16:]), "no request for a tag past the limit"


@pytest.mark.parametrize("value", ["..", ".", "rc-dots, .., ."])
def test_dot_only_tags_are_refused_and_never_reach_a_url(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, operator: Operator, value: str
) -> None:
    operator.start()
    plane.apply(pod("dots", namespace, tag=value))

    def warned() -> list[dict[str, Any]]:
        found = plane.get("events", "-n", namespace)["items"]
        return [e for e in found if e.get("reason") == "InvalidTag"]

    (warning,) = wait_for(warned, 30, "the InvalidTag Event")
    assert (
        "is not a Cortex tag: it is only dots, which a URL path reads as a folder"
        in (warning["message"])
    )
    if "rc-dots" in value:
        wait_for(lambda: events(cortex, "rc-dots", "POD_CREATION"), 30, "the valid tag's event")
    # Every request names one entity; none reached a path that dot segments collapse to.
    paths = {request.path for request in cortex.state.requests}
    assert all(re.fullmatch(r"/api/v1/catalog/[^/]+/custom-events(/[^/]+)?", p) for p in paths)
    assert {request.tag for request in cortex.state.requests}.isdisjoint({".", ".."})
