"""Inputs a careless or hostile namespace user could write, shared by the suites that check
the stand-in API server, the operator and the real API server against each other."""

from __future__ import annotations

from typing import Any

TAG_SAMPLES = [
    *(f"a{chr(code)}b" for code in range(0x20, 0x7F)),  # every printable ASCII character
    ".",
    "..",
    "...",
    "a\x0bb",
    "x" * 253,
    "x" * 254,
    "café",
    "tab\tin",
    "nl\nin",
    "\x00nul",
    "",
]
"""Tags either side of each part of the tag rule."""


def nested(depth: int) -> dict[str, Any]:
    """An object whose innermost value sits ``depth`` objects deep (``{"leaf": 1}`` is 1)."""
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"n": value}
    return value
