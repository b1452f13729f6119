"""Every watch event of a workload or Namespace, to the recorder and to the relist reconciler."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cortex_events.controllers.recorder import Recorder
from cortex_events.controllers.relist import RelistReconciler


class WatchFeed:
    def __init__(self, recorder: Recorder, relists: RelistReconciler) -> None:
        self._recorder = recorder
        self._relists = relists

    async def changed(self, kind: str, event: Mapping[str, Any]) -> None:
        """A watch event of a watched kind (type None: a listed object)."""
        body, event_type = event["object"], event.get("type")
        metadata = body.get("metadata") or {}
        if kind != "Namespace":
            self._relists.observed(
                kind, str(metadata.get("namespace", "")), str(metadata.get("uid", "")), event_type
            )
        await self._recorder.changed(kind, body, event_type)
