"""The benchmark's real-cluster mode: a `testbed.ControlPlane` instead of the stand-in.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok run on loopback for the
whole run. Bare Pods, Deployments, StatefulSets and Jobs are created through the API (many at
once, over several connections); the real controllers make the owners' Pods, the real scheduler
puts every Pod on kwok's fake nodes and kwok makes it Running and Ready. The benchmark waits
until every Pod is and the controllers report their workloads ready, then reads it all back.
Cortex is the emulator, as in the stand-in mode.

Each part gets a namespace: ``bench-delivery`` for delivery and latency, ``bench`` for the
operator and the no-op baseline at scale, ``bench-naive`` for the naive baseline's own Pods,
``bench-churn`` for the churn part (each of its operators in turn, the namespace emptied between).
Every process watches only its namespace (``CORTEX_NAMESPACES``, which the baselines read too),
so each sees exactly the Pods of its part, as with a stand-in of its own.

Identities: the operator runs with a real token of the ServiceAccount that the project's Helm
chart creates, installed for those two namespaces (so a Role in each grants it access); the
baselines with tokens of ServiceAccounts bound to ``cluster-admin``. All three live in the
chart's namespace, and the audit policy records the requests of that namespace's
ServiceAccounts (and kwok's writes of Pod status) and nothing else, so that creating 20,000 Pods
does not fill the log. What the processes asked of the API is read from that log.

The naive baseline's Pods are all bare Pods: it maps a Pod by the Pod's own annotation only.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import stand
from bench.backends import Backend, Role, Stands
from bench.procinfo import MIB, usage
from bench.procs import BenchError, clean_env
from cortex_events.kube.watched import BY_KIND
from cortex_events_sim.fake_cortex import FakeCortex, run_in_thread
from testbed.assets import AssetsUnavailable, locate
from testbed.controlplane import AuditRecord, ControlPlane

logger = logging.getLogger("bench")

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "helm" / "cortex-events-operator"
OPERATOR_NAMESPACE = "cortex-events"
RELEASE = "cortex-events-operator"
NAMESPACES: dict[Role, str] = {
    "delivery": "bench-delivery",
    "scale": "bench",
    "naive": "bench-naive",
    "churn": "bench-churn",
}
BASELINE_ACCOUNTS = {"noop": "bench-noop", "naive": "bench-naive"}
KWOK_USER = "kwok-controller"
AUDIT_POLICY = f"""\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    userGroups: ["system:serviceaccounts:{OPERATOR_NAMESPACE}"]
  - level: Metadata
    users: ["{KWOK_USER}"]
    verbs: [patch, update]
    resources: [{{group: "", resources: [pods/status]}}]
  - level: None
"""
DEFAULT_NODES = 10
CREATE_CONCURRENCY = 16
"""Pod creations in flight at once: enough to keep the API server busy on two cores."""
PAGE = 500
STATUS_QUIET = 3.0
"""Seconds without a status write by kwok after which a namespace's Pods are taken as final:
kwok's Stages wait up to 1.9 s, and now and then write a Pod's status a second time."""


@dataclass(frozen=True)
class Identity:
    """A process's user in the audit log and the kubeconfig that makes it that user."""

    username: str
    kubeconfig: Path


@dataclass
class Audit:
    """The audit log, read as it grows: the processes' requests in order, when kwok first
    wrote each Pod's status (the moment it made the Pod Running and Ready), and when it last
    wrote a status in each namespace (kwok sometimes writes a Pod's status twice)."""

    plane: ControlPlane
    offset: int = 0
    records: list[AuditRecord] = field(default_factory=list)
    status_written: dict[tuple[str, str], float] = field(default_factory=dict)
    last_status_write: dict[str, float] = field(default_factory=dict)

    def refresh(self) -> list[AuditRecord]:
        new, self.offset = self.plane.audit_since(self.offset)
        for record in new:
            if record.user == KWOK_USER:
                key = (record.namespace, record.name)
                if 200 <= record.code < 300 and record.at is not None:
                    self.status_written.setdefault(key, record.at.timestamp())
                    self.last_status_write[record.namespace] = record.at.timestamp()
            else:
                self.records.append(record)
        return self.records


def _ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


class RealCluster(Backend):
    """A control plane for the whole run; `start()` it, `close()` it."""

    def __init__(self, workdir: Path, *, nodes: int = DEFAULT_NODES, keep: bool = False) -> None:
        self.nodes = nodes
        self.folder = workdir / "controlplane"
        self.keep = keep
        self.plane: ControlPlane | None = None
        self.audit: Audit | None = None
        self.identities: dict[str, Identity] = {}
        self.setup: dict[str, Any] = {"pods": []}
        self.versions: dict[str, str] = {}
        self.control_plane_usage: dict[str, Any] = {}
        self.audit_log_bytes = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> RealCluster:
        try:
            assets = locate()
        except AssetsUnavailable as error:
            raise BenchError(f"the real control plane is not available: {error}") from None
        began = time.monotonic()
        plane = ControlPlane(
            assets, self.folder, nodes=self.nodes, audit_policy=AUDIT_POLICY, keep_folder=self.keep
        )
        try:
            plane.start()
        except RuntimeError as error:
            raise BenchError(f"the control plane did not start: {error}") from None
        self.plane = plane
        self.audit = Audit(plane)
        self.setup["control_plane_start_seconds"] = round(time.monotonic() - began, 1)
        began = time.monotonic()
        self._identities(plane)
        self.setup["identities_seconds"] = round(time.monotonic() - began, 1)
        version = plane.api("GET", "/version")
        self.versions = {
            "kubernetes": str(version.get("gitVersion", "")),
            "kwok": _kwok_version(plane),
        }
        return self

    def close(self) -> None:
        if self.plane is not None:
            self.control_plane_usage = self._usage(self.plane)
            self.audit_log_bytes = self.plane.audit_mark()
            self.plane.stop()
            self.plane = None

    def _identities(self, plane: ControlPlane) -> None:
        """Namespaces, the chart (the operator's ServiceAccount and Roles), and the baselines'
        ServiceAccounts; a token and a kubeconfig for each."""
        for namespace in (OPERATOR_NAMESPACE, *NAMESPACES.values()):
            plane.api("POST", "/api/v1/namespaces", _object("v1", "Namespace", namespace))
        # A namespace takes Pods once its default ServiceAccount exists.
        for namespace in NAMESPACES.values():
            default = f"/api/v1/namespaces/{namespace}/serviceaccounts/default"
            _wait(
                functools.partial(_exists, plane, default),
                60,
                f"the default ServiceAccount of {namespace}",
            )
        watched = ",".join(NAMESPACES[role] for role in ("delivery", "scale", "churn"))
        began = time.monotonic()
        plane.helm(
            "install", RELEASE, str(CHART), "-n", OPERATOR_NAMESPACE,
            "--set", f"apiKey.value={stand.API_KEY}", "--set", f"clusterName={stand.CLUSTER}",
            "--set", f"namespaces={{{watched}}}",
        )  # fmt: skip
        self.setup["chart_install_seconds"] = round(time.monotonic() - began, 1)
        accounts = f"/api/v1/namespaces/{OPERATOR_NAMESPACE}/serviceaccounts"
        (chart_account,) = plane.api(
            "GET", f"{accounts}?labelSelector=app.kubernetes.io%2Finstance%3D{RELEASE}"
        )["items"]
        names = {"operator": chart_account["metadata"]["name"], **BASELINE_ACCOUNTS}
        for account in BASELINE_ACCOUNTS.values():
            plane.api("POST", accounts, _object("v1", "ServiceAccount", account))
            binding = _object("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", account)
            binding["roleRef"] = {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            }
            binding["subjects"] = [
                {"kind": "ServiceAccount", "name": account, "namespace": OPERATOR_NAMESPACE}
            ]
            plane.api("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", binding)
        for user, account in names.items():
            request = _object("authentication.k8s.io/v1", "TokenRequest", account)
            request["spec"] = {"expirationSeconds": 24 * 3600}
            token = plane.api("POST", f"{accounts}/{account}/token", request)["status"]["token"]
            path = plane.write_token_kubeconfig(plane.folder / f"bench-{user}.kubeconfig", token)
            username = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{account}"
            self.identities[user] = Identity(username, path)

    def _usage(self, plane: ControlPlane) -> dict[str, Any]:
        """Each component's memory and CPU at the end of the run."""
        found: dict[str, Any] = {}
        for name, component in plane.components.items():
            if component.process is None or not component.alive():
                continue
            try:
                used = usage(component.process.pid)
            except (OSError, ValueError):
                continue
            found[name] = {
                "rss_mib": round(used.rss_bytes / MIB, 1),
                "cpu_seconds": round(used.cpu_seconds, 1),
            }
        return found

    # -- for the scenarios -------------------------------------------------------------------

    @contextmanager
    def _stands(self, workdir: Path, rate_limit: int | None, role: Role) -> Iterator[Stands]:
        if self.plane is None or self.audit is None:
            raise BenchError("the control plane is not running")
        with run_in_thread(api_key=stand.API_KEY, rate_limit=rate_limit) as cortex:
            real = RealStands(self, self.plane, self.audit, cortex, workdir, NAMESPACES[role])
            try:
                yield real
            finally:
                real.close()

    def stands(
        self, workdir: Path, *, rate_limit: int | None, role: Role
    ) -> AbstractContextManager[Stands]:
        return self._stands(workdir, rate_limit, role)

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {
            "kind": "real",
            "description": "etcd, kube-apiserver, kube-controller-manager, kube-scheduler and "
            "kwok on loopback; bare Pods, Deployments, StatefulSets and Jobs created through "
            "the API, their Pods scheduled onto kwok nodes",
            "versions": self.versions,
            "nodes": self.nodes,
            "namespaces": dict(NAMESPACES),
            "setup": self.setup,
        }
        if self.control_plane_usage:
            described["control_plane_at_end"] = self.control_plane_usage
        described["audit_log_mib"] = round(
            (self.plane.audit_mark() if self.plane else self.audit_log_bytes) / MIB, 1
        )
        return described


def _object(api_version: str, kind: str, name: str) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}}


def _kwok_version(plane: ControlPlane) -> str:
    """``v0.8.0`` from ``kwok version v0.8.0 go1.26.8 (linux/amd64)``."""
    words = plane.run(plane.binary("kwok"), "--version", check=False).stdout.split()
    return words[2] if len(words) > 2 and words[:2] == ["kwok", "version"] else ""


def _exists(plane: ControlPlane, path: str) -> bool:
    try:
        return bool(plane.api("GET", path))
    except OSError:
        return False


def _wait(probe: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


class RealStands(Stands):
    """One namespace of the real control plane and a Cortex emulator of its own."""

    kubelet = True

    def __init__(
        self,
        cluster: RealCluster,
        plane: ControlPlane,
        audit: Audit,
        cortex: FakeCortex,
        workdir: Path,
        namespace: str,
    ) -> None:
        self.cluster = cluster
        self.plane = plane
        self.audit = audit
        self.cortex = cortex
        self.workdir = workdir
        self.namespace = namespace
        self._tls = ssl.create_default_context(cafile=str(plane.pki.ca_cert))
        admin = plane.pki.identity("admin")
        self._tls.load_cert_chain(str(admin.cert), str(admin.key))
        self._client = httpx.Client(base_url=plane.server, verify=self._tls, timeout=60.0)

    def close(self) -> None:
        self._client.close()

    def _username(self, user: str) -> str:
        return self.cluster.identities[user].username

    # -- what the processes did --------------------------------------------------------------

    def env(self, user: str, **extra: str) -> dict[str, str]:
        return clean_env(
            KUBECONFIG=str(self.cluster.identities[user].kubeconfig),
            CORTEX_API_KEY=stand.API_KEY,
            CORTEX_BASE_URL=self.cortex.base_url,
            CORTEX_ALLOW_HTTP="true",  # the emulator, on loopback
            CORTEX_CLUSTER_NAME=stand.CLUSTER,
            CORTEX_NAMESPACES=self.namespace,
            **extra,
        )

    def kube_request_count(self) -> int:
        return len(self.audit.refresh())

    def listed_since(self, user: str, mark: int) -> bool:
        username = self._username(user)
        return any(
            r.user == username and r.verb == "list" and r.resource == "pods"
            for r in self.audit.refresh()[mark:]
        )

    def workload_writes(self, user: str, since: int = 0) -> list[tuple[str, str]]:
        username = self._username(user)
        return [
            (r.verb, r.uri)
            for r in self.audit.refresh()[since:]
            if r.user == username and r.resource in stand.WORKLOAD_RESOURCES and r.is_write
        ]

    def ready_changed_at(self, names: Sequence[str]) -> dict[str, float]:
        self.audit.refresh()
        written = self.audit.status_written
        return {
            name: written[(self.namespace, name)]
            for name in names
            if (self.namespace, name) in written
        }

    # -- Pods --------------------------------------------------------------------------------

    @property
    def _pods_path(self) -> str:
        return f"/api/v1/namespaces/{self.namespace}/pods"

    def _manifest(self, name: str, tag: str) -> dict[str, Any]:
        return stand.pod_manifest(name, tag, on_node=False, namespace=self.namespace)

    def create_pods(self, names_and_tags: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        if len(names_and_tags) == 1:
            ((name, tag),) = names_and_tags
            return [self._create_one(name, tag)]
        bodies = [(self._pods_path, self._manifest(name, tag)) for name, tag in names_and_tags]
        return asyncio.run(self._create_many(bodies, keep=True))

    def _create_one(self, name: str, tag: str) -> dict[str, Any]:
        answer = self._client.post(self._pods_path, json=self._manifest(name, tag))
        if answer.status_code != 201:
            raise BenchError(f"creating Pod {name}: {answer.status_code} {answer.text[:300]}")
        created: dict[str, Any] = answer.json()
        return created

    async def _create_many(
        self, bodies: Sequence[tuple[str, dict[str, Any]]], *, keep: bool
    ) -> list[dict[str, Any]]:
        """POST each (path, object), `CREATE_CONCURRENCY` at a time; a refusal the API server
        gives under load (429, 5xx, a dropped connection) is tried again."""
        gate = asyncio.Semaphore(CREATE_CONCURRENCY)
        created: list[dict[str, Any]] = []
        limits = httpx.Limits(max_connections=CREATE_CONCURRENCY)
        async with httpx.AsyncClient(
            base_url=self.plane.server, verify=self._tls, limits=limits, timeout=60.0
        ) as client:

            async def create(path: str, body: dict[str, Any]) -> None:
                what = f"{body['kind']} {body['metadata']['name']}"
                async with gate:
                    for attempt in range(10):
                        try:
                            answer = await client.post(path, json=body)
                        except httpx.TransportError:
                            await asyncio.sleep(0.5 * (attempt + 1))
                            continue
                        if answer.status_code == 201:
                            if keep:
                                created.append(answer.json())
                            return
                        if answer.status_code == 409 and attempt:  # an earlier try got through
                            return
                        if answer.status_code not in (429, 500, 503, 504):
                            raise BenchError(
                                f"creating {what}: {answer.status_code} {answer.text[:300]}"
                            )
                        await asyncio.sleep(0.5 * (attempt + 1))
                    raise BenchError(f"creating {what}: the API server kept refusing")

            await asyncio.gather(*(create(path, body) for path, body in bodies))
        return created

    def mark_ready(self, name: str) -> None:
        raise BenchError("on a real cluster kwok makes Pods ready, not the benchmark")

    # -- through the API, as a user would (the churn part) ----------------------------------

    def create_objects(self, manifests: Sequence[dict[str, Any]]) -> None:
        bodies = [(BY_KIND[m["kind"]].path(self.namespace), m) for m in manifests]
        asyncio.run(self._create_many(bodies, keep=False))

    def list_objects(self, kind: str, *, label_selector: str | None = None) -> list[dict[str, Any]]:
        if label_selector is None:
            return self._list(kind)
        found = self._get(BY_KIND[kind].path(self.namespace), labelSelector=label_selector)
        items: list[dict[str, Any]] = found["items"]
        return items

    def patch_object(self, kind: str, name: str, patch: dict[str, Any]) -> None:
        answer = self._client.patch(
            f"{BY_KIND[kind].path(self.namespace)}/{name}",
            json=patch,
            headers={"Content-Type": "application/strategic-merge-patch+json"},
        )
        if answer.status_code != 200:
            raise BenchError(f"patching {kind} {name}: {answer.status_code} {answer.text[:300]}")

    def clear(self) -> None:
        """Delete the namespace's Deployments and Pods, and wait until no Pod is left."""
        for kind in ("Deployment", "Pod"):
            path = BY_KIND[kind].path(self.namespace)
            answer = self._client.request("DELETE", path, json={"propagationPolicy": "Background"})
            if answer.status_code != 200:
                raise BenchError(f"deleting the {kind}s of {self.namespace}: {answer.text[:300]}")
        _wait(lambda: not self._list("Pod"), 600, f"the Pods of {self.namespace} to go")

    def _get(self, path: str, **params: str) -> dict[str, Any]:
        answer = self._client.get(path, params=params)
        answer.raise_for_status()
        found: dict[str, Any] = answer.json()
        return found

    def pods_running(self) -> bool:
        """No Pod in the namespace is anything but Running, or Succeeded (kwok makes a Pod
        Running and Ready in one write, and completes a Job's Pods)."""
        phases = "status.phase!=Running,status.phase!=Succeeded"
        found = self._get(self._pods_path, fieldSelector=phases, limit="1")
        return not found.get("items")

    def _statuses_settled(self) -> bool:
        """kwok has written no Pod status in the namespace for `STATUS_QUIET` seconds."""
        self.audit.refresh()
        return time.time() - self.audit.last_status_write.get(self.namespace, 0.0) >= STATUS_QUIET

    def _list(self, kind: str) -> list[dict[str, Any]]:
        """Every object of ``kind`` in the namespace, page by page."""
        path = BY_KIND[kind].path(self.namespace)
        found: list[dict[str, Any]] = []
        token = ""
        while True:
            params = {"limit": str(PAGE)} | ({"continue": token} if token else {})
            page = self._get(path, **params)
            found += page["items"]
            token = page["metadata"].get("continue") or ""
            if not token:
                return found

    def _owners_unready(self, owners: stand.Objects) -> list[str]:
        """Those of these Deployments and StatefulSets that do not yet run their revision on
        every replica, ready, and those of these Jobs that have not yet completed, as their
        controllers report."""
        wanted = {(kind, body["metadata"]["name"]) for kind, body in owners}
        if not wanted:
            return []
        ready = {
            (kind, _name(obj))
            for kind in stand.OWNER_KINDS
            for obj in self._list(kind)
            if _OWNER_READY[kind](obj)
        }
        return sorted(f"{kind} {name}" for kind, name in wanted - ready)

    def _read_back(self, bare: set[str], owners: stand.Objects) -> stand.Objects | None:
        """What a growth made, as it is now, in the order a watch would bring it (revisions,
        owners, their ReplicaSets, Pods); None while anything is not yet as it stays."""
        named = {(kind, body["metadata"]["name"]) for kind, body in owners}
        revisions: stand.Objects = [
            ("ControllerRevision", revision)
            for revision in self._list("ControllerRevision")
            if _controller(revision) in named
        ]
        found: stand.Objects = [
            (kind, obj)
            for kind in stand.OWNER_KINDS
            for obj in self._list(kind)
            if (kind, _name(obj)) in named
        ]
        sets: stand.Objects = [
            ("ReplicaSet", rs) for rs in self._list("ReplicaSet") if _controller(rs) in named
        ]
        parents = named | {("ReplicaSet", _name(rs)) for _, rs in sets}
        pods = [
            pod for pod in self._list("Pod") if _name(pod) in bare or _controller(pod) in parents
        ]
        settled = (
            {(kind, _name(obj)) for kind, obj in found} == named
            and all(_OWNER_READY[kind](obj) for kind, obj in found)
            and len(pods) == len(bare) + sum(_pods_of(body) for _, body in owners)
            and all(_ready(pod) or _completed(pod) for pod in pods)
        )
        ordered = [*revisions, *found, *sets, *(("Pod", pod) for pod in pods)]
        return ordered if settled else None

    def grow(self, growth: stand.Growth, entities: int, *, objects: bool = True) -> stand.Objects:
        bare = stand.bare_pods(growth, entities)
        owners = stand.owner_manifests(growth, entities, self.namespace)
        bodies = [(self._pods_path, self._manifest(name, tag)) for name, tag in bare]
        bodies += [(BY_KIND[kind].path(self.namespace), body) for kind, body in owners]
        logger.info(
            "creating %d bare pods, and %d each of Deployments, StatefulSets and Jobs in %s",
            len(bare),
            len(growth.owners),
            self.namespace,
        )
        began = time.monotonic()
        asyncio.run(self._create_many(bodies, keep=False))
        created = time.monotonic() - began
        timeout = 300 + growth.pods / 10
        deadline = time.monotonic() + timeout
        while (unready := self._owners_unready(owners)) or not self.pods_running():
            if time.monotonic() > deadline:
                waiting = f"; not yet done: {', '.join(unready[:5])}" if unready else ""
                raise BenchError(
                    f"timed out after {timeout:.0f}s waiting for {growth.pods} pods in "
                    f"{self.namespace} to run or complete{waiting}"
                )
            time.sleep(0.2)
        running = time.monotonic() - began
        made: stand.Objects = []
        if objects:  # as they stay: the events seeded from them must be what the operator sees
            _wait(self._statuses_settled, 60, f"kwok to finish with the pods in {self.namespace}")
            deadline = time.monotonic() + 60
            names = {name for name, _ in bare}
            while (found := self._read_back(names, owners)) is None:
                if time.monotonic() > deadline:
                    raise BenchError(f"the workloads in {self.namespace} have not all settled")
                time.sleep(1.0)
            made = found
        self.cluster.setup["pods"].append(
            {
                "namespace": self.namespace,
                "pods_before": growth.before.pods,
                "pods_created": growth.pods,
                "bare_pods": len(bare),
                "deployments": len(growth.owners),
                "statefulsets": len(growth.owners),
                "jobs": len(growth.owners),
                "create_seconds": round(created, 1),
                "running_seconds": round(running, 1),
                "pods_per_second": round(growth.pods / running, 1),
                "setup_seconds": round(time.monotonic() - began, 1),
            }
        )
        logger.info(
            "%d pods made in %.1fs, all Running and Ready (or completed) after %.1fs",
            growth.pods,
            created,
            running,
        )
        return made


def _name(obj: Mapping[str, Any]) -> str:
    return str(obj["metadata"]["name"])


def _controller(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    """(kind, name) of the object's controller, if it has one."""
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("kind")), str(ref.get("name"))
    return None


def _pods_of(owner: Mapping[str, Any]) -> int:
    spec = owner["spec"]
    return int(spec["completions"] if owner["kind"] == "Job" else spec["replicas"])


def _deployment_ready(deploy: Mapping[str, Any]) -> bool:
    """The deployment controller reports its rollout complete on every replica."""
    status, replicas = deploy.get("status") or {}, deploy["spec"]["replicas"]
    progressing: Mapping[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Progressing"), {}
    )
    return (
        int(status.get("observedGeneration", 0)) >= int(deploy["metadata"].get("generation", 1))
        and status.get("updatedReplicas") == replicas
        and status.get("availableReplicas") == replicas
        and status.get("replicas") == replicas
        and progressing.get("reason") == "NewReplicaSetAvailable"
    )


def _statefulset_ready(sts: Mapping[str, Any]) -> bool:
    status, spec = sts.get("status") or {}, sts["spec"]
    return (
        int(status.get("observedGeneration", 0)) >= int(sts["metadata"].get("generation", 1))
        and status.get("readyReplicas") == spec["replicas"]
        and status.get("updatedReplicas") == spec["replicas"]
        and status.get("updateRevision") is not None
        and status.get("currentRevision") == status.get("updateRevision")
    )


def _job_ready(job: Mapping[str, Any]) -> bool:
    """The Job has completed (kwok completes its Pods) and says so."""
    status = job.get("status") or {}
    complete = any(
        c.get("type") == "Complete" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    return complete and status.get("succeeded") == job["spec"]["completions"]


_OWNER_READY: dict[str, Callable[[Mapping[str, Any]], bool]] = {
    "Deployment": _deployment_ready,
    "StatefulSet": _statefulset_ready,
    "Job": _job_ready,
}


def _completed(pod: Mapping[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") == "Succeeded" and _controller(pod) is not None
