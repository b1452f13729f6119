"""The simulators stay outside the operator: cortex_events_sim may import cortex_events, never the
other way round, except the two commands that run them (``demo`` and ``fake-cortex``), which
cli.py imports only when they are called. And the simulators import each other in one
direction."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "operator"
SIM = "cortex_events_sim"


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> Iterator[tuple[ast.AST, str]]:
    """Every import in the file (nested ones too) with the absolute module it names; for
    ``from package import name`` also ``package.name``, which may be a module."""
    package = module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            base = base[: len(base) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            yield node, module
            for alias in node.names:
                yield node, f"{module}.{alias.name}"


def test_the_operator_imports_the_simulators_only_inside_the_commands_that_run_them() -> None:
    found = []
    for path in sorted((SOURCE / "cortex_events").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        top_level = set(tree.body)
        for node, module in imports(path):
            if module == SIM or module.startswith(f"{SIM}."):
                where = "module level" if node in top_level else "in a function"
                found.append((path.relative_to(SOURCE).as_posix(), where))
    assert found, "cli.py runs the demo and the emulator from cortex_events_sim"
    assert set(found) == {("cortex_events/cli.py", "in a function")}


def test_the_simulators_import_each_other_without_a_circle() -> None:
    paths = {module_name(p): p for p in (SOURCE / SIM).rglob("*.py")}
    # A module's own packages are initialised before it runs: importing from them is no circle.
    graph = {
        name: {
            module
            for _, module in imports(path)
            if module in paths and not f"{name}.".startswith(f"{module}.")
        }
        for name, path in paths.items()
    }
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            circle = [*trail[trail.index(name) :], name]
            raise AssertionError("import circle: " + " -> ".join(circle))
        if name in done:
            return
        for imported in sorted(graph[name]):
            visit(imported, [*trail, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    # What composes the API stand-in and the simulated cluster sits above both.
    composed = {"cortex_events_sim.kubeapi", "cortex_events_sim.cluster"}
    assert composed <= graph["cortex_events_sim.server_thread"]
