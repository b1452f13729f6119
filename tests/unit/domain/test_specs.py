"""CortexEntity validation, label selectors and durations."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from cortex_events.domain.durations import parse_duration
from cortex_events.domain.model import ALL_EVENT_TYPES, EventType
from cortex_events.domain.quiet import PodEvents, ScaleEvents
from cortex_events.domain.selectors import LabelRequirement, LabelSelector, parse_selector
from cortex_events.domain.specs import (
    WORKLOAD_KINDS,
    EntitySpec,
    SpecError,
    parse_entity,
)
from cortex_events.domain.tags import TAG_RULE, tag_problem
from cortex_events.kube.crd import crd_manifest
from cortex_events_sim.kubeapi.rules import rule_violations
from tests.support.hostile import TAG_SAMPLES, nested


def entity(spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    meta = {"name": "payments", "namespace": "shop", "uid": "cxe-uid-1", "generation": 3}
    meta.update(metadata)
    return {
        "apiVersion": "cortex.io/v1alpha1",
        "kind": "CortexEntity",
        "metadata": meta,
        "spec": spec,
    }


def parsed(spec: dict[str, Any]) -> EntitySpec:
    result = parse_entity(entity(spec))
    assert isinstance(result, EntitySpec), str(result)
    return result


def error(spec: dict[str, Any]) -> SpecError:
    result = parse_entity(entity(spec))
    assert isinstance(result, SpecError), result
    return result


def test_full_spec_parses() -> None:
    spec = parsed(
        {
            "tag": "payments-api",
            "selector": {
                "matchLabels": {"app": "payments"},
                "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["api", "worker"]},
                    {"key": "canary", "operator": "DoesNotExist"},
                ],
            },
            "workloads": [{"kind": "Deployment", "name": "payments-api"}],
            "eventTypes": ["DEPLOYMENT_ROLLOUT", "POD_FAILURE"],
            "customData": {"team": "payments", "tier": {"level": 1}},
            "retention": "720h",
            "cleanupOnDelete": True,
        }
    )
    assert spec.key == "shop/payments"
    assert (spec.uid, spec.generation, spec.tag) == ("cxe-uid-1", 3, "payments-api")
    assert spec.workloads == frozenset({("Deployment", "payments-api")})
    assert spec.event_types == {EventType.DEPLOYMENT_ROLLOUT, EventType.POD_FAILURE}
    assert spec.custom_data == {"team": "payments", "tier": {"level": 1}}
    assert spec.retention == timedelta(hours=720)
    assert spec.cleanup_on_delete is True
    assert spec.selector == LabelSelector(
        {"app": "payments"},
        (
            LabelRequirement("tier", "In", frozenset({"api", "worker"})),
            LabelRequirement("canary", "DoesNotExist"),
        ),
    )


def test_minimal_spec_gets_defaults() -> None:
    spec = parsed({"tag": "web"})
    assert spec.selector is None
    assert spec.workloads == frozenset()
    assert spec.event_types == ALL_EVENT_TYPES
    assert spec.custom_data == {}
    assert spec.retention is None
    assert spec.cleanup_on_delete is False


def test_custom_data_is_a_copy() -> None:
    raw: dict[str, Any] = {"tag": "web", "customData": {"team": "a"}}
    spec = parsed(raw)
    raw["customData"]["team"] = "b"
    assert spec.custom_data == {"team": "a"}


# Each bound of a CortexEntity (cortex_events.domain.bounds), one past it.
BOUNDS: list[tuple[dict[str, Any], str, str]] = [
    (
        {"tag": "t", "workloads": [{"kind": "Pod", "name": f"p{n}"} for n in range(65)]},
        "spec.workloads",
        "has 65 entries (a selector maps any number), more than the 64 allowed",
    ),
    (
        {"tag": "t", "selector": {"matchLabels": {f"k{n}": "v" for n in range(33)}}},
        "spec.selector.matchLabels",
        "has 33 labels, more than the 32 allowed",
    ),
    (
        {"tag": "t", "selector": {"matchExpressions": [{"key": "a", "operator": "Exists"}] * 17}},
        "spec.selector.matchExpressions",
        "has 17 entries, more than the 16 allowed",
    ),
    (
        {
            "tag": "t",
            "selector": {
                "matchExpressions": [
                    {"key": "a", "operator": "In", "values": [f"v{n}" for n in range(65)]}
                ]
            },
        },
        "spec.selector.matchExpressions[0].values",
        "has 65 values, more than the 64 allowed",
    ),
    (
        {"tag": "t", "customData": {f"k{n}": n for n in range(33)}},
        "spec.customData",
        "has 33 keys, more than the 32 allowed",
    ),
    (
        {"tag": "t", "customData": {"k" * 129: 1}},
        "spec.customData",
        "must be 1 to 128 characters",
    ),
    (
        {"tag": "t", "customData": {"blob": "x" * 2040}},
        "spec.customData",
        "is 2051 bytes as JSON, more than the 2048 every event may carry",
    ),
    (
        {"tag": "t", "customData": {"text": "é" * 1020}},
        "spec.customData",
        "is 2051 bytes as JSON",
    ),
    ({"tag": "t", "customData": nested(9)}, "spec.customData", "deeper than 8"),
    ({"tag": "t", "customData": nested(50_000)}, "spec.customData", "deeper than 8"),
    (
        {"tag": "t", "retention": "24000000000h"},
        "spec.retention",
        "'24000000000h' is longer than the maximum of 87600h",
    ),
    ({"tag": "t", "retention": "87600h1s"}, "spec.retention", "maximum of 87600h"),
    ({"tag": "t", "retention": "9" * 400 + "s"}, "spec.retention", "more than 64 characters"),
    (
        {"tag": "t", "deploys": {"environment": "e" * 254}},
        "spec.deploys.environment",
        "is 254 characters long, more than 253",
    ),
    ({"tag": "."}, "spec.tag", "only dots"),
    ({"tag": ".."}, "spec.tag", "only dots"),
]


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        ({}, "spec.tag", "required"),
        ({"tag": ""}, "spec.tag", "empty"),
        ({"tag": "   "}, "spec.tag", "empty"),
        ({"tag": "a,b"}, "spec.tag", "it contains a comma"),
        ({"tag": "a b"}, "spec.tag", "it contains whitespace"),
        ({"tag": "  my svc "}, "spec.tag", "it contains whitespace"),
        ({"tag": "team/svc"}, "spec.tag", "it contains a slash"),
        ({"tag": "café"}, "spec.tag", "not printable ASCII"),
        ({"tag": 7}, "spec.tag", "string"),
        ({"tag": "x" * 254}, "spec.tag", "254 characters long"),
        ({"tag": "t", "selector": "app=web"}, "spec.selector", "object"),
        ({"tag": "t", "selector": {"app": "web"}}, "spec.selector.app", "unknown field"),
        (
            {"tag": "t", "selector": {"matchLabels": {"bad key!": "x"}}},
            "spec.selector.matchLabels",
            "invalid label key",
        ),
        (
            {"tag": "t", "selector": {"matchLabels": {"app": "not valid"}}},
            "spec.selector.matchLabels.app",
            "invalid label value",
        ),
        (
            {"tag": "t", "selector": {"matchExpressions": [{"key": "a", "operator": "In"}]}},
            "spec.selector.matchExpressions[0].values",
            "needs at least one value",
        ),
        (
            {
                "tag": "t",
                "selector": {
                    "matchExpressions": [
                        {"key": "a", "operator": "Exists"},
                        {"key": "b", "operator": "NotIn", "values": []},
                    ]
                },
            },
            "spec.selector.matchExpressions[1].values",
            "needs at least one value",
        ),
        (
            {
                "tag": "t",
                "selector": {
                    "matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]
                },
            },
            "spec.selector.matchExpressions[0].values",
            "takes no values",
        ),
        (
            {
                "tag": "t",
                "selector": {"matchExpressions": [{"key": "a", "operator": "Equals"}]},
            },
            "spec.selector.matchExpressions[0].operator",
            "must be one of",
        ),
        (
            {
                "tag": "t",
                "selector": {"matchExpressions": [{"key": "-a", "operator": "Exists"}]},
            },
            "spec.selector.matchExpressions[0].key",
            "invalid label key",
        ),
        (
            {
                "tag": "t",
                "selector": {
                    "matchExpressions": [{"key": "a", "operator": "In", "values": ["ok", "no way"]}]
                },
            },
            "spec.selector.matchExpressions[0].values[1]",
            "invalid label value",
        ),
        (
            {"tag": "t", "selector": {"matchExpressions": {"key": "a"}}},
            "spec.selector.matchExpressions",
            "list",
        ),
        (
            {"tag": "t", "workloads": [{"kind": "ReplicaSet", "name": "db"}]},
            "spec.workloads[0].kind",
            "must be one of CronJob, DaemonSet, Deployment, Job, Pod, Rollout, StatefulSet",
        ),
        (
            {"tag": "t", "workloads": [{"kind": "Pod", "name": "ok"}, {"kind": "Pod"}]},
            "spec.workloads[1].name",
            "required",
        ),
        (
            {"tag": "t", "workloads": [{"kind": "Pod", "name": "Not_Valid"}]},
            "spec.workloads[0].name",
            "not a valid",
        ),
        ({"tag": "t", "workloads": "web"}, "spec.workloads", "list"),
        (
            {"tag": "t", "eventTypes": ["POD_CREATION", "POD_EXPLODED"]},
            "spec.eventTypes[1]",
            "unknown event type 'POD_EXPLODED'",
        ),
        ({"tag": "t", "eventTypes": []}, "spec.eventTypes", "at least one"),
        ({"tag": "t", "customData": ["a"]}, "spec.customData", "object"),
        ({"tag": "t", "customData": {"x": float("nan")}}, "spec.customData", "JSON"),
        ({"tag": "t", "retention": "30d"}, "spec.retention", "days are not supported"),
        ({"tag": "t", "retention": "forever"}, "spec.retention", "720h"),
        ({"tag": "t", "retention": "30s"}, "spec.retention", "minimum of 1m"),
        ({"tag": "t", "retention": 3600}, "spec.retention", "duration string"),
        ({"tag": "t", "cleanupOnDelete": "yes"}, "spec.cleanupOnDelete", "true or false"),
        ({"tag": "t", "scaleEvents": "some"}, "spec.scaleEvents", "all, manual or summary"),
        ({"tag": "t", "jobPodEvents": "no"}, "spec.jobPodEvents", "true or false"),
        ({"tag": "t", "podEvents": "some"}, "spec.podEvents", "each, summary or auto"),
        *BOUNDS,
    ],
)
def test_spec_errors_name_the_field(spec: dict[str, Any], field: str, words: str) -> None:
    problem = error(spec)
    assert problem.field == field
    assert words in problem.message
    assert str(problem).startswith(f"{field}: ")


def test_the_crd_schema_and_the_operator_apply_one_tag_rule() -> None:
    # The CRD's rules as the stand-in API server evaluates them; the real-cluster suite
    # checks the same samples against the real API server's CEL.
    (version,) = crd_manifest()["spec"]["versions"]
    schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["tag"]
    assert "pattern" not in schema, "a pattern's error quotes a raw regular expression"
    for tag in TAG_SAMPLES:
        by_schema = schema["minLength"] <= len(tag) <= schema["maxLength"] and not (
            rule_violations(tag, schema)
        )
        assert by_schema == (tag_problem(tag) is None), repr(tag)


@pytest.mark.parametrize(
    ("tag", "said"),
    [
        ("team/svc", "it contains a slash"),
        ("a,b", "it contains a comma"),
        ("my svc", "it contains whitespace"),
        ("café", "it contains a character that is not printable ASCII"),
        (".", "it is only dots, which a URL path reads as a folder"),
        ("..", "it is only dots, which a URL path reads as a folder"),
    ],
)
def test_the_crd_says_each_tag_problem_in_words(tag: str, said: str) -> None:
    (version,) = crd_manifest()["spec"]["versions"]
    schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["tag"]
    ((_, cause),) = rule_violations(tag, schema)
    assert cause.startswith(f"Invalid value: {json.dumps(tag, ensure_ascii=False)}: ")
    assert f"is not a Cortex tag: {said} ({TAG_RULE})" in cause


def test_missing_spec_or_metadata_is_an_error() -> None:
    no_spec = parse_entity({"metadata": {"name": "a", "namespace": "shop"}})
    assert isinstance(no_spec, SpecError)
    assert no_spec.field == "spec"
    no_ns = parse_entity({"metadata": {"name": "a"}, "spec": {"tag": "t"}})
    assert isinstance(no_ns, SpecError)
    assert no_ns.field == "metadata.namespace"


def test_retention_minimum_and_maximum_are_accepted() -> None:
    assert parsed({"tag": "t", "retention": "1m"}).retention == timedelta(minutes=1)
    assert parsed({"tag": "t", "retention": "87600h"}).retention == timedelta(hours=87_600)


def test_each_bound_itself_is_accepted() -> None:
    spec = parsed(
        {
            "tag": "t",
            "workloads": [{"kind": "Pod", "name": f"p{n}"} for n in range(64)],
            "selector": {
                "matchLabels": {f"k{n}": "v" for n in range(32)},
                "matchExpressions": [
                    {"key": "a", "operator": "In", "values": [f"v{n}" for n in range(64)]}
                ]
                * 16,
            },
            "customData": {"k" * 128: nested(7), "blob": "x" * 1800},
            "deploys": {"environment": "e" * 253},
        }
    )
    assert len(spec.workloads) == 64


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("720h", timedelta(hours=720)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("90s", timedelta(seconds=90)),
        ("1.5h", timedelta(minutes=90)),
        ("2h0m5s", timedelta(hours=2, seconds=5)),
        ("250ms", timedelta(milliseconds=250)),
        ("0", timedelta(0)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "h", "10", "5 m", "-1h", "1h30", "1y", "7d"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


LABELS = {"app": "web", "tier": "api", "team": "shop"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        (LabelSelector(), True),
        (LabelSelector({"app": "web"}), True),
        (LabelSelector({"app": "web", "tier": "worker"}), False),
        (LabelSelector({"missing": ""}), False),
        (
            LabelSelector(match_expressions=(LabelRequirement("tier", "In", frozenset({"api"})),)),
            True,
        ),
        (
            LabelSelector(match_expressions=(LabelRequirement("tier", "In", frozenset({"x"})),)),
            False,
        ),
        (
            LabelSelector(match_expressions=(LabelRequirement("tier", "NotIn", frozenset({"x"})),)),
            True,
        ),
        (
            LabelSelector(
                match_expressions=(LabelRequirement("tier", "NotIn", frozenset({"api"})),)
            ),
            False,
        ),
        (
            LabelSelector(match_expressions=(LabelRequirement("zone", "NotIn", frozenset({"a"})),)),
            True,
        ),
        (
            LabelSelector(match_expressions=(LabelRequirement("zone", "In", frozenset({"a"})),)),
            False,
        ),
        (LabelSelector(match_expressions=(LabelRequirement("team", "Exists"),)), True),
        (LabelSelector(match_expressions=(LabelRequirement("zone", "Exists"),)), False),
        (LabelSelector(match_expressions=(LabelRequirement("zone", "DoesNotExist"),)), True),
        (LabelSelector(match_expressions=(LabelRequirement("team", "DoesNotExist"),)), False),
        (
            LabelSelector({"app": "web"}, (LabelRequirement("canary", "DoesNotExist"),)),
            True,
        ),
    ],
)
def test_selector_semantics(selector: LabelSelector, matches: bool) -> None:
    assert selector.matches(LABELS) is matches


def test_empty_selector_matches_but_absent_selector_does_not() -> None:
    everything = parsed({"tag": "t", "selector": {}})
    nothing = parsed({"tag": "t"})
    assert everything.matches("Pod", "any", {"x": "y"})
    assert not nothing.matches("Pod", "any", {"x": "y"})


def test_named_workloads_match_by_kind_and_name() -> None:
    spec = parsed({"tag": "t", "workloads": [{"kind": "Deployment", "name": "web"}]})
    assert spec.matches("Deployment", "web", {})
    assert not spec.matches("Pod", "web", {})
    assert not spec.matches("Deployment", "api", {})


def test_quiet_settings_parse_and_stay_unset_when_absent() -> None:
    spec = parse_entity(entity({"tag": "t", "scaleEvents": "manual", "jobPodEvents": True}))
    assert isinstance(spec, EntitySpec)
    assert (spec.scale_events, spec.job_pod_events) == (ScaleEvents.MANUAL, True)
    plain = parse_entity(entity({"tag": "t"}))
    assert isinstance(plain, EntitySpec)
    assert (plain.scale_events, plain.job_pod_events, plain.pod_events) == (None, None, None)
    folded = parse_entity(entity({"tag": "t", "podEvents": "summary"}))
    assert isinstance(folded, EntitySpec)
    assert folded.pod_events is PodEvents.SUMMARY


def test_the_crd_and_the_operator_know_the_same_kinds_types_and_scale_modes() -> None:
    (version,) = crd_manifest()["spec"]["versions"]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert set(spec["workloads"]["items"]["properties"]["kind"]["enum"]) == WORKLOAD_KINDS
    assert set(spec["eventTypes"]["items"]["enum"]) == {t.value for t in EventType}
    assert set(spec["scaleEvents"]["enum"]) == {mode.value for mode in ScaleEvents}
    assert set(spec["podEvents"]["enum"]) == {mode.value for mode in PodEvents}


@pytest.mark.parametrize(
    ("text", "labels", "matches"),
    [
        ("env=prod,tier!=cache", {"env": "prod"}, True),
        ("env=prod,tier!=cache", {"env": "prod", "tier": "cache"}, False),
        ("team in (a, b),region notin (x)", {"team": "b", "region": "y"}, True),
        ("team in (a, b)", {"team": "c"}, False),
        ("owner,!legacy", {"owner": "me"}, True),
        ("owner,!legacy", {"owner": "me", "legacy": "1"}, False),
        ("cortex.io/record==true", {"cortex.io/record": "true"}, True),
    ],
)
def test_a_selector_in_kubectl_syntax(text: str, labels: dict[str, str], matches: bool) -> None:
    assert parse_selector(text).matches(labels) is matches


@pytest.mark.parametrize("text", ["a b", "!x=y", "x in ()", "-bad=1", "k=v v"])
def test_a_selector_that_cannot_be_read_says_which_part(text: str) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        parse_selector(text)
