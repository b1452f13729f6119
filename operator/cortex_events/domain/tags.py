"""The one rule for every Cortex tag the operator is given, and how annotations list them."""

from __future__ import annotations

from dataclasses import dataclass

from cortex_events.domain.parsing import ANNOTATION_VALUE_LIMIT

TAG_MAX_LENGTH = 253
DOT_SEGMENTS = frozenset({".", ".."})
"""Tags a URL path would read as "this folder" and "the folder above": ``/catalog/../x``
addresses another resource, whatever the encoding (HTTP clients collapse them)."""
TAG_RULE = (
    "a tag is 1 to 253 printable ASCII characters, without spaces, commas or slashes, "
    "and not '.' or '..'"
)
"""The one rule for every tag the operator is given: a CortexEntity's ``spec.tag`` and each
comma-separated part of a ``cortex.io/tag`` annotation. The CRD's ``spec.tag`` rules say the
same. Characters that a URL path must encode (``:``, ``#``, ``%``, ``?`` ...) are allowed: the
Cortex client percent-encodes the tag into the request path, as one segment."""
MAX_TAGS_PER_ANNOTATION = 16
"""Tags one ``cortex.io/tag`` annotation may name; the ones after are ignored and reported.
Each tag costs a request per event, so one annotation must not take the whole budget."""
MAX_ANNOTATION_CHARS = ANNOTATION_VALUE_LIMIT
"""Characters of a ``cortex.io/tag`` value that are read (16 tags of 253 characters fit); a
longer value is cut, at its last comma, before it is split."""
MAX_LISTED = 5
"""Refused parts named in one message; the others are counted."""


def tag_problem(tag: str) -> str | None:
    """Why ``tag`` cannot name a Cortex entity (see `TAG_RULE`), or None when it can."""
    if not tag:
        return "it is empty"
    if len(tag) > TAG_MAX_LENGTH:
        return f"it is {len(tag)} characters long"
    if tag in DOT_SEGMENTS:
        return "it is only dots, which a URL path reads as a folder"
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


@dataclass(frozen=True)
class TagList:
    """A ``cortex.io/tag`` value read: the tags it names (in order, deduplicated, at most
    `MAX_TAGS_PER_ANNOTATION`) and what was left out, each bounded.

    ``rejected``: the first `MAX_LISTED` parts that are no tag, with why; ``unlisted``: how many
    more; ``over_limit``: tags past the limit, ignored; ``cut``: the value was longer than
    `MAX_ANNOTATION_CHARS` and its end was not read.
    """

    tags: tuple[str, ...]
    rejected: tuple[tuple[str, str], ...] = ()
    unlisted: int = 0
    over_limit: int = 0
    cut: bool = False

    @property
    def refused(self) -> bool:
        """Whether anything of the value was left out."""
        return bool(self.rejected or self.over_limit or self.cut)

    def problems(self) -> list[str]:
        """One sentence for each thing left out, each naming the cause."""
        said = [describe_bad_tag(tag, problem) for tag, problem in self.rejected]
        if self.unlisted:
            said.append(f"{self.unlisted} more parts are no Cortex tag either")
        if self.over_limit:
            said.append(
                f"it names more than {MAX_TAGS_PER_ANNOTATION} tags, the most an annotation may: "
                f"the {self.over_limit} after {self.tags[-1]!r} are ignored"
            )
        if self.cut:
            said.append(
                f"it is longer than {MAX_ANNOTATION_CHARS} characters: only the tags within "
                "them are read"
            )
        return said


def split_tags(value: str) -> TagList:
    """A ``cortex.io/tag`` value split at commas and trimmed (empty parts, as in ``"a,,b"`` or
    a trailing comma, are skipped), within the bounds above. Linear in the characters read."""
    cut = len(value) > MAX_ANNOTATION_CHARS
    if cut:
        # The part the cut falls in is unfinished: drop it rather than read a wrong tag.
        value = value[: MAX_ANNOTATION_CHARS + 1].rpartition(",")[0]
    tags: dict[str, None] = {}
    rejected: dict[str, str] = {}
    over_limit: set[str] = set()
    for part in value.split(","):
        tag = part.strip()
        if not tag or tag in tags or tag in rejected:
            continue
        problem = tag_problem(tag)
        if problem is not None:
            rejected[tag] = problem
        elif len(tags) < MAX_TAGS_PER_ANNOTATION:
            tags[tag] = None
        else:
            over_limit.add(tag)
    listed = tuple(rejected.items())[:MAX_LISTED]
    return TagList(tuple(tags), listed, len(rejected) - len(listed), len(over_limit), cut)


def parse_tags(value: str) -> tuple[str, ...]:
    """The tags of a ``cortex.io/tag`` value: ``"a, b,,a, x/y"`` -> ``("a", "b")``."""
    return split_tags(value).tags
