"""``cortex-events check``: verify the configuration end to end and print a short table."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from typing import Any, TextIO

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from cortex_events.cortex.client import CortexClient
from cortex_events.cortex.errors import CortexAuthError, CortexError, CortexNotFound
from cortex_events.kube import check_cluster, load_api_client
from cortex_events.permissions import REQUIRED
from cortex_events.settings import Settings

# A tag no one uses: Cortex answers 404 for it with a valid key and 401/403 with a bad one.
PROBE_TAG = "cortex-events-operator-check"


@dataclass(frozen=True)
class Result:
    check: str
    ok: bool | None  # None: could not be determined
    detail: str

    @property
    def word(self) -> str:
        return {True: "ok", False: "FAIL", None: "unknown"}[self.ok]


def _kubernetes_checks(settings: Settings) -> tuple[list[Result], list[dict[str, Any]]]:
    problem = check_cluster()
    if problem:
        return [Result("Kubernetes API", False, problem)], []
    api_client = load_api_client()
    results = [Result("Kubernetes API", True, api_client.configuration.host)]
    try:
        results.extend(_rbac_checks(api_client, settings))
        entities = _list_entities(api_client, settings, results)
    finally:
        api_client.close()
    return results, entities


def _rbac_checks(api_client: Any, settings: Settings) -> list[Result]:
    authz = client.AuthorizationV1Api(api_client)
    namespaces: tuple[str | None, ...] = settings.namespaces or (None,)
    results = []
    for permission in REQUIRED:
        resource, _, subresource = permission.resource.partition("/")
        missing = []
        for namespace in namespaces:
            for verb in permission.verbs:
                review = client.V1SelfSubjectAccessReview(
                    spec=client.V1SelfSubjectAccessReviewSpec(
                        resource_attributes=client.V1ResourceAttributes(
                            group=permission.group,
                            resource=resource,
                            subresource=subresource or None,
                            verb=verb,
                            namespace=namespace,
                        )
                    )
                )
                try:
                    answer = authz.create_self_subject_access_review(review)
                except ApiException as error:
                    return [
                        Result("RBAC", None, f"cannot ask the API server (HTTP {error.status})")
                    ]
                if answer.status is None or not answer.status.allowed:
                    missing.append(f"{verb}" + (f" in {namespace}" if namespace else ""))
        name = f"RBAC {permission.resource}"
        if missing:
            results.append(Result(name, False, "missing: " + ", ".join(missing)))
        else:
            results.append(Result(name, True, " ".join(permission.verbs)))
    return results


def _list_entities(
    api_client: Any, settings: Settings, results: list[Result]
) -> list[dict[str, Any]]:
    objects = client.CustomObjectsApi(api_client)
    items: list[dict[str, Any]] = []
    try:
        if settings.namespaces:
            for namespace in settings.namespaces:
                answer = objects.list_namespaced_custom_object(
                    "cortex.io", "v1alpha1", namespace, "cortexentities"
                )
                items.extend(_items(answer))
        else:
            answer = objects.list_cluster_custom_object("cortex.io", "v1alpha1", "cortexentities")
            items.extend(_items(answer))
    except ApiException as error:
        hint = " (is the CRD installed?)" if error.status == 404 else ""
        results.append(Result("CortexEntity list", False, f"HTTP {error.status}{hint}"))
    return items


def _items(answer: object) -> list[dict[str, Any]]:
    items = answer.get("items") if isinstance(answer, dict) else None
    return [item for item in items or [] if isinstance(item, dict)]


async def _cortex_checks(settings: Settings, entities: list[dict[str, Any]]) -> list[Result]:
    if settings.dry_run or settings.api_key is None:
        return [Result("Cortex API", None, "dry run: no key to check")]
    results: list[Result] = []
    async with CortexClient(
        settings.base_url, settings.api_key, per_minute=settings.rate_limit, max_retries=1
    ) as cortex:
        try:
            await cortex.list_events(PROBE_TAG, page_size=1)
            results.append(Result("Cortex API key", True, f"accepted by {settings.base_url}"))
        except CortexNotFound:
            results.append(Result("Cortex API key", True, f"accepted by {settings.base_url}"))
        except CortexAuthError as error:
            return [Result("Cortex API key", False, f"refused: {error.message}")]
        except CortexError as error:
            return [Result("Cortex API", False, f"{settings.base_url}: {error}")]
        for item in entities:
            metadata = item.get("metadata") or {}
            tag = str((item.get("spec") or {}).get("tag") or "")
            name = f"CortexEntity {metadata.get('namespace')}/{metadata.get('name')}"
            if not tag:
                results.append(Result(name, False, "spec.tag is empty"))
                continue
            try:
                await cortex.list_events(tag, page_size=1)
                results.append(Result(name, True, f"entity {tag!r} exists"))
            except CortexNotFound:
                results.append(Result(name, False, f"Cortex has no entity {tag!r}"))
            except CortexError as error:
                results.append(Result(name, None, str(error)))
    return results


def render_table(results: list[Result]) -> str:
    width = max([len("CHECK"), *(len(r.check) for r in results)])
    lines = [f"{'CHECK':<{width}}  {'RESULT':<7}  DETAIL"]
    lines += [f"{r.check:<{width}}  {r.word:<7}  {r.detail}" for r in results]
    return "\n".join(lines)


def run_check(settings: Settings, out: TextIO | None = None) -> int:
    """Run every check, print the table; 0 when nothing failed."""
    stream = out or sys.stdout
    results, entities = _kubernetes_checks(settings)
    results += asyncio.run(_cortex_checks(settings, entities))
    print(render_table(results), file=stream)
    return 1 if any(result.ok is False for result in results) else 0
