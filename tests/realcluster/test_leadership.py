"""Two replicas on a Lease: failover after SIGKILL and after a partition (SIGSTOP), a rolling
upgrade, and a replica refused the Lease. Nothing is recorded twice, nothing is lost, and two
replicas never send at once."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from cortex_events_sim.fake_cortex import FakeCortex
from testbed.controlplane import ControlPlane

from .conftest import (
    CHART,
    OPERATOR_NAMESPACE,
    RELEASE,
    Operator,
    Release,
    assert_once_per_key,
    data,
    deployment,
    events,
    make_operator,
    wait_for,
)

LEASE_DURATION = 15.0


def lease_holder(plane: ControlPlane, name: str) -> str | None:
    result = plane.run(plane.binary("kubectl"), "get", "lease", name, "-n", OPERATOR_NAMESPACE,
                       "-o", "json", check=False)  # fmt: skip
    if result.returncode != 0:
        return None
    holder = json.loads(result.stdout)["spec"].get("holderIdentity")
    return str(holder) if holder else None


def created_pods(cortex: FakeCortex, tag: str) -> dict[str, int]:
    """Pod uid -> how many POD_CREATION events Cortex holds for it."""
    counts: dict[str, int] = {}
    for event in events(cortex, tag, "POD_CREATION"):
        counts[data(event)["uid"]] = counts.get(data(event)["uid"], 0) + 1
    return counts


class Pair:
    """Replicas sharing one Lease, each a separate operator process."""

    def __init__(
        self,
        plane: ControlPlane,
        release: Release,
        cortex: FakeCortex,
        folder: Path,
        namespace: str,
    ) -> None:
        self.plane, self.release, self.cortex, self.folder = plane, release, cortex, folder
        self.namespace = namespace
        # The chart's Role grants the release's own Lease only (by name), as in the cluster:
        # each test starts without it, so that no earlier test's holder has to expire.
        self.lease = RELEASE
        plane.kubectl("delete", "lease", self.lease, "-n", OPERATOR_NAMESPACE, "--ignore-not-found")
        self.replicas: list[Operator] = []

    def replica(self, name: str, **extra: str) -> Operator:
        operator = make_operator(
            self.plane,
            self.release,
            self.cortex,
            self.folder / f"{name}.log",
            watch=[self.namespace],
            POD_NAME=name,
            CORTEX_LEASE_NAMESPACE=OPERATOR_NAMESPACE,
            CORTEX_LEASE_NAME=self.lease,
            **extra,
        )
        self.replicas.append(operator)
        return operator

    def leader(self) -> str | None:
        holder = lease_holder(self.plane, self.lease)
        return holder.rsplit("_", 1)[0] if holder else None

    def stop_all(self) -> None:
        for operator in self.replicas:
            process = operator.process.process
            if process is not None:
                with_signal(process.pid, signal.SIGCONT)
                operator.stop()


# A request the frozen replica wrote before it stopped reaches the emulator (a thread of this
# process) within this long; anything later was written after the freeze.
ARRIVAL_GRACE = 1.0
PASSED = re.compile(r"^Cortex (\S+) (\S+): passed the fence")


def freeze(pid: int) -> float:
    """SIGSTOP ``pid`` and wait until the kernel reports it stopped (under load that can take
    a noticeable fraction of a second); the wall-clock time it was seen stopped."""
    os.kill(pid, signal.SIGSTOP)
    stat = Path(f"/proc/{pid}/stat")
    deadline = time.monotonic() + 10
    # The state follows the parenthesised command name: "T" once stopped.
    while stat.read_text().rsplit(")", 1)[1].split()[0] not in {"T", "t"}:
        assert time.monotonic() < deadline, f"process {pid} did not stop"
        time.sleep(0.01)
    return time.time()


def own_lines(operator: Operator) -> list[tuple[float, dict[str, Any]]]:
    """The lines the operator's own loggers wrote (the libraries' aside), with their times."""
    lines = []
    for line in operator.process.logs():
        if str(line.get("logger", "")).startswith("cortex_events") and line.get("time"):
            lines.append((datetime.fromisoformat(str(line["time"])).timestamp(), line))
    return lines


def fence_passes(operator: Operator) -> list[tuple[float, str, str]]:
    """(time, method, path) of each request the replica let through its fence, from its DEBUG
    log: the line is written as the request passes the last check, just before it is sent."""
    passes = []
    for at, line in own_lines(operator):
        if found := PASSED.match(str(line.get("message", ""))):
            passes.append((at, found.group(1), found.group(2).split("?", 1)[0]))
    return passes


def logged_after(operator: Operator, moment: float, most: int = 60) -> list[str]:
    """The first ``most`` of the operator's own lines at or after ``moment``, each with its
    offset from ``moment``."""
    return [
        f"+{at - moment:.3f}s {line.get('level')} {line.get('message')}"
        for at, line in own_lines(operator)
        if at >= moment
    ][:most]


def with_signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


@pytest.fixture
def pair(
    plane: ControlPlane, release: Release, cortex: FakeCortex, namespace: str, tmp_path: Path
) -> Iterator[Pair]:
    replicas = Pair(plane, release, cortex, tmp_path, namespace)
    yield replicas
    replicas.stop_all()
    for operator in replicas.replicas:
        refused = [v for v in operator.violations() if "/leases" not in v]
        assert refused == [], "a replica wrote to workloads or was refused"


def test_a_killed_leader_is_replaced_within_the_lease_and_every_pod_is_recorded_once(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, pair: Pair
) -> None:
    tag = "rc-ha-kill"
    a, b = pair.replica("replica-a"), pair.replica("replica-b")
    a.start()
    wait_for(lambda: pair.leader() == "replica-a", 30, "replica-a to lead")
    b.start()
    plane.apply(deployment("web", namespace, replicas=200, tag=tag))
    wait_for(lambda: len(created_pods(cortex, tag)) >= 40, 120, "the first pods recorded")
    killed_at = time.time()
    a.kill()
    wait_for(lambda: pair.leader() == "replica-b", LEASE_DURATION + 15, "replica-b to lead")
    wait_for(lambda: len(created_pods(cortex, tag)) == 200, 240, "all 200 pods recorded")
    pods = created_pods(cortex, tag)
    assert set(pods.values()) == {1}, "a pod recorded more than once"
    after = [r.at for r in cortex.state.requests if r.at > killed_at and r.status == 200]
    assert after, "the new leader sent nothing"
    assert min(after) - killed_at <= LEASE_DURATION + 5, "the standby took over too late"
    assert_once_per_key(cortex)


def test_a_partitioned_leader_steps_down_and_never_sends_beside_the_new_one(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, pair: Pair
) -> None:
    tag = "rc-ha-stop"
    # At DEBUG replica-a logs each request to Cortex as it passes the fence.
    a, b = pair.replica("replica-a", CORTEX_LOG_LEVEL="DEBUG"), pair.replica("replica-b")
    a.start()
    wait_for(lambda: pair.leader() == "replica-a", 30, "replica-a to lead")
    b.start()
    plane.apply(deployment("api", namespace, replicas=3, tag=tag))
    wait_for(lambda: len(created_pods(cortex, tag)) == 3, 60, "3 pods recorded by replica-a")
    assert a.process.process is not None
    pid = a.process.process.pid
    stopped_at = time.time()
    frozen_at = freeze(pid)
    try:
        wait_for(lambda: pair.leader() == "replica-b", LEASE_DURATION + 15, "replica-b to lead")
        plane.kubectl("scale", "deployment/api", "-n", namespace, "--replicas=6")
        wait_for(lambda: len(created_pods(cortex, tag)) == 6, 60, "3 more pods, by replica-b")
    finally:
        with_signal(pid, signal.SIGCONT)
    # Back, it finds the Lease taken, and sends nothing while more happens.
    plane.kubectl("scale", "deployment/api", "-n", namespace, "--replicas=8")
    wait_for(lambda: len(created_pods(cortex, tag)) == 8, 60, "2 more pods, by replica-b")
    time.sleep(3)
    assert pair.leader() == "replica-b"
    # Who sent what, as Cortex saw it (each replica names itself in its User-Agent).
    from_a = [r for r in cortex.state.requests if "(replica-a_" in r.agent]
    from_b = [r.received_at for r in cortex.state.requests if "(replica-b_" in r.agent]
    assert from_a
    assert from_b
    # Nothing passed replica-a's fence once it was frozen: on waking it had long passed its
    # renew deadline. A request that passed the fence just before the freeze may still be
    # written as the process wakes (the window no check inside a process can close), so
    # each request arriving late must be one of those.
    passes = fence_passes(a)
    assert passes, "replica-a logged no fence passes (is it at DEBUG?)"
    passed_after = [f"{m} {p} at +{t - frozen_at:.3f}s" for t, m, p in passes if t > frozen_at]
    passed_before = Counter((m, p) for t, m, p in passes if t <= frozen_at)
    cutoff = frozen_at + ARRIVAL_GRACE
    arrived = Counter((r.method, r.path) for r in from_a if r.received_at <= cutoff)
    late = Counter((r.method, r.path) for r in from_a if r.received_at > cutoff)
    unexplained = late - (passed_before - arrived)
    said = " | ".join(logged_after(a, stopped_at))
    assert not passed_after, f"replica-a let requests through after the freeze: {passed_after}"
    assert not unexplained, (
        f"replica-a sent after it was frozen: {dict(unexplained)}; it logged meanwhile: {said}"
    )
    assert min(from_b) > stopped_at, "replica-b sent while replica-a led"
    assert any("no longer leads" in line.get("message", "") for line in a.process.logs())
    assert set(created_pods(cortex, tag).values()) == {1}
    assert_once_per_key(cortex)


def test_a_rolling_upgrade_hands_over_at_once(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, release: Release, pair: Pair
) -> None:
    tag = "rc-ha-upgrade"
    old_leader, old_standby = pair.replica("old-a"), pair.replica("old-b")
    old_leader.start()
    wait_for(lambda: pair.leader() == "old-a", 30, "old-a to lead")
    old_standby.start()
    plane.apply(deployment("web", namespace, replicas=2, tag=tag))
    wait_for(lambda: len(created_pods(cortex, tag)) == 2, 60, "2 pods recorded")
    # The chart's own upgrade: a rolling update of its Deployment (its pods run on kwok).
    plane.helm("upgrade", release.name, str(CHART), "-n", release.namespace, "--reuse-values",
               "--set", "logLevel=DEBUG", "--wait", "--timeout", "120s")  # fmt: skip
    # What the rolling update does to the replicas: a new one starts, then an old one stops.
    new = pair.replica("new-a")
    new.start()
    plane.kubectl("scale", "deployment/web", "-n", namespace, "--replicas=6")
    stopped = time.monotonic()
    assert old_leader.stop() == 0
    successor = wait_for(
        lambda: (holder := pair.leader()) not in (None, "old-a") and holder,
        LEASE_DURATION + 10,
        "the Lease to change hands",
    )
    handed_over_in = time.monotonic() - stopped
    assert handed_over_in < LEASE_DURATION, "the Lease expired instead of being released"
    assert successor in {"old-b", "new-a"}
    wait_for(lambda: len(created_pods(cortex, tag)) == 6, 60, "the pods of the handover")
    assert set(created_pods(cortex, tag).values()) == {1}
    assert_once_per_key(cortex)


def test_a_replica_refused_the_lease_says_so_once_and_stays_standby(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, release: Release, tmp_path: Path
) -> None:
    # A ServiceAccount with the chart's watch rights but no Lease in this namespace.
    plane.kubectl("create", "serviceaccount", "no-lease", "-n", namespace)
    plane.kubectl("create", "clusterrolebinding", f"no-lease-{namespace}",
                  "--clusterrole=cortex-events-operator",
                  f"--serviceaccount={namespace}:no-lease")  # fmt: skip
    token = plane.token(namespace, "no-lease")
    config = plane.write_token_kubeconfig(tmp_path / "no-lease.kubeconfig", token)
    refused = Release("no-lease", namespace, "no-lease", config)
    operator = make_operator(plane, refused, cortex, tmp_path / "operator.log", watch=[namespace],
                             CORTEX_LEASE_NAMESPACE=OPERATOR_NAMESPACE,
                             CORTEX_LEASE_NAME="refused")  # fmt: skip
    operator.start()
    try:
        plane.apply(deployment("web", namespace, replicas=2, tag="rc-ha-refused"))
        wait_for(
            lambda: any("is denied (RBAC); staying standby" in str(line.get("message"))
                        for line in operator.process.logs()),
            30, "the refusal to be logged",
        )  # fmt: skip
        time.sleep(6)  # three more tries
    finally:
        operator.stop()
    lines = [
        line for line in operator.process.logs()
        if "staying standby" in str(line.get("message"))
    ]  # fmt: skip
    assert len(lines) == 1, "one line, not one per try"
    assert cortex.state.requests == [], "a standby sends nothing to Cortex"
    assert all("/leases" in v for v in operator.violations())
    plane.kubectl("delete", "clusterrolebinding", f"no-lease-{namespace}")
