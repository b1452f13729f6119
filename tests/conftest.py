"""Shared pytest configuration: how the suite is shared out between xdist workers.

``scripts/test`` runs pytest on two workers with ``--dist loadgroup``, and this module decides
the units of work (`work_unit`); xdist's own grouping by the ``xdist_group`` marker does not
take effect with the pytest this project installs (xdist sets a node id attribute that pytest
9.2 no longer reads), so the units are made here from node ids instead.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import settings

# Property tests judge what comes out, never how long it took: a loaded machine (the suite's
# other worker, a Go build) must not fail one on time.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")

CONTROL_PLANE = "control-plane"
CONTROL_PLANE_MODULES = ("tests/realcluster/", "tests/bench/test_bench_realcluster_smoke.py")


def work_unit(nodeid: str) -> str:
    """The unit a test is run in, on one worker with the rest of its unit.

    The tests on a real control plane are one unit: they share one control plane (the
    benchmark's real-cluster smoke test starts another, so it waits its turn among them) and
    run one after another. Every other test module is a unit of its own, so that a module's
    fixtures are built once.
    """
    module = nodeid.split("::", 1)[0]
    return CONTROL_PLANE if module.startswith(CONTROL_PLANE_MODULES) else module


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

    class ByWorkUnit(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return ByWorkUnit(config, log)
