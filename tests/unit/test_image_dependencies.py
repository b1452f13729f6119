"""The image's dependency set: pinned, current, and enough for what the image runs.

The Dockerfile installs requirements/image.txt with --no-deps; that file is the package's
dependency closure without what only the demo's in-memory API server imports. These tests keep
it current (a dependency added to pyproject.toml, or one that starts requiring another, fails
here until scripts/lock_image.py is run again) and check, by importing in a process that can see
nothing else, that `cortex-events run`, `check` and `fake-cortex` need nothing beyond it.
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

from packaging.utils import canonicalize_name

from scripts import lock_image

BLOCKER = """
import importlib.abc, importlib.machinery, importlib.metadata as metadata, sys
from packaging.utils import canonicalize_name
allowed = {canonicalize_name(d) for d in sys.argv[1].split(",")} | {"cortex-events-operator"}
by_module = metadata.packages_distributions()

class OnlyThePinned(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        owners = {canonicalize_name(d) for d in by_module.get(top, [])}
        if owners and not owners & allowed:
            raise ImportError(f"{name} is not in the image ({', '.join(sorted(owners))})")
        return None

sys.meta_path.insert(0, OnlyThePinned())
import cortex_events.app, cortex_events.commands.check, cortex_events.cli
import cortex_events_sim.fake_cortex.server
from cortex_events.cli import build_parser
build_parser().parse_args(["run"])
print("ok")
"""


def test_the_pins_are_the_dependency_closure_without_the_simulators() -> None:
    assert lock_image.main(["--check"]) == 0, "run: python scripts/lock_image.py"
    pinned = lock_image.read()
    assert "jsonschema" not in pinned
    assert {"kopf", "kubernetes", "httpx", "aiohttp", "pydantic", "certifi"} <= set(pinned)
    for name, version in pinned.items():
        assert metadata.version(name) == version, f"{name}: the environment has another version"


def test_what_the_image_runs_imports_nothing_it_does_not_pin() -> None:
    pinned = ",".join(lock_image.read())
    done = subprocess.run(
        [sys.executable, "-c", BLOCKER, pinned], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-1500:]
    assert done.stdout.strip() == "ok"


def test_the_demo_needs_what_the_image_leaves_out() -> None:
    # The blocker is a real check: without jsonschema, the in-memory API server cannot start.
    pinned = ",".join(lock_image.read())
    program = BLOCKER.replace(
        "import cortex_events_sim.fake_cortex.server",
        "import cortex_events_sim.kubeapi.validation as v; v._validator_for('{}')",
    )
    done = subprocess.run(
        [sys.executable, "-c", program, pinned], capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "jsonschema is not in the image" in done.stderr
    assert canonicalize_name("jsonschema") not in lock_image.read()
