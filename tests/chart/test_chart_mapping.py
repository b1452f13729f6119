"""The chart's ``mapping`` values: mapping from Cortex's catalog and the tag annotation reach the
operator's environment only when set, and a wrong value fails the install."""

from __future__ import annotations

import helm_python
import pytest

from tests.chart.test_chart import Render, env

MAPPING_VARIABLES = {
    "CORTEX_MAPPING",
    "CORTEX_MAPPING_LABEL_KEYS",
    "CORTEX_CATALOG_INTERVAL",
    "CORTEX_TAG_ANNOTATION",
}


def test_nothing_about_mapping_is_set_by_default(render: Render) -> None:
    assert MAPPING_VARIABLES.isdisjoint(env(render({})))


def test_mapping_values_reach_the_operator_environment(render: Render) -> None:
    mapping = {
        "sources": ["descriptor", "labels", "name"],
        "labelKeys": ["app.kubernetes.io/name", "team"],
        "interval": 120,
        "tagAnnotation": "example.com/entity",
    }
    found = {name: entry.get("value") for name, entry in env(render({"mapping": mapping})).items()}
    assert found["CORTEX_MAPPING"] == "descriptor,labels,name"
    assert found["CORTEX_MAPPING_LABEL_KEYS"] == "app.kubernetes.io/name,team"
    assert found["CORTEX_CATALOG_INTERVAL"] == "120"
    assert found["CORTEX_TAG_ANNOTATION"] == "example.com/entity"


@pytest.mark.parametrize(
    ("mapping", "match"),
    [
        ({"sources": ["tags"]}, "/mapping/sources/0"),
        ({"sources": ["labels"]}, "labelKeys"),
        ({"interval": 1}, "interval"),
        ({"labelkeys": ["app"]}, "labelkeys"),
    ],
)
def test_a_wrong_mapping_value_fails_the_install(
    render: Render, mapping: dict[str, object], match: str
) -> None:
    with pytest.raises(helm_python.HelmValuesError, match=match):
        render({"mapping": mapping})
