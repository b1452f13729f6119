"""The queue's lanes: the most urgent class first, a bounded share for the others, and fair
turns between namespaces and workloads inside a class."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from cortex_events.delivery.lanes import SHARE, Lanes
from cortex_events.domain.priority import Priority

FAILURE, WORKLOAD, CHURN, HOUSEKEEPING = (
    Priority.FAILURE,
    Priority.WORKLOAD,
    Priority.CHURN,
    Priority.HOUSEKEEPING,
)


@dataclass
class Item:
    name: str
    priority: Priority = CHURN
    source: tuple[str, str] = ("shop", "web")
    seen_at: float = 0.0
    tag: str = field(default="entity")

    @property
    def queue_key(self) -> tuple[str, str]:
        return (self.tag, self.name)


def lanes_of(*items: Item) -> Lanes[Item]:
    lanes: Lanes[Item] = Lanes()
    for item in items:
        lanes.put(item)
    return lanes


def drain(lanes: Lanes[Item], most: Priority = HOUSEKEEPING) -> list[str]:
    taken = []
    while lanes.has_work(most):
        taken.append(lanes.take(most).name)
    return taken


def test_the_most_urgent_class_with_work_goes_first_whatever_came_before() -> None:
    lanes = lanes_of(
        Item("pod-1"),
        Item("retention", HOUSEKEEPING),
        Item("rollout", WORKLOAD),
        Item("pod-2"),
        Item("oomkilled", FAILURE),
    )
    assert drain(lanes) == ["oomkilled", "rollout", "pod-1", "pod-2", "retention"]


def test_a_less_urgent_class_is_served_after_a_bounded_number_of_takes() -> None:
    lanes = lanes_of(*(Item(f"failure-{n}", FAILURE) for n in range(3 * SHARE)), Item("pod"))
    taken = drain(lanes)
    assert taken.index("pod") == SHARE, "passed over SHARE times, then served"


def test_with_every_class_waiting_each_one_is_served_within_its_bound() -> None:
    lanes: Lanes[Item] = Lanes()
    for n in range(10 * SHARE):
        for priority in Priority:
            lanes.put(Item(f"{priority.label}-{n}", priority, source=(priority.label, "w")))
    taken = [lanes.take() for _ in range(8 * SHARE)]
    for priority in Priority:
        served = [i for i, item in enumerate(taken) if item.priority is priority]
        gaps = [b - a for a, b in zip([-1, *served], served, strict=False)]
        assert max(gaps) <= SHARE + 3, f"{priority.label} waited {max(gaps) - 1} takes"
    failures = sum(1 for item in taken if item.priority is FAILURE)
    assert failures > 0.7 * len(taken), "and the failures still get most of the takes"


def test_a_take_kept_for_urgent_classes_never_serves_churn_nor_counts_against_it() -> None:
    lanes = lanes_of(Item("pod"), *(Item(f"rollout-{n}", WORKLOAD) for n in range(2 * SHARE)))
    assert drain(lanes, WORKLOAD) == [f"rollout-{n}" for n in range(2 * SHARE)]
    assert lanes.has_work()
    assert not lanes.has_work(WORKLOAD)
    assert lanes.take().name == "pod"


def test_namespaces_take_turns_and_a_flood_delays_another_namespace_by_one_item() -> None:
    flood = [Item(f"flood-{n}", FAILURE, source=("noisy", f"w{n % 7}")) for n in range(500)]
    lanes = lanes_of(*flood, Item("payments-oom", FAILURE, source=("payments", "api")))
    taken = drain(lanes)
    assert taken.index("payments-oom") == 1, "one of the flood, then the other namespace"


def test_inside_a_namespace_workloads_take_turns_and_each_keeps_its_order() -> None:
    lanes = lanes_of(
        Item("a1", source=("shop", "a")),
        Item("a2", source=("shop", "a")),
        Item("a3", source=("shop", "a")),
        Item("b1", source=("shop", "b")),
        Item("c1", source=("other", "c")),
        Item("b2", source=("shop", "b")),
    )
    assert drain(lanes) == ["a1", "c1", "b1", "a2", "b2", "a3"]


def test_new_content_keeps_its_place_and_an_item_put_back_goes_first() -> None:
    first, second = Item("a1", seen_at=1.0), Item("a2", seen_at=2.0)
    lanes = lanes_of(first, second)
    lanes[CHURN].replace(Item("a1", seen_at=5.0))
    assert lanes[CHURN].oldest() == 2.0
    taken = lanes.take()
    assert (taken.name, taken.seen_at) == ("a1", 5.0)
    lanes.put(taken, front=True)
    assert drain(lanes) == ["a1", "a2"]


@pytest.mark.parametrize("priority", list(Priority))
def test_an_item_is_found_popped_and_counted_in_its_class(priority: Priority) -> None:
    lanes = lanes_of(Item("x", priority), Item("y", FAILURE, source=("b", "b")))
    assert lanes.find(("entity", "x")) is priority
    assert len(lanes) == 2
    popped = lanes.pop(("entity", "x"))
    assert popped is not None
    assert popped.name == "x"
    assert lanes.find(("entity", "x")) is None
    assert lanes.pop(("entity", "x")) is None
    assert [item.name for item in lanes] == ["y"]
