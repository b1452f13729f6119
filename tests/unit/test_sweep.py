"""After a restart: deletions that happened while the operator was down."""

from __future__ import annotations

from datetime import UTC, datetime

from cortex_events.controllers.entities import EntityStore
from cortex_events.controllers.recorder import Recorder
from cortex_events.controllers.sweep import DowntimeSweep
from cortex_events.cortex.models import CustomEvent
from cortex_events.delivery.ledger import Ledger, LedgerEntry, TagState
from cortex_events.delivery.queue import Item, Outgoing
from cortex_events.domain.model import WorkloadRef
from cortex_events.domain.podsummary import Change, PodChange
from cortex_events.domain.render import MANAGED_BY, read_owned

T0 = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)


class Capture:
    """Stands in for the queue: what was submitted; and the ledger beside it."""

    def __init__(self) -> None:
        self.ledger = Ledger()
        self.items: list[Outgoing] = []

    async def submit(self, item: Item) -> None:
        assert isinstance(item, Outgoing), "no deploys are recorded here"
        self.items.append(item)


class Cluster:
    """Stands in for the Kubernetes API: name -> current uid (absent: deleted)."""

    def __init__(self, **current: str) -> None:
        self.current = current
        self.asked: list[str] = []

    async def current_uid(self, kind: str, namespace: str, name: str) -> str | None:
        self.asked.append(name)
        return self.current.get(name)


def record(capture: Capture, kind: str, name: str, uid: str, key: str) -> None:
    ledger = capture.ledger.tag("web")
    ledger.state = TagState.LOADED
    event = CustomEvent.model_validate(
        {
            "uuid": f"uuid-{uid}",
            "title": f"{kind} {name} created",
            "type": f"{kind.upper()}_CREATION",
            "timestamp": T0,
            "customData": {
                "cluster": "c",
                "managedBy": MANAGED_BY,
                "eventKey": key,
                "kind": kind,
                "namespace": "shop",
                "name": name,
                "uid": uid,
                "cortexEntities": [],
            },
        }
    )
    owned = read_owned(event.custom_data)
    assert owned is not None
    ledger.record(key, LedgerEntry.of(event, owned, "fp"))


def sweep(capture: Capture, cluster: Cluster, recorder: Recorder | None = None) -> DowntimeSweep:
    return DowntimeSweep(
        capture.ledger,
        recorder or Recorder(capture, EntityStore(), cluster="c"),
        cluster,
        capture,
        cluster="c",
        delay=0,
        clock=lambda: T0,
    )


async def test_a_workload_gone_while_down_gets_its_deletion_event() -> None:
    capture = Capture()
    record(capture, "Pod", "web-1", "u1", "pod/u1/created")
    record(capture, "Deployment", "web", "d1", "deployment/d1/created")
    cluster = Cluster()
    assert await sweep(capture, cluster).run() == 2
    keys = sorted(item.key for item in capture.items)
    assert keys == ["deployment/d1/deleted", "pod/u1/deleted"]
    body = next(i.body for i in capture.items if i.key == "pod/u1/deleted")
    assert body.type == "POD_DELETION"
    assert body.custom_data["name"] == "web-1"
    assert body.custom_data["managedBy"] == MANAGED_BY


async def test_nothing_for_workloads_that_still_exist_or_whose_deletion_is_recorded() -> None:
    capture = Capture()
    record(capture, "Pod", "alive", "u1", "pod/u1/created")
    record(capture, "Pod", "gone", "u2", "pod/u2/created")
    record(capture, "Pod", "gone", "u2", "pod/u2/deleted")
    record(capture, "Pod", "reused-name", "u3", "pod/u3/created")
    cluster = Cluster(alive="u1", **{"reused-name": "another-uid"})
    await sweep(capture, cluster).run()
    assert [item.key for item in capture.items] == ["pod/u3/deleted"]
    assert "gone" not in cluster.asked, "a recorded deletion needs no look-up"


async def test_each_tag_is_swept_once_and_not_before_the_delay() -> None:
    capture = Capture()
    record(capture, "Pod", "web-1", "u1", "pod/u1/created")
    early = DowntimeSweep(
        capture.ledger,
        Recorder(capture, EntityStore(), cluster="c"),
        Cluster(),
        capture,
        cluster="c",
        delay=60,
    )
    assert await early.run() == 0
    once = sweep(capture, Cluster())
    assert await once.run() == 1
    assert await once.run() == 0


async def test_a_pod_folded_into_a_summary_and_gone_while_down_gets_its_deletion_once() -> None:
    capture = Capture()
    web = WorkloadRef("Deployment", "shop", "web", "d1")
    book = capture.ledger.tag("web").summaries
    for n, uid in enumerate(("u1", "u2", "u3", "u4")):
        pod = WorkloadRef("Pod", "shop", f"web-{n}", uid)
        summary = book.fold(PodChange(web, pod, Change.CREATED, T0))
    book.fold(PodChange(web, WorkloadRef("Pod", "shop", "web-3", "u4"), Change.DELETED, T0))
    record(capture, "Deployment", "web", "d1", summary.key)  # the summary is in Cortex
    cluster = Cluster(**{"web-0": "u1", "web-2": "another-uid"}, web="d1")
    await sweep(capture, cluster).run()
    # web-1 is gone, web-2's name belongs to a new Pod, web-3's deletion is folded already.
    assert sorted(item.key for item in capture.items) == ["pod/u2/deleted", "pod/u3/deleted"]
    item = next(i for i in capture.items if i.key == "pod/u2/deleted")
    assert item.fold is not None
    assert (item.fold.change.owner, item.fold.change.change) == (web, Change.DELETED)
    assert item.source == ("shop", "d1")
    assert "web-3" not in cluster.asked
