"""The README's picture of the package's layers is the one its imports draw: each module imports
only from its own folder and from the layers below its own, and folders on one line not at all
from each other."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.unit.test_docs import ROOT, section

PACKAGE = ROOT / "operator" / "cortex_events"


def layers() -> dict[str, int]:
    """Each folder or root module of the picture, and its line, counted from the top."""
    text = section("Development")
    block = text[text.index("The package's layers") :]
    block = block[block.index("```\n") + 4 :]
    block = block[: block.index("```")]
    found: dict[str, int] = {}
    rows = [row for row in block.splitlines() if row.startswith("  ") and row[2] != " "]
    for number, row in enumerate(rows):
        for name in re.findall(r"([a-z_]+/|[a-z_]+\.py)(?=\s)", row[:34]):
            found[name.rstrip("/").removesuffix(".py")] = number
    return found


def place(module: str) -> str | None:
    """The layer a dotted module name of the package belongs to (None: the package's face)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def imports(path: Path) -> set[str]:
    """Every module of the package that ``path`` imports, at its top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found.update(name for name in names if name.split(".")[0] == "cortex_events")
    return found


def test_the_picture_names_every_folder_and_module_of_the_package_root() -> None:
    drawn = set(layers())
    present = {
        path.name.removesuffix(".py")
        for path in PACKAGE.iterdir()
        if (path.is_dir() and (path / "__init__.py").exists())
        or (path.suffix == ".py" and path.name not in {"__init__.py", "__main__.py"})
    }
    assert drawn == present


def upward(line: dict[str, int], modules: dict[tuple[str, ...], set[str]]) -> list[str]:
    """The imports of ``modules`` (a path's parts in the package, and what it imports) that go
    sideways or up the picture ``line``."""
    found = []
    for parts, imported in sorted(modules.items()):
        own = parts[0].removesuffix(".py")
        for module in sorted(imported):
            target = place(module)
            if target is not None and target != own and line[target] <= line[own]:
                found.append(f"{'/'.join(parts)} imports {module}")
    return found


def test_every_import_goes_down_the_picture_or_stays_in_its_folder() -> None:
    modules = {
        path.relative_to(PACKAGE).parts: imports(path)
        for path in PACKAGE.rglob("*.py")
        if path != PACKAGE / "__main__.py"
    }
    assert len(modules) > 100
    assert upward(layers(), modules) == []


def test_the_check_sees_an_import_up_or_across_the_picture() -> None:
    line = {"app": 0, "controllers": 1, "domain": 2, "kube": 2}
    modules = {
        ("domain", "rules.py"): {"cortex_events.controllers.recorder", "cortex_events.domain.x"},
        ("domain", "other.py"): {"cortex_events.kube.client", "cortex_events"},
        ("controllers", "a.py"): {"cortex_events.domain.rules"},
        ("app.py",): {"cortex_events.controllers.a"},
    }
    assert upward(line, modules) == [
        "domain/other.py imports cortex_events.kube.client",
        "domain/rules.py imports cortex_events.controllers.recorder",
    ]
