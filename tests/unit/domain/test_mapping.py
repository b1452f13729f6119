"""Mapping a workload to Cortex entity tags: sources, fan-out, dedup, opt-out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from cortex_events.domain.mapping import OwnerInfo, Resolution, TagIssue, Target, resolve
from cortex_events.domain.model import ALL_EVENT_TYPES, EventType
from cortex_events.domain.quiet import PodEvents, ScaleEvents
from cortex_events.domain.specs import EntitySpec, parse_entity
from cortex_events.domain.tags import (
    MAX_ANNOTATION_CHARS,
    MAX_LISTED,
    MAX_TAGS_PER_ANNOTATION,
    TAG_RULE,
    parse_tags,
    split_tags,
    tag_problem,
)

WEB_LABELS = {"app": "web", "pod-template-hash": "5d8f7c9b4"}


def entity(name: str, spec: dict[str, Any], namespace: str = "shop") -> EntitySpec:
    result = parse_entity({"metadata": {"name": name, "namespace": namespace}, "spec": spec})
    assert isinstance(result, EntitySpec), str(result)
    return result


def owner(
    annotations: Mapping[str, str] | None = None, labels: Mapping[str, str] | None = None
) -> OwnerInfo:
    return OwnerInfo(
        name="web",
        uid="dep-uid",
        labels=dict(labels) if labels is not None else {"app": "web", "deploy": "yes"},
        annotations=dict(annotations or {}),
    )


def resolve_pod(
    annotations: Mapping[str, str] | None = None,
    *,
    pod_owner: OwnerInfo | None = None,
    entities: list[EntitySpec] | None = None,
    labels: Mapping[str, str] = WEB_LABELS,
) -> Resolution:
    return resolve(
        "Pod",
        "shop",
        "web-5d8f7c9b4-x2k9p",
        labels,
        annotations or {},
        owner=pod_owner,
        entities=entities or [],
    )


def tags(resolution: Resolution) -> list[str]:
    return [t.tag for t in resolution.targets]


def test_parse_tags_trims_drops_empties_and_dedups() -> None:
    assert parse_tags("a, b,,a") == ("a", "b")
    assert parse_tags("  ") == ()
    assert parse_tags("payments-api") == ("payments-api",)


@pytest.mark.parametrize(
    ("tag", "problem"),
    [
        ("team/svc", "it contains a slash"),
        ("my svc", "it contains whitespace"),
        ("tab\there", "it contains whitespace"),
        ("x" * 300, "it is 300 characters long"),
        ("zürich", "it contains 'ü', which is not printable ASCII"),
        ("bell\x07", "it contains '\\x07', which is not printable ASCII"),
        ("", "it is empty"),
        (".", "it is only dots, which a URL path reads as a folder"),
        ("..", "it is only dots, which a URL path reads as a folder"),
    ],
)
def test_a_tag_that_breaks_the_rule_says_which_part(tag: str, problem: str) -> None:
    assert tag_problem(tag) == problem


@pytest.mark.parametrize(
    "tag",
    ["payments-api", "svc.v2", "team_a", "svc:v2", "a#1", "50%", "who?", "x" * 253, "...", ".a"],
)
def test_tags_that_need_path_encoding_are_still_tags(tag: str) -> None:
    assert tag_problem(tag) is None


def test_split_tags_keeps_the_valid_tags_and_says_why_the_others_are_not() -> None:
    listed = split_tags("web,  team/svc , my svc, web, ,api")
    assert listed.tags == ("web", "api")
    assert listed.rejected == (
        ("team/svc", "it contains a slash"),
        ("my svc", "it contains whitespace"),
    )
    assert listed.refused


def test_an_annotation_names_at_most_16_tags_and_says_which_were_ignored() -> None:
    value = ",".join(f"t{n}" for n in range(5000))
    listed = split_tags(value)
    assert listed.tags == tuple(f"t{n}" for n in range(MAX_TAGS_PER_ANNOTATION))
    assert listed.cut, "29 KB is more than is read"
    assert 0 < listed.over_limit < 5000
    said = listed.problems()
    assert said[0].startswith("it names more than 16 tags, the most an annotation may: the ")
    assert said[0].endswith(" after 't15' are ignored")
    assert said[1] == ("it is longer than 4096 characters: only the tags within them are read")


def test_a_long_value_is_cut_at_a_comma_never_inside_a_tag() -> None:
    first = [f"{n:02}" + "a" * 248 for n in range(15)]  # 15 tags, 3765 characters with commas
    listed = split_tags(",".join([*first, "b" * 400]))  # the cut at 4096 falls inside the b's
    assert listed.tags == tuple(first)
    assert listed.cut
    assert listed.rejected == (), "the unfinished part is not read as a tag, nor as a bad one"
    exact = ",".join([*first, "c" * 253, "d" * 77])
    assert len(exact) == MAX_ANNOTATION_CHARS
    assert not split_tags(exact).cut, "4096 characters are read whole"


def test_refused_parts_are_named_up_to_five_and_the_rest_counted() -> None:
    listed = split_tags(",".join(f"bad/{n}" for n in range(40)) + ",good")
    assert listed.tags == ("good",)
    assert [tag for tag, _ in listed.rejected] == [f"bad/{n}" for n in range(MAX_LISTED)]
    assert listed.problems()[-1] == "35 more parts are no Cortex tag either"


def test_a_rejected_annotation_tag_is_reported_and_the_valid_ones_still_map() -> None:
    resolution = resolve_pod({"cortex.io/tag": "web, team/svc"})
    assert tags(resolution) == ["web"]
    (issue,) = resolution.tag_issues
    said = f"'team/svc' is not a Cortex tag: it contains a slash ({TAG_RULE})"
    assert issue == TagIssue(False, "web, team/svc", (said,))
    assert issue.describe() == f"'team/svc' is not a Cortex tag: it contains a slash ({TAG_RULE})"


def test_a_rejected_tag_on_the_deployment_is_reported_as_the_owners() -> None:
    resolution = resolve_pod(pod_owner=owner({"cortex.io/tag": "x" * 300}))
    assert resolution.targets == ()
    (issue,) = resolution.tag_issues
    assert issue.on_owner
    assert "300 characters long" in issue.describe()
    assert "no usable cortex.io/tag" in resolution.reason


def test_an_empty_annotation_is_an_issue_without_rejected_parts() -> None:
    (issue,) = resolve_pod({"cortex.io/tag": " , "}).tag_issues
    assert issue.problems == ()
    assert issue.describe() == "cortex.io/tag is empty: it names no Cortex entity"


def test_a_valid_annotation_has_no_issue() -> None:
    assert resolve_pod({"cortex.io/tag": "a, b"}).tag_issues == ()


def test_own_annotation_fans_out_with_all_types() -> None:
    resolution = resolve_pod({"cortex.io/tag": "web, checkout"})
    assert tags(resolution) == ["checkout", "web"]
    assert all(t.event_types == ALL_EVENT_TYPES for t in resolution.targets)
    assert all(t.entities == () and t.custom_data == {} for t in resolution.targets)
    assert not resolution.disabled


def test_pod_inherits_its_deployments_tag() -> None:
    resolution = resolve_pod(pod_owner=owner({"cortex.io/tag": "web"}))
    assert tags(resolution) == ["web"]
    assert "Deployment web" in resolution.reason


def test_deployment_does_not_read_an_owner() -> None:
    resolution = resolve(
        "Deployment",
        "shop",
        "web",
        {"app": "web"},
        {},
        owner=owner({"cortex.io/tag": "ignored"}),
        entities=[],
    )
    assert resolution.targets == ()


def test_same_tag_from_pod_and_deployment_counts_once() -> None:
    resolution = resolve_pod({"cortex.io/tag": "web"}, pod_owner=owner({"cortex.io/tag": "web"}))
    assert tags(resolution) == ["web"]


def test_entity_selector_and_named_workload_both_contribute() -> None:
    by_selector = entity(
        "payments", {"tag": "payments", "selector": {"matchLabels": {"app": "web"}}}
    )
    by_name = entity(
        "checkout",
        {"tag": "checkout", "workloads": [{"kind": "Pod", "name": "web-5d8f7c9b4-x2k9p"}]},
    )
    unrelated = entity("other", {"tag": "other", "selector": {"matchLabels": {"app": "db"}}})
    resolution = resolve_pod(entities=[by_selector, by_name, unrelated])
    assert tags(resolution) == ["checkout", "payments"]
    assert [t.entities for t in resolution.targets] == [("shop/checkout",), ("shop/payments",)]


def test_entities_in_other_namespaces_do_not_match() -> None:
    elsewhere = entity("payments", {"tag": "payments", "selector": {}}, namespace="billing")
    resolution = resolve_pod(entities=[elsewhere])
    assert resolution.targets == ()
    assert resolution.reason == "no cortex.io/tag and no CortexEntity matches"


def test_entity_without_selector_matches_only_named_workloads() -> None:
    named_elsewhere = entity("a", {"tag": "a", "workloads": [{"kind": "Pod", "name": "other"}]})
    assert resolve_pod(entities=[named_elsewhere]).targets == ()


def test_pod_matches_entities_of_its_deployment() -> None:
    names_deployment = entity(
        "by-name", {"tag": "web-svc", "workloads": [{"kind": "Deployment", "name": "web"}]}
    )
    selects_deployment = entity(
        "by-labels", {"tag": "deploys", "selector": {"matchLabels": {"deploy": "yes"}}}
    )
    resolution = resolve_pod(pod_owner=owner(), entities=[names_deployment, selects_deployment])
    assert tags(resolution) == ["deploys", "web-svc"]
    # Without the owner, the pod's own labels do not carry deploy=yes.
    assert resolve_pod(entities=[names_deployment, selects_deployment]).targets == ()


def test_entity_types_union_per_tag_and_an_annotation_does_not_widen_them() -> None:
    rollouts = entity("a", {"tag": "web", "selector": {}, "eventTypes": ["DEPLOYMENT_ROLLOUT"]})
    failures = entity("b", {"tag": "web", "selector": {}, "eventTypes": ["POD_FAILURE"]})
    only_entities = resolve_pod(entities=[rollouts, failures])
    assert only_entities.targets == (
        Target(
            tag="web",
            event_types=frozenset({EventType.DEPLOYMENT_ROLLOUT, EventType.POD_FAILURE}),
            custom_data={},
            entities=("shop/a", "shop/b"),
        ),
    )
    # The annotation names the same tag: the CortexEntities still decide what is recorded.
    with_annotation = resolve_pod({"cortex.io/tag": "web"}, entities=[rollouts, failures])
    assert with_annotation.targets == only_entities.targets


def test_a_cortexentity_governs_its_tag_where_only_an_annotation_maps_the_workload() -> None:
    """The README's CortexEntity selects other workloads; the Deployment's annotation names
    its tag: the entity's eventTypes, quiet-event settings and customData still apply."""
    payments = entity(
        "payments",
        {
            "tag": "payments-api",
            "selector": {"matchLabels": {"app": "payments"}},
            "eventTypes": ["DEPLOYMENT_ROLLOUT", "POD_FAILURE"],
            "scaleEvents": "all",
            "jobPodEvents": True,
            "customData": {"team": "payments"},
        },
    )
    annotated = owner({"cortex.io/tag": "payments-api"})
    resolution = resolve_pod(pod_owner=annotated, entities=[payments])
    assert resolution.targets == (
        Target(
            tag="payments-api",
            event_types=frozenset({EventType.DEPLOYMENT_ROLLOUT, EventType.POD_FAILURE}),
            custom_data={"team": "payments"},
            entities=("shop/payments",),
            scale_events=ScaleEvents.ALL,
            job_pod_events=True,
        ),
    )
    assert resolution.for_type(EventType.POD_CREATION) == ()


def test_only_the_cortexentities_of_the_workloads_namespace_and_tag_govern() -> None:
    elsewhere = entity(
        "payments", {"tag": "web", "selector": {}, "eventTypes": ["POD_FAILURE"]}, "other"
    )
    other_tag = entity("orders", {"tag": "orders", "workloads": [{"kind": "Pod", "name": "x"}],
                                  "eventTypes": ["POD_FAILURE"]})  # fmt: skip
    resolution = resolve_pod({"cortex.io/tag": "web"}, entities=[elsewhere, other_tag])
    assert resolution.targets == (
        Target(tag="web", event_types=ALL_EVENT_TYPES, custom_data={}, entities=()),
    )


def test_the_cortexentities_that_select_the_workload_decide_before_the_others_of_its_tag() -> None:
    selects = entity("a", {"tag": "web", "selector": {}, "eventTypes": ["DEPLOYMENT_ROLLOUT"]})
    names_another = entity("b", {"tag": "web", "workloads": [{"kind": "Pod", "name": "other"}],
                                 "eventTypes": ["POD_FAILURE"]})  # fmt: skip
    resolution = resolve_pod({"cortex.io/tag": "web"}, entities=[selects, names_another])
    assert resolution.targets[0].entities == ("shop/a",)
    assert resolution.targets[0].event_types == frozenset({EventType.DEPLOYMENT_ROLLOUT})


def test_resolution_for_type_filters_targets() -> None:
    failures = entity("b", {"tag": "oncall", "selector": {}, "eventTypes": ["POD_FAILURE"]})
    resolution = resolve_pod({"cortex.io/tag": "web"}, entities=[failures])
    assert [t.tag for t in resolution.for_type(EventType.POD_FAILURE)] == ["oncall", "web"]
    assert [t.tag for t in resolution.for_type(EventType.POD_CREATION)] == ["web"]


def test_custom_data_merges_in_entity_key_order() -> None:
    first = entity("a-team", {"tag": "web", "selector": {}, "customData": {"team": "a", "x": 1}})
    second = entity("b-team", {"tag": "web", "selector": {}, "customData": {"team": "b"}})
    # Passed in reverse order: the merge still follows the keys (b-team wins on "team").
    resolution = resolve_pod(entities=[second, first])
    assert resolution.targets[0].custom_data == {"team": "b", "x": 1}


def test_opt_out_on_pod() -> None:
    everything = entity("all", {"tag": "all", "selector": {}})
    resolution = resolve_pod(
        {"cortex.io/tag": "web", "cortex.io/events": "disabled"}, entities=[everything]
    )
    assert resolution.disabled
    assert resolution.targets == ()
    assert resolution.reason == (
        "opted out by cortex.io/events=disabled on Pod web-5d8f7c9b4-x2k9p"
    )


def test_opt_out_on_owning_deployment_covers_its_pods() -> None:
    resolution = resolve_pod(
        {"cortex.io/tag": "web"}, pod_owner=owner({"cortex.io/events": "DISABLED"})
    )
    assert resolution.disabled
    assert resolution.targets == ()
    assert resolution.reason == "opted out by cortex.io/events=disabled on Deployment web"


def test_other_events_annotation_values_do_not_opt_out() -> None:
    resolution = resolve_pod({"cortex.io/tag": "web", "cortex.io/events": "enabled"})
    assert not resolution.disabled
    assert tags(resolution) == ["web"]


def test_specs_targets_and_resolutions_are_hashable() -> None:
    spec = entity("a", {"tag": "web", "selector": {"matchLabels": {"app": "web"}}})
    again = entity("a", {"tag": "web", "selector": {"matchLabels": {"app": "web"}}})
    assert {spec, again} == {spec}
    resolution = resolve_pod({"cortex.io/tag": "web"}, pod_owner=owner(), entities=[spec])
    assert len({resolution, resolution}) == 1


def cronjob_chain(
    annotations: Mapping[str, str] | None = None, labels: Mapping[str, str] | None = None
) -> OwnerInfo:
    """A Job of CronJob ``nightly``, as a Pod of that Job sees its owners."""
    cron = OwnerInfo("nightly", "cj-uid", dict(labels or {"app": "nightly"}),
                     dict(annotations or {}), "CronJob")  # fmt: skip
    return OwnerInfo("nightly-29000000", "job-uid", {"job-name": "nightly-29000000"}, {}, "Job",
                     cron)  # fmt: skip


def test_the_pods_of_a_cronjob_s_jobs_map_to_the_cronjob_s_tag() -> None:
    resolution = resolve_pod(pod_owner=cronjob_chain({"cortex.io/tag": "reports"}))
    assert tags(resolution) == ["reports"]
    assert resolution.reason == "mapped by cortex.io/tag on CronJob nightly"


def test_an_entity_naming_a_cronjob_maps_its_jobs_and_their_pods() -> None:
    named = entity("reports", {"tag": "reports", "workloads": [{"kind": "CronJob",
                                                               "name": "nightly"}]})  # fmt: skip
    job = resolve(
        "Job", "shop", "nightly-29000000", {}, {}, owner=cronjob_chain().owner, entities=[named]
    )
    assert tags(job) == ["reports"]
    assert tags(resolve_pod(pod_owner=cronjob_chain(), entities=[named])) == ["reports"]


def test_a_bad_tag_on_a_cronjob_is_reported_on_the_cronjob() -> None:
    (issue,) = resolve_pod(pod_owner=cronjob_chain({"cortex.io/tag": "a b"})).tag_issues
    assert issue.on_owner
    assert issue.owner is not None
    assert (issue.owner.kind, issue.owner.name) == ("CronJob", "nightly")


@pytest.mark.parametrize("where", ["annotations", "labels"])
def test_the_opt_out_label_or_annotation_on_any_owner_covers_the_pod(where: str) -> None:
    disabled = {"cortex.io/events": "disabled"}
    chain = cronjob_chain(
        {"cortex.io/tag": "reports", **(disabled if where == "annotations" else {})},
        labels=disabled if where == "labels" else None,
    )
    resolution = resolve_pod(pod_owner=chain)
    assert resolution.disabled
    assert resolution.reason == "opted out by cortex.io/events=disabled on CronJob nightly"


def test_the_opt_out_label_on_the_workload_itself() -> None:
    resolution = resolve_pod({"cortex.io/tag": "web"}, labels={"cortex.io/events": "disabled"})
    assert resolution.disabled


def test_quiet_settings_of_several_entities_on_one_tag_merge() -> None:
    quiet = entity("a", {"tag": "web", "selector": {}, "scaleEvents": "manual"})
    loud = entity("b", {"tag": "web", "selector": {}, "scaleEvents": "all", "jobPodEvents": True})
    (target,) = resolve_pod(entities=[quiet, loud]).targets
    assert target.scale_events is ScaleEvents.ALL
    assert target.job_pod_events is True
    (annotated,) = resolve_pod({"cortex.io/tag": "web"}).targets
    assert (annotated.scale_events, annotated.job_pod_events) == (None, None)


@pytest.mark.parametrize(
    ("modes", "merged"),
    [
        (["summary", "auto"], PodEvents.AUTO),
        (["summary", "each", "auto"], PodEvents.EACH),
        (["summary"], PodEvents.SUMMARY),
        ([None, "summary"], PodEvents.SUMMARY),
        ([None], None),
    ],
)
def test_pod_events_of_several_entities_on_one_tag_the_most_verbose_wins(
    modes: list[str | None], merged: PodEvents | None
) -> None:
    entities = [
        entity(f"e{n}", {"tag": "web", "selector": {}, **({"podEvents": m} if m else {})})
        for n, m in enumerate(modes)
    ]
    (target,) = resolve_pod(entities=entities).targets
    assert target.pod_events is merged
