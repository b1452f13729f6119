"""The README documents what the software does: every setting, with its variable and flag."""

from __future__ import annotations

import re
from pathlib import Path

from cortex_events.commands.flags import FLAGS_BY_FIELD
from cortex_events.config.settings import Settings

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


# What a user can see (log lines, Kubernetes Events, command-line errors, check rows), by a
# fragment of the text the code writes.
MESSAGES = [
    "is not a Cortex tag",
    "ignored; events still go to",
    "InvalidTag",
    "it names no Cortex entity",
    "its events are dropped until it",
    "Not recorded on",
    "Cortex is not accepting events",
    "the answer is not JSON",
    "The Kubernetes API is not answering",
    "one line per back-off step for all watch streams",
    "The Kubernetes API answers again",
    "check its spelling",
    "would record a new event on entity",
    "in place on entity",
    "set it, pass --api-key-file FILE, or use --dry-run to send nothing",
    "set it or pass --api-key-file FILE",
    "choose another port, or 0 to turn it off",
    "is not a valid kubeconfig",
    "demo stopped by",
    "the simulated cluster did not reach",
    "InvalidSpec: ",
    "Cortex has no entity",
    "strict decoding error: ",
    "Recorded deploy",
    "Deploy not recorded on",
    "another source recorded sha",
    "folded into one summary per workload and window until it is below half of",
    "Pod churn waiting for delivery is down to",
    "it is only dots, which a URL path reads as a folder",
    "the most an annotation may",
    "characters: only the tags within",
    "more parts are no Cortex tag either",
    "may carry: keep it to a few short values",
    "nests objects and lists deeper than",
    "changed: using the new key",
    "keeping the previous key",
    "a key is printable ASCII on one line",
    "would send the API key unencrypted",
    "holds no PEM certificate",
]


def test_troubleshooting_names_each_message_a_user_can_see() -> None:
    source = "\n".join(path.read_text() for path in (ROOT / "operator").rglob("*.py"))
    troubleshooting = " ".join(section("Troubleshooting").split())
    for message in MESSAGES:
        assert message in source, f"the code no longer says {message!r}"
        assert message in troubleshooting, f"Troubleshooting does not name {message!r}"


def test_the_layout_names_every_module_of_the_domain_and_the_controllers() -> None:
    """The README's layout lists domain/ and controllers/ module by module: a new module there
    belongs in it (the other folders are described as a whole)."""
    layout = section("Development")
    named = set(re.findall(r"[a-z_]+\.py", layout))
    package = ROOT / "operator" / "cortex_events"
    modules = {
        f"{folder}/{path.name}"
        for folder in ("domain", "controllers")
        for path in (package / folder).glob("*.py")
        if path.name != "__init__.py"
    }
    missing = sorted(m for m in modules if m.split("/")[1] not in named)
    assert missing == [], f"README layout does not name {missing}"
