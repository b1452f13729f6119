"""The settings of mapping from Cortex's catalog and of the tag annotation: parsed from their
variables and flags, and refused in one line that names the cause."""

from __future__ import annotations

from pathlib import Path

import pytest

from cortex_events.cli import main
from cortex_events.config.settings import Settings
from cortex_events.domain.catalog import MappingConfig, Source


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("CORTEX_API_KEY", "CORTEX_MAPPING", "CORTEX_MAPPING_LABEL_KEYS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, f"more than one line: {err!r}"
    return err


def test_the_variables_give_the_mapping_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORTEX_MAPPING", "descriptor, labels,name")
    monkeypatch.setenv("CORTEX_MAPPING_LABEL_KEYS", "app.kubernetes.io/name, team,team")
    monkeypatch.setenv("CORTEX_CLUSTER_NAME", "prod-eu")
    monkeypatch.setenv("CORTEX_TAG_ANNOTATION", "example.com/entity")
    settings = Settings(dry_run=True)
    assert settings.mapping_config == MappingConfig(
        frozenset(Source), ("app.kubernetes.io/name", "team"), "prod-eu"
    )
    assert settings.tag_annotation == "example.com/entity"


def test_no_mapping_by_default() -> None:
    settings = Settings(dry_run=True)
    assert settings.mapping == frozenset()
    assert settings.tag_annotation == "cortex.io/tag"
    assert settings.catalog_interval == 300


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--mapping", "descriptor,tags"], "--mapping (CORTEX_MAPPING): unknown mapping source"),
        (["--mapping-label-keys", "a/b/c"], "--mapping-label-keys (CORTEX_MAPPING_LABEL_KEYS): "),
        (["--tag-annotation", "x y"], "--tag-annotation (CORTEX_TAG_ANNOTATION): invalid anno"),
        (["--catalog-interval", "1"], "--catalog-interval (CORTEX_CATALOG_INTERVAL): "),
        (
            ["--mapping", "labels"],
            "CORTEX_MAPPING includes labels but CORTEX_MAPPING_LABEL_KEYS is empty",
        ),
    ],
)
def test_a_refused_value_is_one_line_naming_its_flag(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    assert main(["run", "--dry-run", *argv]) == 2
    assert expected in error_line(capsys)


def test_check_takes_the_mapping_flags_too(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--mapping", "bogus"]) == 2
    assert "--mapping (CORTEX_MAPPING): unknown mapping source 'bogus'" in error_line(capsys)


def test_too_many_label_keys_are_refused() -> None:
    keys = ",".join(f"k{i}" for i in range(21))
    with pytest.raises(ValueError, match="at most 20 label keys"):
        Settings(dry_run=True, mapping_label_keys=keys)  # type: ignore[arg-type]
