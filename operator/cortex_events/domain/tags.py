"""The one rule for every Cortex tag the operator is given, and how annotations list them."""

from __future__ import annotations

TAG_MAX_LENGTH = 253
TAG_RULE = "a tag is 1 to 253 printable ASCII characters, without spaces, commas or slashes"
"""The one rule for every tag the operator is given: a CortexEntity's ``spec.tag`` and each
comma-separated part of a ``cortex.io/tag`` annotation. The CRD's ``spec.tag`` pattern says the
same. Characters that a URL path must encode (``:``, ``#``, ``%``, ``?`` ...) are allowed: the
Cortex client percent-encodes the tag into the request path."""


def tag_problem(tag: str) -> str | None:
    """Why ``tag`` cannot name a Cortex entity (see `TAG_RULE`), or None when it can."""
    if not tag:
        return "it is empty"
    if len(tag) > TAG_MAX_LENGTH:
        return f"it is {len(tag)} characters long"
    for char in tag:
        if char == ",":
            return "it contains a comma"
        if char == "/":
            return "it contains a slash"
        if char.isspace():
            return "it contains whitespace"
        if not "!" <= char <= "~":
            return f"it contains {char!r}, which is not printable ASCII"
    return None


def describe_bad_tag(tag: str, problem: str) -> str:
    """``'team/svc' is not a Cortex tag: it contains a slash (a tag is ...)``."""
    shown = tag if len(tag) <= 80 else f"{tag[:60]}...({len(tag)} characters)"
    return f"{shown!r} is not a Cortex tag: {problem} ({TAG_RULE})"


def split_tags(value: str) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """A ``cortex.io/tag`` value split at commas and trimmed: the tags it names, in order and
    deduplicated, and the parts that are no tag with why (`tag_problem`). Empty parts (``"a,,b"``,
    a trailing comma) are skipped."""
    tags: dict[str, None] = {}
    rejected: dict[str, str] = {}
    for part in value.split(","):
        tag = part.strip()
        if not tag:
            continue
        problem = tag_problem(tag)
        if problem is None:
            tags.setdefault(tag, None)
        else:
            rejected.setdefault(tag, problem)
    return tuple(tags), tuple(rejected.items())


def parse_tags(value: str) -> tuple[str, ...]:
    """The tags of a ``cortex.io/tag`` value: ``"a, b,,a, x/y"`` -> ``("a", "b")``."""
    return split_tags(value)[0]
