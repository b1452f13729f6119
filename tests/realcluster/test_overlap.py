"""An annotation and a CortexEntity naming the same tag: the CortexEntity's settings govern
every event of its tag in its namespace (on a real API server and real controllers)."""

from __future__ import annotations

from cortex_events_sim.fake_cortex import FakeCortex
from testbed.controlplane import ControlPlane

from .conftest import Operator, data, deployment, events, wait_for
from .test_cortexentity import entity


def test_the_cortexentity_governs_its_tag_even_for_annotated_workloads(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, operator: Operator
) -> None:
    operator.start()
    plane.apply(
        # The README's CortexEntity: rollouts and failures only, with customData.
        entity("payments", namespace, tag="payments-api",
               selector={"matchLabels": {"app": "payments"}},
               eventTypes=["DEPLOYMENT_ROLLOUT", "POD_FAILURE"],
               customData={"team": "payments"}),
        # Selected by it, and annotated with the same tag.
        deployment("payments", namespace, tag="payments-api", replicas=2),
        # Not selected by it, but annotated with its tag; one of its pods fails.
        deployment("payments-worker", namespace, tag="payments-api", replicas=1,
                   fate="failed"),
        # A tag no CortexEntity names: every event type.
        deployment("search", namespace, tag="search", replicas=2),
    )  # fmt: skip
    wait_for(lambda: len(events(cortex, "search", "POD_CREATION")) == 2, 120, "search's pods")
    wait_for(lambda: events(cortex, "payments-api", "POD_FAILURE"), 120, "the worker's failure")
    plane.kubectl("set", "image", "deployment/payments", "app=nginx:1.22", "-n", namespace)
    wait_for(
        lambda: [
            e for e in events(cortex, "payments-api", "DEPLOYMENT_ROLLOUT")
            if data(e).get("result") == "Completed"
        ],
        120,
        "the rollout of payments, completed",
    )  # fmt: skip
    plane.rollout_status("deployment/payments", namespace)
    wait_for(
        lambda: (
            len(events(cortex, "search", "POD_CREATION")) == 2
            and (
                (plane.get("cortexentity", "payments", "-n", namespace).get("status") or {}).get(
                    "matchedWorkloads"
                )
            )
        ),
        60,
        "the entity's status",
    )

    recorded = events(cortex, "payments-api")
    assert {e.type for e in recorded} == {"DEPLOYMENT_ROLLOUT", "POD_FAILURE"}, [
        (e.type, e.title) for e in recorded
    ]
    assert all(data(e)["cortexEntities"] == [f"{namespace}/payments"] for e in recorded)
    assert all(data(e)["team"] == "payments" for e in recorded)
    failure = events(cortex, "payments-api", "POD_FAILURE")[0]
    assert data(failure)["name"].startswith("payments-worker-"), "the annotated, unselected one"
    assert events(cortex, "search", "DEPLOYMENT_CREATION"), "the ungoverned tag: every type"
