"""The namespace selector: which namespaces' workloads are recorded, as their labels say now.

With ``CORTEX_NAMESPACE_SELECTOR`` set, the operator watches Namespace objects and records the
workloads of the namespaces whose labels match it (of those ``CORTEX_NAMESPACES`` lists, when
it lists some). A namespace whose labels change so that it joins or leaves the selection has
its workloads evaluated again at once: joining, their current state is recorded; leaving,
nothing more is. Until a namespace has been seen, its workloads are not recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cortex_events.domain.selectors import LabelSelector


class NamespaceGate:
    def __init__(self, selector: LabelSelector) -> None:
        self.selector = selector
        self._selected: set[str] = set()

    def admits(self, namespace: str) -> bool:
        return namespace in self._selected

    def observed(self, body: Mapping[str, Any], event_type: str | None) -> str | None:
        """Take a Namespace's watch event; returns its name when it joined or left."""
        metadata = body.get("metadata") or {}
        name = str(metadata.get("name") or "")
        labels = metadata.get("labels") or {}
        selected = event_type != "DELETED" and self.selector.matches(labels)
        if selected == (name in self._selected):
            return None
        if selected:
            self._selected.add(name)
        else:
            self._selected.discard(name)
        return name

    def selected(self) -> set[str]:
        return set(self._selected)
