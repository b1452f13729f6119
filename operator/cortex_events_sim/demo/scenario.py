"""The demo's scenario: sample workloads applied step by step, as a user would with kubectl."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, TextIO

from cortex_events.app import OperatorApp
from cortex_events_sim import workloads
from cortex_events_sim.cluster import BEHAVIOR_ANNOTATION
from cortex_events_sim.demo.interrupts import Interrupts
from cortex_events_sim.demo.output import LiveView, Palette
from cortex_events_sim.kubectl import Kubectl
from cortex_events_sim.server_thread import ServerThread

__all__ = ["NAMESPACE", "STEP_TIMEOUT", "Scenario"]

NAMESPACE = "shop"
STEP_TIMEOUT = 20.0
REVISION = "deployment.kubernetes.io/revision"


class Scenario:
    """The sample workloads, applied step by step with the official Kubernetes client."""

    def __init__(
        self,
        kube: ServerThread,
        app: OperatorApp,
        view: LiveView,
        out: TextIO,
        paint: Palette,
        interrupts: Interrupts,
    ) -> None:
        self.kubectl = Kubectl(kube.kubeconfig("demo-user"))
        self.app = app
        self.view = view
        self.out = out
        self.paint = paint
        self.interrupts = interrupts

    def step(self, text: str) -> None:
        print(f"\n{self.paint.bold('>')} {self.paint.bold(text)}", file=self.out, flush=True)

    def wait(self, probe: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + STEP_TIMEOUT
        while not probe():
            self.view.poll()
            if time.monotonic() > deadline:
                raise TimeoutError(f"the simulated cluster did not reach: {what}")
            self.interrupts.sleep(0.1)
        self.settle()

    def settle(self, quiet: float = 1.0) -> None:
        """Wait until the operator has delivered everything and Cortex stays quiet."""
        deadline = time.monotonic() + STEP_TIMEOUT
        last_count, last_change = -1, time.monotonic()
        while time.monotonic() < deadline:
            self.view.poll()
            count = len(self.view.cortex.state.requests)
            if count != last_count:
                last_count, last_change = count, time.monotonic()
            elif self.app.delivery.depth == 0 and time.monotonic() - last_change >= quiet:
                return
            self.interrupts.sleep(0.1)

    def _rollout_done(self, name: str, revision: str) -> bool:
        deployment = self.kubectl.get("Deployment", name, NAMESPACE)
        annotations = deployment["metadata"].get("annotations") or {}
        conditions = (deployment.get("status") or {}).get("conditions") or []
        return annotations.get(REVISION) == revision and any(
            c.get("type") == "Progressing" and c.get("reason") == "NewReplicaSetAvailable"
            for c in conditions
        )

    def run(self) -> None:
        try:
            self._run()
        finally:
            self.kubectl.close()

    def _run(self) -> None:
        self.step("CortexEntity 'payments' maps pods labelled app=payments to entity payments-api")
        self.kubectl.create(
            workloads.cortex_entity(
                "payments",
                "payments-api",
                namespace=NAMESPACE,
                match_labels={"app": "payments"},
                custom_data={"team": "payments"},
            ),
        )
        self.settle(0.5)

        self.step("Deployment 'web' (cortex.io/tag: shop-web) with 2 replicas of nginx:1.25")
        self.kubectl.create(
            workloads.deployment("web", namespace=NAMESPACE, tag="shop-web", replicas=2)
        )
        self.wait(lambda: self.kubectl.ready_pods(NAMESPACE, "web-") >= 2, "2 ready pods of web")

        self.step("Rollout: web to nginx:1.26 (cortex.io/sha: 4f2a9c1), recorded as a deploy too")
        template = {
            "metadata": {"annotations": {"cortex.io/sha": "4f2a9c1"}},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.26"}]},
        }
        self.kubectl.patch("Deployment", "web", NAMESPACE, {"spec": {"template": template}})
        self.wait(lambda: self._rollout_done("web", "2"), "rollout of web revision 2")

        self.step("Scale: web to 3 replicas")
        self.kubectl.patch("Deployment", "web", NAMESPACE, {"spec": {"replicas": 3}})
        self.wait(lambda: self.kubectl.ready_pods(NAMESPACE, "web-") >= 3, "3 ready pods of web")

        self.step("Rollback: web to revision 1, as kubectl rollout undo does: a ROLLBACK deploy")
        first = next(
            rs
            for rs in self.kubectl.list("ReplicaSet", NAMESPACE)
            if (rs["metadata"].get("annotations") or {}).get(REVISION) == "1"
        )
        template = first["spec"]["template"]
        template["metadata"]["labels"].pop("pod-template-hash", None)
        self.kubectl.request(
            "PATCH",
            self.kubectl.path("Deployment", NAMESPACE, "web"),
            [{"op": "replace", "path": "/spec/template", "value": template}],
            content_type="application/json-patch+json",
        )
        self.wait(lambda: self._rollout_done("web", "3"), "rollback of web to revision 1")

        self.step("A payments worker that runs out of memory")
        self.kubectl.create(
            workloads.pod(
                "payments-worker",
                namespace=NAMESPACE,
                labels={"app": "payments"},
                behavior="OOMKilled",
            ),
        )
        self.wait(lambda: self._failure_recorded("payments-api"), "an OOMKilled event")

        self.step("StatefulSet 'db' (cortex.io/tag: shop-db) with 2 replicas of postgres:15")
        self.kubectl.create(_statefulset("db", "postgres:15"))
        self.wait(lambda: self.kubectl.ready_pods(NAMESPACE, "db-") >= 2, "2 ready pods of db")

        self.step("Rollout: db to postgres:16, one pod at a time from the highest ordinal")
        template = {"spec": {"containers": [{"name": "db", "image": "postgres:16"}]}}
        self.kubectl.patch("StatefulSet", "db", NAMESPACE, {"spec": {"template": template}})
        self.wait(lambda: self._statefulset_updated("db"), "rollout of db")

        self.step("CronJob 'backup' (cortex.io/tag: shop-backup): one run fails, the next succeeds")
        cronjob = self.kubectl.create(_cronjob("backup"))
        for run, fate in (("backup-manual-1", "Failed"), ("backup-manual-2", "Succeeded")):
            # As `kubectl create job --from=cronjob/backup` makes it: a Job the CronJob owns.
            self.kubectl.create(_job_from(cronjob, run, fate))
            self.wait(partial(self._job_finished, run), f"Job {run} finished")

        self.step("Deletion: Deployment web")
        self.kubectl.delete("Deployment", "web", NAMESPACE)
        self.wait(lambda: self.kubectl.ready_pods(NAMESPACE, "web-") == 0, "web's pods gone")

    def _statefulset_updated(self, name: str) -> bool:
        status = self.kubectl.get("StatefulSet", name, NAMESPACE).get("status") or {}
        return bool(status.get("updateRevision")) and (
            status.get("currentRevision") == status.get("updateRevision")
            and status.get("updatedReplicas") == status.get("replicas")
        )

    def _job_finished(self, name: str) -> bool:
        conditions = (self.kubectl.get("Job", name, NAMESPACE).get("status") or {}).get(
            "conditions"
        ) or []
        return any(c.get("status") == "True" for c in conditions)

    def _failure_recorded(self, tag: str) -> bool:
        return any(e.type == "POD_FAILURE" for e in self.view.cortex.state.events(tag))


def _statefulset(name: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": NAMESPACE,
                     "annotations": {"cortex.io/tag": f"shop-{name}"}},
        "spec": {
            "replicas": 2,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "db", "image": image}]}},
        },
    }  # fmt: skip


def _cronjob(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "namespace": NAMESPACE,
                     "annotations": {"cortex.io/tag": f"shop-{name}"}},
        "spec": {
            "schedule": "0 3 * * *",
            "jobTemplate": {"spec": {"backoffLimit": 0, "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "backup", "image": "busybox:1.36"}],
            }}}},
        },
    }  # fmt: skip


def _job_from(cronjob: Mapping[str, Any], name: str, fate: str) -> dict[str, Any]:
    template = cronjob["spec"]["jobTemplate"]["spec"]
    pod_template = {
        **template["template"],
        "metadata": {"annotations": {BEHAVIOR_ANNOTATION: fate}},
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "annotations": {"cronjob.kubernetes.io/instantiate": "manual"},
            "ownerReferences": [{
                "apiVersion": "batch/v1", "kind": "CronJob", "controller": True,
                "name": cronjob["metadata"]["name"], "uid": cronjob["metadata"]["uid"],
            }],
        },
        "spec": {**template, "template": pod_template},
    }  # fmt: skip
