"""Helpers for the JSON objects the stand-in serves: copies, timestamps, generated names."""

from __future__ import annotations

import datetime
import json
import random
from collections.abc import Mapping
from typing import Any

_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def now_iso(offset_seconds: float = 0) -> str:
    moment = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=offset_seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def random_suffix(length: int = 5) -> str:
    return "".join(random.choice(_NAME_CHARS) for _ in range(length))


def clone(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy (JSON round trip: the objects are JSON by construction, and it is fast)."""
    result: dict[str, Any] = json.loads(json.dumps(obj))
    return result
