"""What a plain ``pip install`` gets: the package, its CRD and its command."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_carries_the_crd_the_types_marker_and_the_command(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = tmp_path.glob("cortex_events_operator-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = next(
            archive.read(name).decode() for name in names if name.endswith(".dist-info/METADATA")
        )
        licenses = [name for name in names if ".dist-info/licenses/" in name]
        packaged_crd = archive.read("cortex_events/crds/cortexentities.cortex.io.yaml")
        entry_points = next(
            archive.read(name).decode() for name in names if name.endswith("entry_points.txt")
        )
    assert {"cortex_events/py.typed", "cortex_events_sim/py.typed"} <= names
    assert "cortex_events_sim/demo/run.py" in names
    assert not any(name.startswith(("operator/", "tests/")) for name in names)
    source_crd = (ROOT / "crds" / "cortexentities.cortex.io.yaml").read_bytes()
    assert packaged_crd == source_crd
    assert "cortex-events = cortex_events.cli:main" in entry_points
    assert yaml.safe_load(packaged_crd)["spec"]["names"]["shortNames"] == ["cxe"]
    assert "License-Expression: Apache-2.0" in metadata
    assert [name.rsplit("/", 1)[-1] for name in licenses] == ["LICENSE"]


def test_the_license_file_is_the_apache_license_that_pyproject_declares() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]
    assert declared == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text()
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert "END OF TERMS AND CONDITIONS" in text


def _requirement_name(requirement: str) -> str:
    name = re.split(r"[\s<>=!~\[;]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_module_the_package_imports_is_a_runtime_dependency() -> None:
    """A plain ``pip install .`` must give everything the package imports (the demo's schema
    checks included), not only what the test extras happen to install."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_requirement_name(r) for r in project["dependencies"]}
    distributions = importlib.metadata.packages_distributions()
    imported: set[str] = set()
    for path in (ROOT / "operator").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    ours = {"cortex_events", "cortex_events_sim", "__future__"}
    third_party = imported - set(sys.stdlib_module_names) - ours
    missing = {
        module: distributions.get(module)
        for module in sorted(third_party)
        if not {_requirement_name(d) for d in distributions.get(module, [module])} & declared
    }
    assert missing == {}, f"imported but not in [project] dependencies: {missing}"
