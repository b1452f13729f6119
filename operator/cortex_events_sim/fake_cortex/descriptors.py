"""The descriptors the Cortex emulator is given, by tag; `cortex_events_sim.fake_cortex.catalog`
serves them."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import yaml

__all__ = [
    "CatalogStore",
    "descriptor_field",
    "descriptor_tag",
    "load_descriptors",
    "read_descriptor_files",
]


def descriptor_tag(descriptor: object) -> str:
    """The ``x-cortex-tag`` of a descriptor (under ``info``, or at the top); ValueError when
    it has none."""
    if not isinstance(descriptor, Mapping):
        raise ValueError("a descriptor is a JSON object (an entity's YAML)")
    info = descriptor.get("info")
    tag = (info.get("x-cortex-tag") if isinstance(info, Mapping) else None) or descriptor.get(
        "x-cortex-tag"
    )
    if not isinstance(tag, str) or not tag.strip():
        raise ValueError("a descriptor needs x-cortex-tag (under info, or at the top)")
    return tag.strip()


def descriptor_field(descriptor: Mapping[str, Any], name: str) -> Any:
    info = descriptor.get("info")
    return (info.get(name) if isinstance(info, Mapping) else None) or descriptor.get(name)


class CatalogStore:
    """Descriptors by tag, and which entities are archived; safe to use from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._descriptors: dict[str, dict[str, Any]] = {}
        self._archived: set[str] = set()
        self.updated = datetime.now(UTC)

    def put(self, descriptor: Mapping[str, Any], *, archived: bool = False) -> str:
        """Add or replace the descriptor of its tag; returns the tag."""
        tag = descriptor_tag(descriptor)
        with self._lock:
            self._descriptors[tag] = copy.deepcopy(dict(descriptor))
            (self._archived.add if archived else self._archived.discard)(tag)
            self.updated = datetime.now(UTC)
        return tag

    def remove(self, tag: str) -> bool:
        with self._lock:
            self._archived.discard(tag)
            return self._descriptors.pop(tag, None) is not None

    def descriptors(self) -> list[dict[str, Any]]:
        """Copies, in tag order."""
        with self._lock:
            return [copy.deepcopy(self._descriptors[t]) for t in sorted(self._descriptors)]

    def archived(self, tag: str) -> bool:
        with self._lock:
            return tag in self._archived


def load_descriptors(text: str) -> list[dict[str, Any]]:
    """The descriptors of a file: YAML documents (JSON is YAML too), each a descriptor or a
    list of them; ValueError names what is wrong."""
    found: list[dict[str, Any]] = []
    for document in yaml.safe_load_all(text):
        items = document if isinstance(document, list) else [document]
        for item in items:
            if item is None:
                continue
            descriptor_tag(item)
            found.append(dict(item))
    return found


def read_descriptor_files(paths: Iterable[str]) -> list[dict[str, Any]]:
    """The descriptors of ``fake-cortex --descriptor`` files; a ValueError of one line names
    the file and the cause when one cannot be read."""
    found: list[dict[str, Any]] = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as handle:
                found += load_descriptors(handle.read())
        except OSError as error:
            raise ValueError(f"cannot read --descriptor {path}: {error.strerror}") from None
        except (ValueError, yaml.YAMLError) as error:
            problem = " ".join(str(error).split())
            raise ValueError(f"--descriptor {path}: {problem}") from None
    return found
