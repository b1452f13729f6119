"""The stand-in API server's reading of x-kubernetes-validations rules: the CEL this project's
CRD is written in, refused rather than skipped beyond it."""

from __future__ import annotations

import pytest

from cortex_events.kube.crd import crd_manifest
from cortex_events_sim.kubeapi.rules import RuleError, compile_rule, rule_violations
from cortex_events_sim.kubectl import ApiException, Kubectl
from cortex_events_sim.server_thread import serve_in_thread
from cortex_events_sim.workloads import cortex_entity


def _rules(schema: object) -> list[str]:
    found: list[str] = []
    if isinstance(schema, dict):
        found += [rule["rule"] for rule in schema.get("x-kubernetes-validations") or []]
        for value in schema.values():
            found += _rules(value)
    elif isinstance(schema, list):
        for value in schema:
            found += _rules(value)
    return found


def test_every_rule_of_the_crd_is_read() -> None:
    rules = _rules(crd_manifest())
    assert len(rules) >= 7
    for rule in rules:
        compile_rule(rule)


@pytest.mark.parametrize(
    ("rule", "value", "holds"),
    [
        ("self.matches('^a+$')", "aaa", True),
        ("self.matches('b')", "abc", True),  # a search, as RE2's matches is
        ("!self.matches('\\\\s')", "a b", False),
        ("self.contains(',') || self.size() > 3", "abcd", True),
        ("self != '.' && self != '..'", "..", False),
        ("!(self == 'x' || self == 'y')", "y", False),
        ("self.startsWith('a') && self.endsWith(\"z\")", "abcz", True),
        ("duration(self) >= duration('1m') && duration(self) <= duration('2h')", "90m", True),
        ("duration(self) <= duration('2h')", "3h", False),
        ("duration(self) <= duration('2h')", "banana", False),  # an error refuses it
    ],
)
def test_rules_mean_what_cel_says(rule: str, value: str, holds: bool) -> None:
    broken = rule_violations(value, {"x-kubernetes-validations": [{"rule": rule}]})
    assert (not broken) == holds


@pytest.mark.parametrize(
    "rule", ["self.all(k, k.size() < 5)", "has(self.a)", "self.size() + 1 > 2", "self.x()"]
)
def test_a_rule_beyond_what_is_read_is_refused_not_skipped(rule: str) -> None:
    with pytest.raises(RuleError):
        compile_rule(rule)


def test_the_stand_in_refuses_a_cortexentity_as_the_real_server_words_it() -> None:
    with serve_in_thread(namespaces=("shop",)) as server, Kubectl(server.kubeconfig("u")) as k:
        with pytest.raises(ApiException) as refused:
            k.create(cortex_entity("bad", "team/svc", namespace="shop", retention="30s"))
        k.create(cortex_entity("good", "svc", namespace="shop", retention="720h"))
    body = refused.value.body or ""
    assert refused.value.status == 422
    assert (
        'spec.tag: Invalid value: \\"team/svc\\": is not a Cortex tag: it contains a slash' in body
    )
    assert 'spec.retention: Invalid value: \\"30s\\": must be from 1m to 87600h (10 years)' in body
