"""The images' dependency set: pinned, current, and enough for what each image runs.

The Dockerfile installs requirements/image.txt with --no-deps; that file is the package's
dependency closure without what only the demo's in-memory API server imports. These tests keep
it current (a dependency added to pyproject.toml, or one that starts requiring another, fails
here until scripts/lock_image.py is run again) and check, by importing in a process that can see
nothing else, that `cortex-events run` and `check` need nothing beyond it and nothing of the
simulator (the operator's image has none), and that `fake-cortex` (its own image) needs nothing
beyond it either.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.utils import canonicalize_name

from scripts import lock_image
from tests.support.dockerfile import ROOT, contributors, read_stages

SIMULATOR_GONE = f"""
import sys
sys.path[:] = [p for p in sys.path if p.rstrip("/") != {str(ROOT / "operator")!r}]
sys.path.insert(0, sys.argv[2])
"""
"""Prepended to a program, with the folder of an operator-only copy of the source as its second
argument: the process then sees cortex_events and no cortex_events_sim, as in the operator's
image."""

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
WITHOUT_SIMULATOR = BLOCKER.replace(
    "import cortex_events_sim.fake_cortex.server\n",
    """from cortex_events.cli import main
assert main(["demo"]) == 1
assert main(["fake-cortex", "--port", "8081"]) == 1
try:
    import cortex_events_sim
except ModuleNotFoundError:
    pass
else:
    raise AssertionError(f"the simulator was reached: {cortex_events_sim.__file__}")
""",
)


def test_the_pins_are_the_dependency_closure_without_the_simulators() -> None:
    assert lock_image.main(["--check"]) == 0, "run: python scripts/lock_image.py"
    pinned = lock_image.read()
    assert "jsonschema" not in pinned
    assert {"kopf", "kubernetes", "httpx", "aiohttp", "pydantic", "certifi"} <= set(pinned)
    for name, version in pinned.items():
        assert metadata.version(name) == version, f"{name}: the environment has another version"


def operator_only_source(into: Path) -> Path:
    """The operator's package alone, as the operator's image has it."""
    shutil.copytree(
        ROOT / "operator" / "cortex_events",
        into / "cortex_events",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return into


def test_what_the_emulator_image_runs_imports_nothing_it_does_not_pin() -> None:
    pinned = ",".join(lock_image.read())
    done = subprocess.run(
        [sys.executable, "-c", BLOCKER, pinned], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-1500:]
    assert done.stdout.strip() == "ok"


def test_the_operator_image_runs_without_the_simulator(tmp_path: Path) -> None:
    pinned = ",".join(lock_image.read())
    source = operator_only_source(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", SIMULATOR_GONE + WITHOUT_SIMULATOR, pinned, str(source)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-1500:]
    assert done.stdout.strip() == "ok"
    # demo and fake-cortex each said why in one line.
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2
    assert all("this install has no simulator" in line for line in lines), lines


def test_the_operator_image_wheel_is_built_from_the_operator_package_alone(
    tmp_path: Path,
) -> None:
    """The wheel the operator's build stage makes, from exactly what its stages copy."""
    context = tmp_path / "context"
    sources = [source for s in contributors(read_stages(), "operator") for source in s.sources()]
    for source in sources:
        origin, target = ROOT / source, context / source
        if origin.is_dir():
            shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target)
    wheels = tmp_path / "wheels"
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*pip_wheel, "-q", "-w", str(wheels), str(context)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = wheels.glob("cortex_events_operator-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert "cortex_events/cli.py" in names
    assert "cortex_events/crds/cortexentities.cortex.io.yaml" in names
    assert [name for name in names if name.startswith("cortex_events_sim/")] == []


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
