"""The README documents what the software does: every setting, with its variable and flag."""

from __future__ import annotations

import re
from pathlib import Path

from cortex_events.cli import FLAGS_BY_FIELD
from cortex_events.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_the_configuration_table_lists_every_setting_with_its_variable_and_flag() -> None:
    rows = {}
    for line in section("Configuration").splitlines():
        cells = [cell.strip().strip("`") for cell in line.strip("|").split("|")]
        if len(cells) == 5 and cells[0].startswith("CORTEX_"):
            rows[cells[0]] = cells
    expected = {
        f"CORTEX_{name.upper()}": FLAGS_BY_FIELD[name].flag for name in Settings.model_fields
    }
    assert {variable: cells[1] for variable, cells in rows.items()} == expected


def test_the_configuration_defaults_are_the_settings_defaults() -> None:
    for line in section("Configuration").splitlines():
        match = re.match(r"\| `CORTEX_(\w+)` \|.*\| `(\d+)` \|$", line)
        if match:
            field = Settings.model_fields[match.group(1).lower()]
            assert field.default == int(match.group(2)), match.group(1)
