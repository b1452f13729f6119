"""Run etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok on loopback.

`ControlPlane` starts them in order, waits for each to be ready, and stops every process it
started (and removes its folder) on `stop()`, whatever happened in between. Each process runs
in a session of its own and dies with its parent (PDEATHSIG, set by setpriv), so even a killed
test run leaves nothing behind.

The API server authorizes with RBAC, signs ServiceAccount tokens, and writes an audit log of
every request (user, verb, resource, response code) that tests read back with `audit()`. A
caller that creates many thousands of objects may pass an ``audit_policy`` that records only
the requests it reads, so that the log stays small.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from testbed import pki as pki_module

T = TypeVar("T")

STAGES = Path(__file__).with_name("stages.yaml")
FAKE_NODE_ANNOTATION = "kwok.x-k8s.io/node"
SERVICE_CIDR = "10.96.0.0/16"
PROBE_NAMESPACE = "testbed-probe"
WORKLOAD_LISTING = "deployments,replicasets,statefulsets,daemonsets,jobs,cronjobs,pods"
"""What `describe` lists of a namespace."""
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  # The operator's own resource: its writes with their bodies, so that a refusal says why.
  - level: RequestResponse
    resources: [{group: cortex.io, resources: [cortexentities, cortexentities/status]}]
    verbs: [patch, update]
  - level: Metadata
"""
CLIENTS = {
    "admin": ("testbed-admin", "system:masters"),
    "controller-manager": ("system:kube-controller-manager",),
    "scheduler": ("system:kube-scheduler",),
    "kwok": ("kwok-controller", "system:masters"),
    "argo-rollouts": ("argo-rollouts-controller", "system:masters"),
}


APISERVER_STOP_SECONDS = 3.0
"""How long the API server may take to exit after SIGTERM before it is killed."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(probe: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll ``probe`` until it returns something truthy; raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = probe()
        except Exception:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def _with_parent(command: list[str]) -> list[str]:
    """``command``, made to die with this process (util-linux's setpriv sets PDEATHSIG)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--", *command] if setpriv else command


@dataclass
class Component:
    """One process of the control plane, its command and its log file."""

    name: str
    command: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 (binaries built by scripts/k8s-assets)
                _with_parent(self.command),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass(frozen=True)
class AuditRecord:
    """One finished request, as the API server's audit log tells it."""

    user: str
    verb: str
    resource: str
    subresource: str
    namespace: str
    name: str
    code: int
    uri: str
    stage: str = "ResponseComplete"
    at: datetime | None = None
    message: str = ""
    """The API server's reason for a refusal (``responseStatus.message``), empty otherwise."""
    detail: str = ""
    """For requests the policy records with their bodies: a refusal's causes and the body
    sent, in short; empty otherwise."""

    @property
    def is_write(self) -> bool:
        return self.verb in {"create", "update", "patch", "delete", "deletecollection"}


@dataclass
class ControlPlane:
    """A control plane on loopback, in ``folder``; `start()` it, `stop()` it."""

    assets: Path
    folder: Path
    nodes: int = 3
    controller_qps: int = 300
    keep_folder: bool = False
    etcd_port: int = field(default_factory=free_port)
    etcd_peer_port: int = field(default_factory=free_port)
    apiserver_port: int = field(default_factory=free_port)
    components: dict[str, Component] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    startups: list[tuple[datetime, datetime]] = field(default_factory=list)
    watch_cache: bool = True
    audit_policy: str = AUDIT_POLICY
    """The API server's audit policy (YAML); the default records every request's metadata."""
    _probes: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.pki = pki_module.create(self.folder / "pki", CLIENTS)
        self.audit_log = self.folder / "audit.log"
        (self.folder / "audit-policy.yaml").write_text(self.audit_policy)
        for name in CLIENTS:
            self.write_kubeconfig(self.kubeconfig_path(name), name)

    # -- addresses and credentials -----------------------------------------------------------

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def etcd_url(self) -> str:
        return f"http://127.0.0.1:{self.etcd_port}"

    def kubeconfig_path(self, name: str) -> Path:
        return self.folder / f"{name}.kubeconfig"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.kubeconfig_path("admin")

    def kubeconfig(self, user: dict[str, str]) -> dict[str, Any]:
        """A kubeconfig for this server with ``user`` (kubeconfig user fields)."""
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "testbed",
                    "cluster": {
                        "server": self.server,
                        "certificate-authority": str(self.pki.ca_cert),
                    },
                }
            ],
            "users": [{"name": "user", "user": user}],
            "contexts": [{"name": "testbed", "context": {"cluster": "testbed", "user": "user"}}],
            "current-context": "testbed",
        }

    def write_kubeconfig(self, path: Path, client: str) -> Path:
        identity = self.pki.identity(client)
        config = self.kubeconfig(
            {"client-certificate": str(identity.cert), "client-key": str(identity.key)}
        )
        path.write_text(json.dumps(config, indent=2))
        return path

    def write_token_kubeconfig(self, path: Path, token: str) -> Path:
        path.write_text(json.dumps(self.kubeconfig({"token": token}), indent=2))
        path.chmod(0o600)
        return path

    def token(self, namespace: str, service_account: str, duration: str = "4h") -> str:
        """A real ServiceAccount token, from the TokenRequest API (as `kubectl create token`)."""
        return self.kubectl(
            "create", "token", service_account, "-n", namespace, f"--duration={duration}"
        ).strip()

    # -- commands ----------------------------------------------------------------------------

    def binary(self, name: str) -> str:
        return str(self.assets / name)

    def run(
        self,
        *command: str,
        stdin: str | None = None,
        timeout: float = 120,
        env: dict[str, str] | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        environment = {**os.environ, "KUBECONFIG": str(self.admin_kubeconfig), **(env or {})}
        environment.setdefault("HELM_CACHE_HOME", str(self.folder / "helm" / "cache"))
        environment.setdefault("HELM_CONFIG_HOME", str(self.folder / "helm" / "config"))
        environment.setdefault("HELM_DATA_HOME", str(self.folder / "helm" / "data"))
        result = subprocess.run(  # noqa: S603
            command,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=environment,
            check=False,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"`{' '.join(command)}` exited {result.returncode}: "
                f"{result.stderr.strip() or result.stdout.strip()}"
            )
        return result

    def kubectl(self, *args: str, stdin: str | None = None, timeout: float = 120) -> str:
        return self.run(self.binary("kubectl"), *args, stdin=stdin, timeout=timeout).stdout

    def helm(self, *args: str, timeout: float = 300) -> str:
        return self.run(self.binary("helm"), *args, timeout=timeout).stdout

    def apply(self, *objects: dict[str, Any]) -> str:
        items = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
        return self.kubectl("apply", "-f", "-", stdin=json.dumps(items))

    def get(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json"))

    def rollout_status(self, workload: str, namespace: str, timeout: float = 120) -> None:
        """Wait for ``workload`` (``deployment/web``) to finish its rollout; on a timeout the
        error tells what the namespace and the control plane looked like."""
        try:
            self.kubectl(
                "rollout", "status", workload, "-n", namespace, f"--timeout={int(timeout)}s",
                timeout=timeout + 30,
            )  # fmt: skip
        except RuntimeError as error:
            raise RuntimeError(f"{error}\n{self.describe(namespace)}") from None

    def describe(self, namespace: str) -> str:
        """What a person would look at when a workload does not become ready: the namespace's
        workloads, pods and Events, the nodes, and the last lines of each controller's log."""
        parts = []
        for args in (
            ("get", WORKLOAD_LISTING, "-n", namespace, "-o", "wide"),
            ("get", "events", "-n", namespace, "--sort-by=.lastTimestamp"),
            ("get", "nodes"),
        ):
            result = self.run(self.binary("kubectl"), *args, check=False, timeout=30)
            parts.append(f"$ kubectl {' '.join(args)}\n{result.stdout}{result.stderr}")
        dead = self.dead_components()
        parts.append(f"components not running: {', '.join(dead) or 'none'}")
        for name in ("kube-controller-manager", "kube-scheduler", "kwok"):
            component = self.components.get(name)
            if component is not None:
                parts.append(f"--- {name} log, last lines:\n{component.tail(10)}")
        return "\n".join(parts)

    # -- the API, directly -------------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        admin = self.pki.identity("admin")
        context.load_cert_chain(str(admin.cert), str(admin.key))
        return context

    def api(self, method: str, path: str, body: Any = None, timeout: float = 10) -> Any:
        """One request as the admin; the decoded JSON answer."""
        payload = self.raw(method, path, body, timeout=timeout)
        return json.loads(payload) if payload else None

    def raw(self, method: str, path: str, body: Any = None, timeout: float = 10) -> bytes:
        """One request as the admin; the answer's body."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 (https to our own loopback server)
            self.server + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        with urllib.request.urlopen(  # noqa: S310
            request, timeout=timeout, context=self._ssl_context()
        ) as answer:
            return bytes(answer.read())

    def _ready(self) -> bool:
        try:
            return self.raw("GET", "/readyz", timeout=3).strip() == b"ok"
        except (urllib.error.URLError, OSError):
            return False

    # -- lifecycle ---------------------------------------------------------------------------

    def _component(self, name: str, command: Sequence[str]) -> Component:
        component = Component(name, list(command), self.folder / f"{name}.log")
        self.components[name] = component
        return component

    def _etcd(self) -> Component:
        peer = f"http://127.0.0.1:{self.etcd_peer_port}"
        return self._component(
            "etcd",
            [
                self.binary("etcd"),
                "--name=testbed",
                f"--data-dir={self.folder / 'etcd'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=testbed={peer}",
                "--unsafe-no-fsync=true",
                "--quota-backend-bytes=4294967296",
                "--log-level=warn",
            ],
        )

    def _apiserver(self) -> Component:
        p = self.pki
        return self._component(
            "kube-apiserver",
            [
                self.binary("kube-apiserver"),
                f"--etcd-servers={self.etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.apiserver_port}",
                f"--tls-cert-file={p.serving_cert}",
                f"--tls-private-key-file={p.serving_key}",
                f"--client-ca-file={p.ca_cert}",
                "--authorization-mode=RBAC",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={p.service_account_pub}",
                f"--service-account-signing-key-file={p.service_account_key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--allow-privileged=true",
                "--endpoint-reconciler-type=none",
                f"--audit-policy-file={self.folder / 'audit-policy.yaml'}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-format=json",
                "--audit-log-maxsize=0",
                f"--watch-cache={'true' if self.watch_cache else 'false'}",
                "--profiling=false",
                "--v=0",
            ],
        )

    def _controller_manager(self) -> Component:
        p = self.pki
        kubeconfig = self.kubeconfig_path("controller-manager")
        self.ports["kube-controller-manager"] = port = free_port()
        return self._component(
            "kube-controller-manager",
            [
                self.binary("kube-controller-manager"),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                "--leader-elect=false",
                f"--service-account-private-key-file={p.service_account_key}",
                f"--root-ca-file={p.ca_cert}",
                "--use-service-account-credentials=true",
                f"--kube-api-qps={self.controller_qps}",
                f"--kube-api-burst={self.controller_qps * 2}",
                "--concurrent-deployment-syncs=10",
                "--concurrent-replicaset-syncs=10",
                "--concurrent-gc-syncs=30",
                # HorizontalPodAutoscalers are looked at every second rather than every 15.
                "--horizontal-pod-autoscaler-sync-period=1s",
                "--v=0",
            ],
        )

    def _scheduler(self) -> Component:
        kubeconfig = self.kubeconfig_path("scheduler")
        self.ports["kube-scheduler"] = port = free_port()
        config = self.folder / "scheduler.yaml"
        config.write_text(
            json.dumps(
                {
                    "apiVersion": "kubescheduler.config.k8s.io/v1",
                    "kind": "KubeSchedulerConfiguration",
                    "clientConnection": {
                        "kubeconfig": str(kubeconfig),
                        "qps": self.controller_qps,
                        "burst": self.controller_qps * 2,
                    },
                    "leaderElection": {"leaderElect": False},
                }
            )
        )
        return self._component(
            "kube-scheduler",
            [
                self.binary("kube-scheduler"),
                f"--config={config}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                "--v=0",
            ],
        )

    def _kwok(self) -> Component:
        self.ports["kwok"] = port = free_port()
        return self._component(
            "kwok",
            [
                self.binary("kwok"),
                f"--kubeconfig={self.kubeconfig_path('kwok')}",
                f"--config={STAGES}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={FAKE_NODE_ANNOTATION}=fake",
                f"--server-address=127.0.0.1:{port}",
            ],
        )

    def start_component(
        self, name: str, command: Sequence[str], ready: Callable[[], bool], timeout: float = 60
    ) -> Component:
        """Start one more process beside the control plane (an add-on's controller), wait for
        ``ready``; `stop()` stops it first, and `dead_components` watches it too."""
        component = self._component(name, command)
        self._start(component, ready, timeout)
        return component

    def _start(self, component: Component, ready: Callable[[], bool], timeout: float) -> None:
        component.start()

        def probe() -> bool:
            if not component.alive():
                raise ComponentFailed(component)
            return ready()

        try:
            wait_until(probe, timeout, f"{component.name} to be ready")
        except ComponentFailed:
            raise RuntimeError(f"{component.name} exited at start:\n{component.tail()}") from None
        except TimeoutError as error:
            raise RuntimeError(f"{error}\n{component.tail()}") from None

    def start(self) -> ControlPlane:
        try:
            self._start(self._etcd(), self._etcd_healthy, 60)
            self.start_apiserver()
            self._start(self._controller_manager(), self._healthy("kube-controller-manager"), 60)
            self._start(self._scheduler(), self._healthy("kube-scheduler"), 60)
            self._start(self._kwok(), self._healthy("kwok", scheme="http"), 60)
            self.add_nodes(self.nodes)
            wait_until(self._default_service_account, 60, "the default ServiceAccount")
            self.wait_whole()
        except BaseException:
            self.stop()
            raise
        return self

    def start_apiserver(self, *, watch_cache: bool | None = None) -> None:
        if watch_cache is not None:
            self.watch_cache = watch_cache
        began = datetime.now(UTC)
        self._start(self._apiserver(), self._ready, 90)
        # Until it is ready, a starting API server may refuse requests its RBAC cache cannot
        # authorize yet (403): such answers say nothing about the permissions granted.
        self.startups.append((began, datetime.now(UTC) + timedelta(seconds=1)))

    def starting_at(self, moment: datetime) -> bool:
        """Whether ``moment`` falls while the API server was starting (see `startups`)."""
        return any(began <= moment <= ready for began, ready in self.startups)

    def stop_apiserver(self) -> None:
        # On SIGTERM it stops listening at once (its clients see the restart then), and then
        # waits 15 s or more for its own long-running requests to end: killed after a moment.
        self.components["kube-apiserver"].stop(timeout=APISERVER_STOP_SECONDS)

    def restart_apiserver(self, *, watch_cache: bool | None = None, down_for: float = 0) -> None:
        """Restart the API server; return once the controllers work through it again."""
        self.stop_apiserver()
        time.sleep(down_for)
        self.start_apiserver(watch_cache=watch_cache)
        self.wait_whole()

    def wait_whole(self, timeout: float = 180) -> None:
        """Wait until a Deployment of one replica becomes available, then delete it.

        A ready API server is not yet a working cluster: after a restart the controller
        manager, the scheduler and kwok reconnect their watches with back-off, and until they
        have, a new workload stays without pods. A test that follows a restart starts from a
        control plane whose every part answers."""
        self._probes += 1
        name = f"probe-{self._probes}"
        if self.run(self.binary("kubectl"), "get", "namespace", PROBE_NAMESPACE,
                    check=False, timeout=30).returncode != 0:  # fmt: skip
            self.kubectl("create", "namespace", PROBE_NAMESPACE)
        probe = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": PROBE_NAMESPACE},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"probe": name}},
                "template": {
                    "metadata": {"labels": {"probe": name}},
                    "spec": {
                        "containers": [{"name": "probe", "image": "probe"}],
                        "terminationGracePeriodSeconds": 0,
                    },
                },
            },
        }
        # A request may still meet a refusal of the API server's start-up (see `startups`).
        wait_until(lambda: bool(self.apply(probe)), 60, "the probe Deployment to be created")
        self.rollout_status(f"deployment/{name}", PROBE_NAMESPACE, timeout)
        self.kubectl("delete", "deployment", name, "-n", PROBE_NAMESPACE, "--wait=false")

    def stop(self) -> None:
        core = ("kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd")
        added = [name for name in self.components if name not in core]
        for name in (*reversed(added), *core):
            component = self.components.get(name)
            if component is not None:
                component.stop(APISERVER_STOP_SECONDS if name == "kube-apiserver" else 15.0)
        if not self.keep_folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def dead_components(self) -> list[str]:
        return [c.name for c in self.components.values() if c.process is not None and not c.alive()]

    # -- readiness checks --------------------------------------------------------------------

    def _etcd_healthy(self) -> bool:
        with urllib.request.urlopen(f"{self.etcd_url}/health", timeout=2) as answer:  # noqa: S310
            return bool(json.loads(answer.read()).get("health") == "true")

    def _healthy(self, name: str, scheme: str = "https") -> Callable[[], bool]:
        url = f"{scheme}://127.0.0.1:{self.ports[name]}/healthz"
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the components' own self-signed serving certs

        def probe() -> bool:
            tls = context if scheme == "https" else None
            with urllib.request.urlopen(url, timeout=2, context=tls) as answer:  # noqa: S310
                return bool(answer.read().strip() == b"ok")

        return probe

    def _default_service_account(self) -> bool:
        return bool(self.api("GET", "/api/v1/namespaces/default/serviceaccounts/default"))

    # -- nodes -------------------------------------------------------------------------------

    def add_nodes(self, count: int, *, prefix: str = "kwok-node-", timeout: float = 60) -> None:
        existing = len(self.node_names())
        names = [f"{prefix}{index}" for index in range(existing, existing + count)]
        for name in names:
            self.api(
                "POST",
                "/api/v1/nodes",
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {
                        "name": name,
                        "annotations": {FAKE_NODE_ANNOTATION: "fake"},
                        "labels": {
                            "type": "kwok",
                            "kubernetes.io/hostname": name,
                            "kubernetes.io/os": "linux",
                            "kubernetes.io/arch": "amd64",
                        },
                    },
                    "spec": {},
                },
            )
        wait_until(lambda: self.ready_nodes() >= existing + count, timeout, "the nodes to be Ready")

    def node_names(self) -> list[str]:
        return [n["metadata"]["name"] for n in self.api("GET", "/api/v1/nodes")["items"]]

    def ready_nodes(self) -> int:
        nodes = self.api("GET", "/api/v1/nodes")["items"]
        return sum(
            1
            for node in nodes
            if any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (node.get("status") or {}).get("conditions") or []
            )
        )

    # -- etcd --------------------------------------------------------------------------------

    def _etcd_call(self, path: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(  # noqa: S310 (our own loopback etcd)
            self.etcd_url + path, data=json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return json.loads(answer.read())

    def etcd_revision(self) -> int:
        key = base64.b64encode(b"/registry/namespaces/default").decode()
        return int(self._etcd_call("/v3/kv/range", {"key": key})["header"]["revision"])

    def compact_etcd(self) -> int:
        """Compact etcd's history up to now, so older resource versions answer 410 Gone."""
        revision = self.etcd_revision()
        self._etcd_call("/v3/kv/compaction", {"revision": revision, "physical": True})
        return revision

    # -- the audit log -----------------------------------------------------------------------

    def audit_mark(self) -> int:
        """Where the audit log ends now: pass it as ``since`` to read only what follows."""
        try:
            return self.audit_log.stat().st_size
        except FileNotFoundError:
            return 0

    def audit(self, user: str | None = None, *, since: int = 0) -> list[AuditRecord]:
        """The requests in the audit log (of ``user`` when given): every finished one, and
        every watch as soon as it has started streaming."""
        records = (_record(line) for line in _lines(self.audit_log, since))
        return [r for r in records if r is not None and (user is None or r.user == user)]

    def audit_since(self, since: int) -> tuple[list[AuditRecord], int]:
        """The requests (as `audit`) in the complete lines written after ``since``, and where
        those lines end: pass that as the next ``since`` to read the log as it grows."""
        try:
            with self.audit_log.open("rb") as handle:
                handle.seek(since)
                chunk = handle.read()
        except FileNotFoundError:
            return [], since
        complete = chunk[: chunk.rfind(b"\n") + 1]
        records = (_record(line.decode(errors="replace")) for line in complete.splitlines())
        return [r for r in records if r is not None], since + len(complete)


def _record(line: str) -> AuditRecord | None:
    """One audit log line as a record; None for a stage `audit` does not report."""
    try:
        entry = json.loads(line)
    except json.JSONDecodeError:
        return None  # a line being written
    stage, verb = entry.get("stage"), entry.get("verb", "")
    if not (stage == "ResponseComplete" or (stage, verb) == ("ResponseStarted", "watch")):
        return None
    ref = entry.get("objectRef") or {}
    status = entry.get("responseStatus") or {}
    return AuditRecord(
        user=(entry.get("user") or {}).get("username", ""),
        verb=verb,
        resource=ref.get("resource", ""),
        subresource=ref.get("subresource", ""),
        namespace=ref.get("namespace", ""),
        name=ref.get("name", ""),
        code=int(status.get("code", 0)),
        uri=entry.get("requestURI", ""),
        stage=stage,
        at=_parse_time(entry.get("requestReceivedTimestamp")),
        message=str(status.get("message", "")),
        detail=_refusal_detail(entry) if int(status.get("code", 0)) >= 400 else "",
    )


def _refusal_detail(entry: dict[str, Any]) -> str:
    """What a refused request's audit entry says beyond its status line, when the policy
    recorded bodies: each cause (field and message), then the request body, both cut short."""
    answer = entry.get("responseObject") or {}
    causes = (answer.get("details") or {}).get("causes") or []
    said = "; ".join(f"{c.get('field', '')}: {c.get('message', '')}" for c in causes)
    sent = entry.get("requestObject")
    body = json.dumps(sent, separators=(",", ":"))[:400] if sent is not None else ""
    return " ".join(part for part in (said and f"causes: {said}", body and f"body: {body}") if part)


class ComponentFailed(Exception):
    def __init__(self, component: Component) -> None:
        super().__init__(component.name)
        self.component = component


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _lines(path: Path, since: int = 0) -> Iterator[str]:
    with contextlib.suppress(FileNotFoundError), path.open("rb") as handle:
        handle.seek(since)
        for line in handle:
            yield line.decode(errors="replace")


@contextlib.contextmanager
def running(assets: Path, *, folder: Path | None = None, **options: Any) -> Iterator[ControlPlane]:
    """A started control plane for the ``with`` block; stopped and removed after it."""
    owned = folder is None
    base = Path(tempfile.mkdtemp(prefix="cortex-events-testbed-")) if owned else folder
    assert base is not None
    plane = ControlPlane(assets, base, **options)
    try:
        yield plane.start()
    finally:
        plane.stop()
        if owned and not plane.keep_folder:
            shutil.rmtree(base, ignore_errors=True)
