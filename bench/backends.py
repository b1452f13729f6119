"""What the scenarios run against: a Kubernetes API with workloads in it, and a Cortex emulator.

`Stands` is one such pair as the scenarios see it: a namespace to put Pods in, the environment
that points an operator process at it, and what the API and the emulator were asked. A
`Backend` makes them: `StandInBackend` from the project's Kubernetes API stand-in (one stand-in
server per `Stands`), `bench.realcluster.RealCluster` from a real control plane.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bench import stand
from bench.procs import clean_env
from cortex_events_sim.fake_cortex import FakeCortex, RecordedRequest, run_in_thread
from cortex_events_sim.kubectl import Kubectl
from cortex_events_sim.server_thread import ServerThread, serve_in_thread

Role = Literal["delivery", "scale", "naive", "churn"]
"""What a `Stands` is for: the delivery and latency part, the scale part (the operator and the
no-op baseline), the naive baseline's Pods of its own (it writes to them), or the churn part
(whose workloads are made by the cluster's controllers, simulated on the stand-in)."""


class Stands(abc.ABC):
    """A Kubernetes API and a Cortex emulator; processes are named by user (``operator``,
    ``noop``, ``naive``) and each runs with `env` of its user."""

    cortex: FakeCortex
    workdir: Path
    namespace: str
    kubelet: bool
    """Whether something in the cluster makes new Pods Running and Ready (kwok does on a real
    control plane); otherwise Pods stay as the benchmark writes them."""

    # -- Cortex ------------------------------------------------------------------------------

    def requests(self, since: int = 0) -> list[RecordedRequest]:
        return self.cortex.state.requests[since:]

    def request_count(self) -> int:
        return len(self.cortex.state.requests)

    def activity(self) -> int:
        """Requests both stand-ins received so far from the processes under test: a process
        whose count does not move is not talking to either."""
        return self.request_count() + self.kube_request_count()

    # -- Kubernetes --------------------------------------------------------------------------

    @abc.abstractmethod
    def env(self, user: str, **extra: str) -> dict[str, str]:
        """The environment of a process that runs as ``user`` against these stands."""

    @abc.abstractmethod
    def kube_request_count(self) -> int:
        """Requests the API received from the processes under test; also a mark for
        `listed_since` and `workload_writes`."""

    @abc.abstractmethod
    def listed_since(self, user: str, mark: int) -> bool:
        """Whether ``user`` listed Pods after ``mark`` (a `kube_request_count`)."""

    @abc.abstractmethod
    def workload_writes(self, user: str, since: int = 0) -> list[tuple[str, str]]:
        """Writes ``user`` made to workloads of any kind the operator watches: (method or
        verb, path)."""

    @abc.abstractmethod
    def create_pods(self, names_and_tags: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        """New bare Pods, each mapped to its tag; returns them as created (Pending)."""

    @abc.abstractmethod
    def mark_ready(self, name: str) -> None:
        """Make a Pod Running and Ready (only where `kubelet` is false)."""

    @abc.abstractmethod
    def pods_running(self) -> bool:
        """Whether every Pod in the namespace has reached the phase it will stay in."""

    @abc.abstractmethod
    def ready_changed_at(self, names: Sequence[str]) -> dict[str, float]:
        """Where `kubelet` is true: when each Pod's Running and Ready status was written
        (wall-clock seconds), for the Pods that have one."""

    # -- through the API, as a user would (the churn part) ----------------------------------

    @abc.abstractmethod
    def create_objects(self, manifests: Sequence[dict[str, Any]]) -> None:
        """Create these objects in the namespace, through the API."""

    @abc.abstractmethod
    def list_objects(self, kind: str, *, label_selector: str | None = None) -> list[dict[str, Any]]:
        """The objects of ``kind`` in the namespace, as the API returns them."""

    @abc.abstractmethod
    def patch_object(self, kind: str, name: str, patch: dict[str, Any]) -> None:
        """A strategic merge patch (a JSON merge patch on the stand-in), as kubectl sends."""

    @abc.abstractmethod
    def clear(self) -> None:
        """Delete what the churn part made, once it is done with these stands."""

    @abc.abstractmethod
    def grow(self, growth: stand.Growth, entities: int, *, objects: bool = True) -> stand.Objects:
        """What ``growth`` adds (bare Pods; Deployments, StatefulSets and Jobs with their
        Pods), spread round-robin over the entities, once every Pod is Running and ready or, a
        Job's, completed; returns every object it made as it is now (when ``objects``, else
        nothing)."""


class Backend(abc.ABC):
    """Makes `Stands`; ``describe()`` says what they were, for the results."""

    @abc.abstractmethod
    def stands(
        self, workdir: Path, *, rate_limit: int | None, role: Role
    ) -> AbstractContextManager[Stands]:
        """Stands for one part of the run; Cortex's limit is ``rate_limit`` a minute (None:
        no limit)."""

    @abc.abstractmethod
    def describe(self) -> dict[str, Any]: ...

    @abc.abstractmethod
    def close(self) -> None:
        """Stop whatever the backend started."""


# -- the project's stand-in ------------------------------------------------------------------


@dataclass
class StandIns(Stands):
    """The Kubernetes API stand-in, written to directly (no HTTP), and the Cortex emulator."""

    kube: ServerThread
    cortex: FakeCortex
    workdir: Path
    namespace: str = stand.NAMESPACE
    kubelet: bool = False
    kubeconfigs: dict[str, Path] = field(default_factory=dict)
    driver: Kubectl | None = None

    def env(self, user: str, **extra: str) -> dict[str, str]:
        path = self.kubeconfigs.get(user)
        if path is None:
            path = self.kubeconfigs[user] = self.kube.write_kubeconfig(
                self.workdir / f"kubeconfig-{user}-{id(self)}", user
            )
        return clean_env(
            KUBECONFIG=str(path),
            CORTEX_API_KEY=stand.API_KEY,
            CORTEX_BASE_URL=self.cortex.base_url,
            CORTEX_ALLOW_HTTP="true",  # the emulator, on loopback
            CORTEX_CLUSTER_NAME=stand.CLUSTER,
            **extra,
        )

    def kube_request_count(self) -> int:
        return self.kube.call(len, self.kube.server.requests)

    def listed_since(self, user: str, mark: int) -> bool:
        recent = self.kube.call(lambda: list(self.kube.server.requests)[mark:])
        return any(r.user == user and r.verb == "list" and r.resource == "pods" for r in recent)

    def workload_writes(self, user: str, since: int = 0) -> list[tuple[str, str]]:
        recent = self.kube.call(lambda: list(self.kube.server.requests)[since:])
        return [
            (r.method, r.path)
            for r in recent
            if r.user == user and r.resource in stand.WORKLOAD_RESOURCES and r.is_write
        ]

    def create_pods(self, names_and_tags: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        return self.kube.call(stand.create_pods, self.kube.server, names_and_tags, running=False)

    def mark_ready(self, name: str) -> None:
        self.kube.call(
            self.kube.server.patch_status, "pods", name, stand.running_status(), self.namespace
        )

    def pods_running(self) -> bool:
        if not self.kubelet:
            return True  # nothing changes a Pod here but the benchmark
        return all(
            (pod.get("status") or {}).get("phase") in ("Running", "Succeeded")
            for pod in self.list_objects("Pod")
        )

    def _driver(self) -> Kubectl:
        if self.driver is None:
            self.driver = Kubectl(self.kube.kubeconfig("driver"))
        return self.driver

    def create_objects(self, manifests: Sequence[dict[str, Any]]) -> None:
        for manifest in manifests:
            self._driver().create(manifest)

    def list_objects(self, kind: str, *, label_selector: str | None = None) -> list[dict[str, Any]]:
        return self._driver().list(kind, self.namespace, label_selector=label_selector)

    def patch_object(self, kind: str, name: str, patch: dict[str, Any]) -> None:
        self._driver().patch(kind, name, self.namespace, patch)

    def clear(self) -> None:
        """Nothing to do: each stands is a stand-in of its own, gone when it ends."""

    def ready_changed_at(self, names: Sequence[str]) -> dict[str, float]:
        return {}

    def grow(self, growth: stand.Growth, entities: int, *, objects: bool = True) -> stand.Objects:
        created = stand.grow(self.kube, growth, entities)
        return created if objects else []


class StandInBackend(Backend):
    """A Kubernetes API stand-in and a Cortex emulator of their own for each `Stands`."""

    @contextmanager
    def _stands(self, workdir: Path, rate_limit: int | None, role: Role) -> Iterator[Stands]:
        # The churn part's workloads go through the simulated controllers and kubelet.
        simulated = role == "churn"
        with ExitStack() as stack:
            kube = stack.enter_context(
                serve_in_thread(namespaces=(stand.NAMESPACE,), cluster=simulated)
            )
            cortex = stack.enter_context(
                run_in_thread(api_key=stand.API_KEY, rate_limit=rate_limit)
            )
            stands = StandIns(kube, cortex, workdir, kubelet=simulated)
            try:
                yield stands
            finally:
                if stands.driver is not None:
                    stands.driver.close()

    def stands(
        self, workdir: Path, *, rate_limit: int | None, role: Role
    ) -> AbstractContextManager[Stands]:
        return self._stands(workdir, rate_limit, role)

    def close(self) -> None:
        pass  # each Stands stopped its stand-ins when its part ended

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "stand-in",
            "description": "the project's Kubernetes API stand-in; Pods written to its store",
        }
