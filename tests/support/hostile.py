"""Inputs a careless or hostile namespace user could write, shared by the suites that check
the stand-in API server, the operator and the real API server against each other."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote, quote_plus

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


def key_escapings(key: str) -> dict[str, str]:
    """The key as text can carry it, listed independently of the operator's redactor: the
    header an HTTP library refuses quoted as bytes, JSON, URLs, base64 (an ``Authorization:
    Basic`` header, a proxy's dump)."""
    header = f"Bearer {key}"
    return {
        "raw": key,
        "str repr": repr(key),
        "bytes repr with a newline": repr(f"{header}\n".encode()),
        "JSON": json.dumps(key),
        "JSON in JSON": json.dumps(json.dumps(key)),
        "percent-encoded": quote(key, safe=""),
        "percent-encoded, lower case": quote(key, safe="").lower(),
        "percent-encoded as a path": quote(key),
        "form-encoded": quote_plus(key),
        "base64 of the header": base64.b64encode(header.encode()).decode(),
        "URL-safe base64 of the header": base64.urlsafe_b64encode(header.encode()).decode(),
        "base64 of the header, unpadded": base64.b64encode(header.encode()).decode().rstrip("="),
        "base64 of basic credentials": base64.b64encode(f"cortex:{key}".encode()).decode(),
    }
