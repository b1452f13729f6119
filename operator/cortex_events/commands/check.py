"""``cortex-events check``: verify the configuration end to end and print a short table.

Every CortexEntity is parsed with the operator's own parser (a spec the operator would mark
InvalidSpec fails here too, even where the cluster's CRD schema let it in), every
``cortex.io/tag`` value on Pods and Deployments is checked against the same tag rule, and each
tag in use is asked about in Cortex once.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from cortex_events.commands.check_mapping import mapping_rows
from cortex_events.config.secret import Redactor
from cortex_events.config.settings import Settings
from cortex_events.config.tls import trust
from cortex_events.cortex.client import CortexClient
from cortex_events.cortex.errors import CortexAuthError, CortexError, CortexNotFound
from cortex_events.domain.model import TAG_ANNOTATION
from cortex_events.domain.specs import SpecError, parse_entity
from cortex_events.domain.tags import describe_bad_tag, split_tags
from cortex_events.kube.client import call, check_cluster, load_api_client
from cortex_events.kube.leases import own_namespace
from cortex_events.kube.permissions import LEADER_ELECTION, REQUIRED, Permission, optional
from cortex_events.kube.watched import ARGO_ROLLOUT, WORKLOADS, WatchedKind

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


@dataclass
class Found:
    """What the cluster holds that names Cortex entities."""

    entities: list[dict[str, Any]] = field(default_factory=list)
    # Each cortex.io/tag tag in use -> the workloads ("Pod shop/web-1") that carry it.
    tags: dict[str, list[str]] = field(default_factory=dict)
    # Each rejected part of a cortex.io/tag value -> (why, the workloads that carry it).
    bad_tags: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    # Every workload listed: (kind, metadata), to count what each source maps.
    workloads: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    annotation: str = TAG_ANNOTATION
    # Each workload whose cortex.io/tag goes past a bound -> what was left out.
    bounds: dict[str, list[str]] = field(default_factory=dict)


def _kubernetes_checks(settings: Settings) -> tuple[list[Result], Found]:
    problem = check_cluster()
    if problem:
        return [Result("Kubernetes API", False, problem)], Found()
    api_client = load_api_client()
    results = [Result("Kubernetes API", True, api_client.configuration.host)]
    found = Found()
    try:
        results.extend(_namespace_checks(api_client, settings))
        argo = _serves_argo_rollouts(api_client, settings)
        watched = REQUIRED + optional(namespace_selector=False, argo_rollouts=argo)
        results.extend(_rbac_checks(api_client, watched, settings.namespaces or (None,)))
        if settings.namespace_selector:
            # Namespaces are cluster-wide: a namespaced Role cannot grant them.
            selector = optional(namespace_selector=True, argo_rollouts=False)
            results.extend(_rbac_checks(api_client, selector, (None,), " (namespace selector)"))
        results.extend(_leader_election_checks(api_client, settings))
        found.entities = _list_entities(api_client, settings, results)
        _collect_annotation_tags(api_client, settings, argo, found, results)
    finally:
        api_client.close()
    return results, found


def _namespace_checks(api_client: Any, settings: Settings) -> list[Result]:
    results = []
    for namespace in settings.namespaces:
        try:
            call(api_client, "GET", f"/api/v1/namespaces/{namespace}", timeout=10)
        except ApiException as error:
            if error.status == 404:
                results.append(Result(f"Namespace {namespace}", False, "does not exist"))
            continue  # no permission to read Namespaces: the other checks still run
        results.append(Result(f"Namespace {namespace}", True, "exists"))
    return results


def _list_all(api_client: Any, path: str) -> list[dict[str, Any]]:
    """Every item of a list, in pages of 500."""
    items: list[dict[str, Any]] = []
    token = ""
    while True:
        query = {"limit": "500", **({"continue": token} if token else {})}
        answer = call(api_client, "GET", path, query=query, timeout=30)
        items.extend(_items(answer))
        token = ((answer or {}).get("metadata") or {}).get("continue") or ""
        if not token:
            return items


def _serves_argo_rollouts(api_client: Any, settings: Settings) -> bool:
    """Whether the operator would watch Argo Rollouts: asked for, and served by the cluster."""
    if not settings.argo_rollouts:
        return False
    try:
        found = call(api_client, "GET", ARGO_ROLLOUT.prefix, timeout=10)
    except ApiException:
        return False
    resources = (found or {}).get("resources") or []
    return any(isinstance(r, dict) and r.get("name") == ARGO_ROLLOUT.plural for r in resources)


def _annotated_kinds(argo_rollouts: bool) -> list[WatchedKind]:
    """Every kind whose ``cortex.io/tag`` maps it: the workloads always watched, and Argo
    Rollouts where the operator watches them."""
    kinds = [watched for watched in WORKLOADS if watched.annotated]
    return [*kinds, ARGO_ROLLOUT] if argo_rollouts else kinds


def _collect_annotation_tags(
    api_client: Any, settings: Settings, argo_rollouts: bool, found: Found, results: list[Result]
) -> None:
    scopes: list[str | None] = list(settings.namespaces) or [None]
    found.annotation = settings.tag_annotation
    for watched in _annotated_kinds(argo_rollouts):
        kind, plural = watched.kind, watched.plural
        for scope in scopes:
            try:
                objects = _list_all(api_client, watched.path(scope))
            except ApiException as error:
                results.append(
                    Result(
                        f"{found.annotation} on {plural}", None, f"cannot list: HTTP {error.status}"
                    )
                )
                continue
            for obj in objects:
                metadata = obj.get("metadata") or {}
                found.workloads.append((kind, metadata))
                value = (metadata.get("annotations") or {}).get(found.annotation)
                if not isinstance(value, str):
                    continue
                where = f"{kind} {metadata.get('namespace')}/{metadata.get('name')}"
                listed = split_tags(value)
                for tag in listed.tags:
                    found.tags.setdefault(tag, []).append(where)
                problems = listed.problems()
                for problem in problems[len(listed.rejected) :]:  # beyond the parts listed
                    found.bounds.setdefault(where, []).append(problem)
                for tag, problem in listed.rejected:
                    found.bad_tags.setdefault(tag, (problem, []))[1].append(where)


def _rbac_checks(
    api_client: Any,
    permissions: tuple[Permission, ...],
    namespaces: tuple[str | None, ...],
    purpose: str = "",
    name: str | None = None,
) -> list[Result]:
    """One row per permission: whether this identity has each of its verbs in every namespace
    (None: cluster-wide), on the object ``name`` for a permission granted by name, as the API
    server's SelfSubjectAccessReview answers."""
    authz = client.AuthorizationV1Api(api_client)
    results = []
    for permission in permissions:
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
                            name=name if permission.named else None,
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
        name = f"RBAC {permission.resource}{purpose}"
        if missing:
            results.append(Result(name, False, "missing: " + ", ".join(missing)))
        else:
            results.append(Result(name, True, " ".join(permission.verbs)))
    return results


def _leader_election_checks(api_client: Any, settings: Settings) -> list[Result]:
    """The Lease's permissions where the operator would elect a leader, as `run` decides."""
    if not settings.leader_election:
        return [Result("Leader election", True, "off: run one replica only")]
    namespace = own_namespace(settings.lease_namespace)
    if namespace is None:
        return [
            Result(
                "Leader election",
                True,
                "off outside a cluster (set CORTEX_LEASE_NAMESPACE to elect a leader)",
            )
        ]
    lease = f"Lease {namespace}/{settings.lease_name}"
    rows = [Result("Leader election", True, f"on {lease}")]
    return rows + _rbac_checks(
        api_client, LEADER_ELECTION, (namespace,), f" ({lease})", settings.lease_name
    )


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


def _where(workloads: list[str]) -> str:
    more = len(workloads) - 1
    return workloads[0] + (f" and {more} more" if more else "")


def _spec_checks(found: Found) -> tuple[list[Result], list[tuple[str, str]]]:
    """Each CortexEntity parsed as the operator parses it, and each annotation tag's syntax;
    the (row name, tag) pairs that Cortex must still be asked about."""
    results: list[Result] = []
    to_ask: list[tuple[str, str]] = []
    for item in found.entities:
        metadata = item.get("metadata") or {}
        name = f"CortexEntity {metadata.get('namespace')}/{metadata.get('name')}"
        parsed = parse_entity(item)
        if isinstance(parsed, SpecError):
            results.append(Result(name, False, f"InvalidSpec: {parsed}"))
        else:
            to_ask.append((name, parsed.tag))
    for tag, (problem, workloads) in sorted(found.bad_tags.items()):
        results.append(
            Result(
                f"{found.annotation} on {_where(workloads)}", False, describe_bad_tag(tag, problem)
            )
        )
    for where, problems in sorted(found.bounds.items()):
        results.append(Result(f"{TAG_ANNOTATION} on {where}", False, "; ".join(problems)))
    for tag, workloads in sorted(found.tags.items()):
        to_ask.append((f"{found.annotation} on {_where(workloads)}", tag))
    return results, to_ask


async def _cortex_checks(
    settings: Settings, to_ask: list[tuple[str, str]], no_key: str | None = None
) -> list[Result]:
    if no_key is not None:
        rows = [Result("Cortex API key", None, f"not checked: {no_key}")]
        unasked = f"not checked in Cortex (no API key) at {settings.base_url}"
        return rows + [Result(name, None, f"entity {tag!r} {unasked}") for name, tag in to_ask]
    if settings.dry_run or settings.api_key is None:
        return [Result("Cortex API", None, "dry run: no key to check")]
    results: list[Result] = []
    async with CortexClient(
        settings.base_url,
        settings.api_key,
        per_minute=settings.rate_limit,
        max_retries=1,
        verify=trust(settings.ca_bundle),
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
        known: dict[str, Result] = {}  # one question per tag, however many use it
        for name, tag in to_ask:
            if tag not in known:
                try:
                    await cortex.list_events(tag, page_size=1)
                    known[tag] = Result("", True, f"entity {tag!r} exists")
                except CortexNotFound:
                    known[tag] = Result("", False, f"Cortex has no entity {tag!r}")
                except CortexError as error:
                    known[tag] = Result("", None, str(error))
            results.append(Result(name, known[tag].ok, known[tag].detail))
    return results


def render_table(results: list[Result]) -> str:
    width = max([len("CHECK"), *(len(r.check) for r in results)])
    lines = [f"{'CHECK':<{width}}  {'RESULT':<7}  DETAIL"]
    lines += [f"{r.check:<{width}}  {r.word:<7}  {r.detail}" for r in results]
    return "\n".join(lines)


def run_check(settings: Settings, out: TextIO | None = None, *, no_key: str | None = None) -> int:
    """Run every check, print the table; 0 when nothing failed. ``no_key``: why there is no
    API key (the Cortex rows are then marked as not checked)."""
    stream = out or sys.stdout
    results, found = _kubernetes_checks(settings)
    spec_results, to_ask = _spec_checks(found)
    results += spec_results
    results += asyncio.run(_cortex_checks(settings, to_ask, no_key))
    results += asyncio.run(mapping_rows(settings, found.workloads, found.entities, Result))
    secrets = Redactor([settings.api_key.get_secret_value()] if settings.api_key else [])
    print(secrets.redact(render_table(results)), file=stream)
    return 1 if any(result.ok is False for result in results) else 0


def tags_in_use(settings: Settings) -> list[str]:
    """Every tag the cluster names, as the operator would map it: each CortexEntity's (that
    it would accept) and each ``cortex.io/tag`` in use. Raises `RuntimeError` with one line
    when the cluster cannot be asked."""
    problem = check_cluster()
    if problem:
        raise RuntimeError(problem)
    api_client = load_api_client()
    found, ignored = Found(), list[Result]()
    try:
        found.entities = _list_entities(api_client, settings, ignored)
        argo = _serves_argo_rollouts(api_client, settings)
        _collect_annotation_tags(api_client, settings, argo, found, ignored)
    finally:
        api_client.close()
    tags = set(found.tags)
    for item in found.entities:
        parsed = parse_entity(item)
        if not isinstance(parsed, SpecError):
            tags.add(parsed.tag)
    return sorted(tags)
