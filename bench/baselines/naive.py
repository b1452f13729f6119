"""Baseline: the naive kopf operator, one Cortex event per Pod from a creation handler.

``@kopf.on.create`` with kopf's default state storage: kopf records each handled Pod in
annotations on the Pod itself (so it writes to every Pod) and, after a restart, skips the Pods
that carry them. The event goes to the entity in the Pod's ``cortex.io/tag``. Reads
CORTEX_BASE_URL, CORTEX_API_KEY and (to watch only those namespaces) CORTEX_NAMESPACES; run as
``python naive.py`` with KUBECONFIG set.
"""

from __future__ import annotations

import datetime
import os
from typing import Any

import httpx
import kopf

TAG_ANNOTATION = "cortex.io/tag"


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.scanning.disabled = True
    memo.cortex = httpx.AsyncClient(
        base_url=os.environ["CORTEX_BASE_URL"],
        headers={"Authorization": f"Bearer {os.environ['CORTEX_API_KEY']}"},
        timeout=15.0,
    )


@kopf.on.cleanup()
async def close(memo: kopf.Memo, **_: Any) -> None:
    await memo.cortex.aclose()


@kopf.on.create("v1", "pods")
async def pod_created(
    name: str,
    namespace: str | None,
    uid: str,
    annotations: kopf.Annotations,
    memo: Any,
    **_: Any,
) -> None:
    tag = annotations.get(TAG_ANNOTATION)
    if not tag:
        return
    client: httpx.AsyncClient = memo.cortex
    response = await client.post(
        f"/api/v1/catalog/{tag}/custom-events",
        json={
            "title": f"Pod {name} created",
            "type": "POD_CREATION",
            "timestamp": datetime.datetime.now(datetime.UTC).isoformat(),
            "customData": {"namespace": namespace, "name": name, "uid": uid},
        },
    )
    if response.status_code == 429:
        raise kopf.TemporaryError("Cortex rate limit", delay=5)
    response.raise_for_status()


if __name__ == "__main__":
    kopf.configure(verbose=False)
    # CORTEX_NAMESPACES, as for the operator: these namespaces only, else every namespace.
    watched = [n.strip() for n in os.environ.get("CORTEX_NAMESPACES", "").split(",") if n.strip()]
    kopf.run(standalone=True, clusterwide=not watched, namespaces=watched)
