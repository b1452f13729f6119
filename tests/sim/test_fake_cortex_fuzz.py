"""Property tests of the emulator's request validation: whatever arrives, a 400 naming its
cause or a documented answer, never a 500.

Two levels. The rules alone (`validation`, the admin API's fault parsing) on any JSON and any
query: they take a value or raise the one error the API answers 400, nothing else. Then whole
requests over HTTP against a running emulator, each judged by Cortex's OpenAPI description
(`tests.support.openapi`): a request that breaks it must get a 400, one that keeps it must not,
and every answer must be one the description documents (or `KEPT`). The emulator's few rules
beyond the description, and its few leniencies, are modelled here by name.
"""

from __future__ import annotations

import json
import math
import string
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from cortex_events_sim.fake_cortex import run_in_thread
from cortex_events_sim.fake_cortex.admin import _arm
from cortex_events_sim.fake_cortex.faults import Faults
from cortex_events_sim.fake_cortex.validation import (
    DEPLOY_TYPES,
    DeployFilter,
    DeployInput,
    EventFilter,
    EventInput,
    InvalidRequest,
    Page,
    parse_body_time,
)
from tests.support.openapi import Contract, contract_or_skip, date_time, load_contract

T = TypeVar("T")
KEY = "fuzz-key"
CONTRACT = load_contract()
RULES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
OVER_HTTP = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# -- values -------------------------------------------------------------------------------


def _two(low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(lambda n: f"{n:02d}")


zones = st.one_of(
    st.just(""),
    st.sampled_from(["Z", "z"]),
    st.builds(lambda s, h, m: f"{s}{h}:{m}", st.sampled_from("+-"), _two(0, 25), _two(0, 61)),
    st.builds(lambda s, h: f"{s}{h}", st.sampled_from("+-"), _two(0, 14)),
)
date_times = st.builds(
    lambda y, mo, d, sep, h, mi, s, frac, zone: f"{y}-{mo}-{d}{sep}{h}:{mi}:{s}{frac}{zone}",
    st.one_of(st.integers(0, 9999).map(lambda n: f"{n:04d}"), st.sampled_from(["0001", "9999"])),
    _two(0, 13),
    _two(0, 32),
    st.sampled_from(["T", "t", " ", "T", "T"]),
    _two(0, 25),
    _two(0, 61),
    _two(0, 61),
    st.one_of(st.just(""), st.text(string.digits, min_size=1, max_size=10).map(lambda f: "." + f)),
    zones,
)
texts = st.text(max_size=12)
numbers_as_text = st.one_of(
    st.integers(-(2**40), 2**40).map(str),
    st.sampled_from(["0", "250", "1000", "1001", "-1", "+5", "1_0", " 1", "\u0661", "1e3", ""]),
)
query_values = st.one_of(
    date_times, numbers_as_text, st.sampled_from([*DEPLOY_TYPES, "deploy", ""]), texts
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | texts | date_times,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=12,
)
field_values = st.one_of(texts, date_times, json_values)
FIELDS = ("title", "type", "timestamp", "description", "url", "sha", "environment", "deployer",
          "customData")  # fmt: skip
bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "title": field_values,
            "type": st.one_of(st.sampled_from([*DEPLOY_TYPES, "POD_CREATION", " "]), json_values),
            "timestamp": st.one_of(date_times, json_values),
            "description": field_values,
            "url": field_values,
            "sha": field_values,
            "environment": field_values,
            "deployer": st.one_of(
                st.fixed_dictionaries({}, optional={"email": field_values, "name": field_values}),
                json_values,
            ),
            "customData": json_values,
            "other": json_values,
        },
    ),
)
instants = st.builds(
    lambda moment, minutes: moment.replace(tzinfo=timezone(timedelta(minutes=minutes))),
    st.datetimes(datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59)),
    st.integers(-1439, 1439),
).map(lambda moment: moment.isoformat().replace("+00:00", "Z"))
valid_bodies = st.fixed_dictionaries(
    {
        "title": st.text(min_size=1, max_size=20),
        "type": st.sampled_from([*DEPLOY_TYPES, "POD_CREATION"]),
        "timestamp": instants,
    },
    optional={
        "description": texts,
        "url": texts,
        "sha": texts,
        "environment": texts,
        "deployer": st.fixed_dictionaries({}, optional={"email": texts, "name": texts}),
        "customData": st.dictionaries(texts, json_values, max_size=3),
    },
)
near_valid_bodies = st.one_of(
    valid_bodies,
    st.builds(
        lambda b, k, v: {**b, k: v}, valid_bodies, st.sampled_from(list(FIELDS)), field_values
    ),
)
queries = st.dictionaries(
    st.one_of(
        st.sampled_from(
            ["page", "pageSize", "type", "startTime", "endTime", "timestamp", "sha", "environment"]
        ),
        texts,
    ),
    query_values,
    max_size=5,
)

# -- the rules alone ----------------------------------------------------------------------


def outcome(rules: Callable[[Any], T], value: Any) -> tuple[T | None, str | None]:
    """What ``rules`` make of ``value``, or the message of its refusal (anything else that
    it raises fails the test)."""
    try:
        return rules(value), None
    except InvalidRequest as refusal:
        return None, str(refusal)


@RULES
@given(bodies)
@example({"title": "t", "type": "DEPLOY", "timestamp": "0001-01-01T00:00:00+01:00"})
def test_a_body_is_taken_or_refused_with_a_message(body: Any) -> None:
    readers: list[Callable[[Any], EventInput | DeployInput]] = [
        EventInput.from_body,
        DeployInput.from_body,
    ]
    for rules in readers:
        taken, refusal = outcome(rules, body)
        assert refusal != ""
        if taken is not None:
            assert taken.timestamp.utcoffset() == timedelta(0)


@RULES
@given(st.one_of(date_times, texts))
@example("0001-01-01T00:00:00+01:00")
@example("9999-12-31T23:59:59-00:01")
def test_a_timestamp_is_taken_only_as_rfc_3339_and_means_the_instant_written(text: str) -> None:
    parsed, refusal = outcome(parse_body_time, text)
    assert refusal != ""
    if parsed is None:
        return
    assert date_time(text, zone=None), f"taken although not RFC 3339: {text!r}"
    assert parsed.tzinfo is UTC
    # The instant is the one written: the same fields once its own offset is applied.
    local = parsed.astimezone(_offset(text)).replace(tzinfo=None, microsecond=0)
    assert local.isoformat().lower() == text[:19].lower()


@RULES
@given(queries)
def test_a_query_is_taken_or_refused_with_a_message(query: dict[str, str]) -> None:
    for rules in (EventFilter.from_query, DeployFilter.from_query, Page.from_query):
        assert outcome(rules, query)[1] != ""


@RULES
@given(json_values | st.dictionaries(st.sampled_from(["kind", "count", "status", "seconds",
                                                      "retry_after", "form", "on", "drop",
                                                      "method", "path"]), json_values))  # fmt: skip
@example({"kind": "fail", "count": math.inf})
def test_a_fault_is_armed_or_refused_and_a_refused_one_arms_nothing(spec: Any) -> None:
    faults = Faults()
    try:
        _arm(faults, spec)
    except (ValueError, TypeError, KeyError):
        assert (faults.pending(), faults.in_outage) == (0, False)


# -- whole requests, judged by the description --------------------------------------------

OPERATIONS = [
    ("GET", "/api/v1/catalog/{tagOrId}/custom-events"),
    ("POST", "/api/v1/catalog/{tagOrId}/custom-events"),
    ("DELETE", "/api/v1/catalog/{tagOrId}/custom-events"),
    ("GET", "/api/v1/catalog/{tagOrId}/custom-events/{uuid}"),
    ("PUT", "/api/v1/catalog/{tagOrId}/custom-events/{uuid}"),
    ("DELETE", "/api/v1/catalog/{tagOrId}/custom-events/{uuid}"),
    ("GET", "/api/v1/catalog/{tagOrId}/deploys"),
    ("POST", "/api/v1/catalog/{tagOrId}/deploys"),
    ("DELETE", "/api/v1/catalog/{tagOrId}/deploys"),
    ("PUT", "/api/v1/catalog/{tagOrId}/deploys/{uuid}"),
    ("DELETE", "/api/v1/catalog/{tagOrId}/deploys/{uuid}"),
    ("DELETE", "/api/v1/catalog/deploys"),
]
"""Every operation the emulator serves (the deletes across every entity but ``.../all``,
which takes nothing to check)."""

segments = st.text(st.characters(codec="utf-8", exclude_characters="/"), min_size=1, max_size=10)
uuids = st.one_of(st.uuids().map(str), st.uuids().map(lambda u: str(u).upper()), segments)
raw_bodies = st.sampled_from([b"", b"{", b"null", b"[1, NaN]", b"\xff\xfe", b'{"a": 1}'])


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with (
        run_in_thread(api_key=KEY) as fake,
        httpx.Client(
            base_url=fake.base_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=10
        ) as client,
    ):
        yield client


def _offset(text: str) -> timezone:
    zone = text[19:].lstrip(".0123456789")
    if zone in ("", "Z", "z"):
        return UTC
    sign = -1 if zone[0] == "-" else 1
    return timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))


def _beyond_utc(text: object) -> bool:
    """An RFC 3339 date-time whose instant falls outside the years 1 to 9999 in UTC."""
    if not isinstance(text, str) or not date_time(text, zone=None):
        return False
    try:
        datetime.fromisoformat(text[:19]).replace(tzinfo=_offset(text)).astimezone(UTC)
    except OverflowError:
        return True
    return False


def emulator_also_refuses(method: str, template: str, query: dict[str, str], body: Any) -> bool:
    """The emulator's rules beyond the description: a blank title or type, an instant it
    cannot hold, and a delete across entities without a filter (which the description's 400
    tells of in words)."""
    if template == "/api/v1/catalog/deploys":
        return not {"sha", "environment", "type"} & set(query)
    if not isinstance(body, dict) or method not in ("POST", "PUT"):
        return False
    blank = any(isinstance(body.get(k), str) and not body[k].strip() for k in ("title", "type"))
    return blank or _beyond_utc(body.get("timestamp"))


def _without_nulls(body: Any) -> Any:
    """Cortex reads a null field as an absent one (its CLI sends ``"url": null``); the
    description, written without ``nullable``, would call it a wrong type."""
    if not isinstance(body, dict):
        return body
    kept = {k: v for k, v in body.items() if v is not None}
    if isinstance(kept.get("deployer"), dict):
        kept["deployer"] = {k: v for k, v in kept["deployer"].items() if v is not None}
    return kept


def _decoded(raw: bytes) -> tuple[bool, Any]:
    if not raw:
        return True, None
    try:
        return True, json.loads(raw, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    except (ValueError, UnicodeDecodeError):
        return False, None


@OVER_HTTP
@given(
    st.sampled_from(OPERATIONS),
    segments,
    uuids,
    st.one_of(st.just({}), queries),
    st.one_of(near_valid_bodies, near_valid_bodies, bodies).map(lambda b: json.dumps(b).encode())
    | raw_bodies,
    st.booleans(),
)
def test_every_request_gets_a_400_exactly_when_the_description_refuses_it(
    http: httpx.Client,
    operation: tuple[str, str],
    tag: str,
    uuid: str,
    query: dict[str, str],
    raw: bytes,
    paged: bool,
) -> None:
    contract = _contract()
    method, template = operation
    assume(tag not in (".", "..") and uuid not in (".", ".."))  # dot segments: no such path
    if paged:
        query = {"page": "0", "pageSize": "250", **query}
    path = template.replace("{tagOrId}", tag).replace("{uuid}", uuid)
    sent = raw if method in ("POST", "PUT") else b""
    answer = http.request(
        method,
        template.replace("{tagOrId}", quote(tag, safe="")).replace("{uuid}", quote(uuid, safe="")),
        params=query,
        content=sent,
    )

    assert answer.status_code < 500, answer.text
    event(f"{method} {template}: {answer.status_code}")
    is_json, body = _decoded(sent)
    problems = contract.request_problems(
        method, path, query, _without_nulls(body), unknown_parameters=False,
        zone_less_timestamps=True,
    ) + ([] if is_json else ["body: not JSON"])  # fmt: skip
    expected = bool(problems) or emulator_also_refuses(method, template, query, body)
    assert (answer.status_code == 400) == expected, (answer.status_code, answer.text, problems)
    content_type = answer.headers.get("Content-Type", "").split(";")[0]
    answered = answer.json() if answer.content else None
    assert contract.answer_problems(
        method, path, answer.status_code, content_type, answered, answer.headers
    ) == []  # fmt: skip


def _contract() -> Contract:
    return CONTRACT if CONTRACT is not None else contract_or_skip()
