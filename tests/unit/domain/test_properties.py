"""Property tests: what a namespace user writes (annotations, CortexEntity objects, CronJob
schedules) or an operator is configured with (selectors, durations) never crashes a parser
and always stays within its bounds, whatever it holds.

Each crash these found is also a plain regression test below its property.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cortex_events.domain import bounds
from cortex_events.domain.cron import ScheduleError, parse_schedule
from cortex_events.domain.durations import parse_duration
from cortex_events.domain.selectors import (
    LabelRequirement,
    LabelSelector,
    label_key_error,
    label_value_error,
    parse_selector,
)
from cortex_events.domain.specs import EntitySpec, SpecError, parse_entity
from cortex_events.domain.tags import (
    MAX_ANNOTATION_CHARS,
    MAX_LISTED,
    MAX_TAGS_PER_ANNOTATION,
    split_tags,
    tag_problem,
)

PRINTABLE = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
TAGS = st.text(PRINTABLE, min_size=1, max_size=40).filter(lambda t: tag_problem(t) is None)
# Text a user could type, with the characters each parser treats specially well represented.
NOISE = st.text(
    st.one_of(st.sampled_from(" ,()!=/.\t\n\x00é0123456789aAzZ-_:"), st.characters()),
    max_size=300,
)

# -- cortex.io/tag -----------------------------------------------------------------------------


@given(st.one_of(NOISE, st.lists(st.one_of(TAGS, NOISE), max_size=60).map(",".join)))
def test_any_annotation_value_gives_bounded_valid_tags(value: str) -> None:
    listed = split_tags(value)
    assert len(listed.tags) <= MAX_TAGS_PER_ANNOTATION
    assert len(set(listed.tags)) == len(listed.tags)
    for tag in listed.tags:
        assert tag_problem(tag) is None
        assert tag in value
    assert len(listed.rejected) <= MAX_LISTED
    assert listed.cut == (len(value) > MAX_ANNOTATION_CHARS)
    assert all(len(sentence) < 1000 for sentence in listed.problems())


@given(st.lists(TAGS, min_size=1, max_size=MAX_TAGS_PER_ANNOTATION, unique=True))
def test_up_to_16_valid_tags_are_all_read_in_order(tags: list[str]) -> None:
    listed = split_tags(" , ".join(tags))
    assert listed.tags == tuple(tags)
    assert not listed.refused


@given(st.lists(TAGS, min_size=MAX_TAGS_PER_ANNOTATION + 1, max_size=40, unique=True))
def test_tags_past_16_are_counted_and_ignored(tags: list[str]) -> None:
    listed = split_tags(",".join(tags))
    assert listed.tags == tuple(tags[:MAX_TAGS_PER_ANNOTATION])
    assert listed.over_limit == len(tags) - MAX_TAGS_PER_ANNOTATION


# -- CortexEntity --------------------------------------------------------------------------------

JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20), NOISE),
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=30,
)
FIELDS = [
    "tag",
    "selector",
    "workloads",
    "eventTypes",
    "customData",
    "retention",
    "scaleEvents",
    "jobPodEvents",
    "cleanupOnDelete",
    "deploys",
]
PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "tag": st.one_of(TAGS, NOISE),
    "selector": st.fixed_dictionaries(
        {},
        optional={
            "matchLabels": st.dictionaries(st.text(max_size=70), st.text(max_size=70)),
            "matchExpressions": st.lists(
                st.fixed_dictionaries(
                    {
                        "key": st.text(max_size=20),
                        "operator": st.sampled_from(["In", "NotIn", "Exists", "X"]),
                    },
                    optional={"values": st.lists(st.text(max_size=10), max_size=70)},
                ),
                max_size=20,
            ),
        },
    ),
    "workloads": st.lists(
        st.fixed_dictionaries(
            {"kind": st.sampled_from(["Pod", "Deployment", "ReplicaSet"]), "name": NOISE}
        ),
        max_size=70,
    ),
    "customData": st.dictionaries(st.text(max_size=140), JSON, max_size=40),
    "retention": st.one_of(
        NOISE, st.from_regex(r"\A([0-9]{1,14}(\.[0-9]{1,3})?(h|m|s|ms|ns|d))+\Z")
    ),
    "deploys": st.fixed_dictionaries({}, optional={"environment": NOISE, "enabled": JSON}),
}


def _spec_values() -> st.SearchStrategy[dict[str, Any]]:
    fields = {name: st.one_of(JSON, PLAUSIBLE.get(name, JSON)) for name in FIELDS}
    optional = {name: strategy for name, strategy in fields.items() if name != "tag"}
    return st.fixed_dictionaries({"tag": fields["tag"]}, optional=optional)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    spec=st.one_of(_spec_values(), JSON),
    metadata=st.one_of(
        st.just({"name": "e", "namespace": "shop", "uid": "u", "generation": 1}), JSON
    ),
)
def test_any_cortexentity_parses_to_a_bounded_spec_or_names_its_bad_field(
    spec: Any, metadata: Any
) -> None:
    parsed = parse_entity({"metadata": metadata, "spec": spec})
    if isinstance(parsed, SpecError):
        assert parsed.field.split(".")[0] in {"spec", "metadata"}
        assert parsed.message
        return
    assert isinstance(parsed, EntitySpec)
    assert tag_problem(parsed.tag) is None
    assert len(parsed.workloads) <= bounds.WORKLOADS
    assert len(json.dumps(parsed.custom_data).encode()) <= 2 * bounds.CUSTOM_DATA_BYTES
    if parsed.retention is not None:
        assert bounds.RETENTION_MINIMUM <= parsed.retention <= bounds.RETENTION_MAXIMUM
    if parsed.selector is not None:
        assert len(parsed.selector.match_labels) <= bounds.MATCH_LABELS
        assert len(parsed.selector.match_expressions) <= bounds.MATCH_EXPRESSIONS


def test_a_huge_retention_is_refused_and_never_raises() -> None:
    # It raised OverflowError: the entity got no status and its cleanup retried for ever.
    parsed = parse_entity(
        {"metadata": {"name": "e", "namespace": "s"}, "spec": {"tag": "t", "retention": "1e9h"}}
    )
    assert isinstance(parsed, SpecError)
    for retention in ("24000000000h", "9" * 40 + "h", "9" * 60 + "s"):
        parsed = parse_entity(
            {
                "metadata": {"name": "e", "namespace": "s"},
                "spec": {"tag": "t", "retention": retention},
            }
        )
        assert isinstance(parsed, SpecError)
        assert parsed.field == "spec.retention"


def test_custom_data_nested_deeper_than_the_stack_is_refused() -> None:
    deep: Any = 1
    for _ in range(100_000):
        deep = [deep]
    parsed = parse_entity(
        {
            "metadata": {"name": "e", "namespace": "s"},
            "spec": {"tag": "t", "customData": {"d": deep}},
        }
    )
    assert isinstance(parsed, SpecError)
    assert "deeper than 8" in parsed.message


# -- durations -----------------------------------------------------------------------------------


@given(st.one_of(NOISE, st.from_regex(r"\A[0-9.]{0,30}(h|m|s|ms|us|ns|d)?\Z")))
def test_any_duration_text_is_read_or_refused_with_a_value_error(text: str) -> None:
    maximum = timedelta(hours=87_600)
    try:
        value = parse_duration(text, maximum=maximum)
    except ValueError as error:
        refusal = str(error)
    else:
        assert timedelta(0) <= value <= maximum
        return
    assert refusal


@given(
    st.lists(
        st.tuples(st.integers(0, 10_000), st.sampled_from(["h", "m", "s", "ms"])),
        min_size=1,
        max_size=4,
    )
)
def test_a_duration_is_the_sum_of_its_parts(parts: list[tuple[int, str]]) -> None:
    text = "".join(f"{number}{unit}" for number, unit in parts)
    unit = {"h": timedelta(hours=1), "m": timedelta(minutes=1), "s": timedelta(seconds=1)}
    unit["ms"] = timedelta(milliseconds=1)
    assert parse_duration(text) == sum((n * unit[u] for n, u in parts), timedelta(0))


# -- label selectors -----------------------------------------------------------------------------

KEYS = st.from_regex(
    r"\A([a-z0-9]{1,10}\.)?[a-z0-9]{1,10}/?[A-Za-z0-9]([-A-Za-z0-9_.]{0,8}[A-Za-z0-9])?\Z"
)
VALUES = st.from_regex(r"\A([A-Za-z0-9]([-A-Za-z0-9_.]{0,8}[A-Za-z0-9])?)?\Z")


@given(NOISE)
def test_any_selector_text_is_read_or_refused_with_a_value_error(text: str) -> None:
    try:
        selector = parse_selector(text)
    except ValueError as error:
        refusal = str(error)
    else:
        assert all(label_key_error(key) is None for key in selector.match_labels)
        return
    assert 0 < len(refusal) < 300


@given(
    equal=st.dictionaries(KEYS, VALUES, max_size=3),
    sets=st.lists(
        st.tuples(
            KEYS,
            st.sampled_from(["in", "notin"]),
            st.lists(VALUES.filter(bool), min_size=1, max_size=3),
        ),
        max_size=3,
    ),
    exists=st.lists(st.tuples(st.booleans(), KEYS), max_size=2),
    labels=st.dictionaries(KEYS, VALUES, max_size=4),
    padding=st.sampled_from(["", " ", "   "]),
)
def test_a_written_selector_matches_as_its_parts_say(
    equal: dict[str, str],
    sets: list[tuple[str, str, list[str]]],
    exists: list[tuple[bool, str]],
    labels: dict[str, str],
    padding: str,
) -> None:
    assume(all(label_key_error(k) is None for k in [*equal, *(k for k, _, _ in sets)]))
    assume(all(label_key_error(k) is None for _, k in exists))
    parts = [f"{k}{padding}={padding}{v}" for k, v in equal.items()]
    parts += [f"{k} {op}{padding}({','.join(vs)})" for k, op, vs in sets]
    parts += [f"{'!' if negated else ''}{k}" for negated, k in exists]
    expected = LabelSelector(
        equal,
        tuple(
            LabelRequirement(k, "In" if op == "in" else "NotIn", frozenset(vs))
            for k, op, vs in sets
        )
        + tuple(LabelRequirement(k, "DoesNotExist" if n else "Exists") for n, k in exists),
    )
    # Repeated keys in equal are one dict; the written form says the same.
    assert parse_selector(f",{padding}".join(parts)).matches(labels) == expected.matches(labels)
    assert all(label_value_error(v) is None for v in equal.values())


def test_reading_a_padded_selector_takes_linear_time() -> None:
    # 8,000 spaces took 1.3 s (the requirement pattern tried every split of them); a million
    # would take hours. Run apart, so that a regression ends the test instead of the suite.
    program = (
        "from cortex_events.domain.selectors import parse_selector\n"
        "for text in ('a' + ' ' * 1_000_000 + 'b', ' ' * 1_000_000 + '=', 'a' + ' ' * 1_000_000):\n"
        "    try:\n"
        "        parse_selector(text)\n"
        "    except ValueError:\n"
        "        pass\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], timeout=120, check=False, capture_output=True
    )
    assert done.returncode == 0, done.stderr


# -- CronJob schedules ---------------------------------------------------------------------------

CRON_FIELD = st.one_of(
    st.sampled_from(["*", "?", "*/5", "1-5", "MON", "jan-mar", "1,2,3", "7", "0-59/15"]),
    st.from_regex(r"\A[0-9*?/,\-A-Za-z²]{1,12}\Z"),
)


@given(
    text=st.one_of(
        NOISE,
        st.lists(CRON_FIELD, min_size=5, max_size=5).map(" ".join),
        st.from_regex(r"\A@every [0-9.]{1,25}(h|m|s|ms)\Z"),
        st.sampled_from(["@daily", "@hourly", "@weekly", "@yearly"]),
    ),
    zone=st.one_of(st.none(), st.sampled_from(["Europe/Paris", "UTC", "Nowhere/x"]), NOISE),
    moment=st.datetimes(timezones=st.just(UTC)),
)
def test_any_schedule_is_read_or_refused_and_its_runs_never_raise(
    text: str, zone: str | None, moment: datetime
) -> None:
    try:
        schedule = parse_schedule(text, zone)
    except ScheduleError:
        return
    following = schedule.next_after(moment)
    assert following is None or following > moment
    schedule.runs(moment, moment + timedelta(days=1), limit=3)


def test_schedules_that_raised_are_refused_or_have_no_run_past_the_calendar() -> None:
    for text, zone in [
        ("@every 99999999999999999999h", None),  # OverflowError
        ("² * * * *", None),  # a digit to str.isdigit, not to int()
        ("9" * 5000 + " * * * *", None),  # more digits than int() reads
    ]:
        try:
            parse_schedule(text, zone)
        except ScheduleError:
            continue
        raise AssertionError(f"{text[:30]!r} was read")
    assert parse_schedule("* * * * *", "a" * 5000).next_after(datetime(2026, 1, 1, tzinfo=UTC))
    assert parse_schedule("0 0 1 1 *").next_after(datetime(9999, 12, 31, tzinfo=UTC)) is None
