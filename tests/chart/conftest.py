"""Fixtures for the chart and manifest tests: Helm's real template engine, no cluster."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = ROOT / "helm" / "cortex-events-operator"
RELEASE = "cortex-events-operator"
NAMESPACE = "cortex-events"
# The smallest configuration that installs: the API key comes from a Secret the user made.
KEY_FROM_SECRET: dict[str, Any] = {"apiKey": {"existingSecret": "cortex-events"}}

Objects = list[dict[str, Any]]


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` laid over ``base``, recursively for nested mappings."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


@pytest.fixture(scope="session")
def chart() -> Iterator[helm_python.Chart]:
    with helm_python.Chart.load(CHART_DIR) as loaded:
        yield loaded


@pytest.fixture(scope="session")
def render_files(chart: helm_python.Chart) -> Callable[[dict[str, Any]], dict[str, str]]:
    """Renders the chart as ``helm install`` would: template path -> text (NOTES.txt included).

    The values are laid over ``KEY_FROM_SECRET``; pass ``{"apiKey": {"existingSecret": ""}}`` to
    drop the key.
    """

    def render(values: dict[str, Any]) -> dict[str, str]:
        return chart.render(
            values=merge(KEY_FROM_SECRET, values),
            name=RELEASE,
            namespace=NAMESPACE,
            is_install=True,
        )

    return render


@pytest.fixture(scope="session")
def render(
    render_files: Callable[[dict[str, Any]], dict[str, str]],
) -> Callable[[dict[str, Any]], Objects]:
    """Renders the chart into the list of Kubernetes objects it would create."""

    def objects(values: dict[str, Any]) -> Objects:
        found: Objects = []
        for path, text in sorted(render_files(values).items()):
            if path.endswith((".yaml", ".yml")):
                found.extend(doc for doc in yaml.safe_load_all(text) if doc)
        return found

    return objects
