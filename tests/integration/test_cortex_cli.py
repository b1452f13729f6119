"""Cortex's official CLI (``cortexapps-cli``) works against the Cortex emulator.

If the real client is happy with the emulator's answers, and the emulator stores what the real
client sends, the emulator speaks the same API as Cortex. Each CLI call is a subprocess of about
half a second, so this file keeps to a handful of them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cortex_events_sim.fake_cortex import FakeCortex, run_in_thread

pytestmark = pytest.mark.integration

KEY = "cli-test-key"
CORTEX = Path(sys.executable).with_name("cortex")


@dataclass
class Cli:
    fake: FakeCortex
    env: dict[str, str]

    def run(
        self, *args: str, check: bool = True, command: str = "custom-events"
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(CORTEX), command, *args],
            env=self.env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
            check=False,
        )
        if check:
            assert done.returncode == 0, done.stdout + done.stderr
        return done

    def run_json(self, *args: str, command: str = "custom-events") -> Any:
        return json.loads(self.run(*args, command=command).stdout)


@pytest.fixture(scope="module")
def emulator() -> Iterator[FakeCortex]:
    with run_in_thread(api_key=KEY, entities=["payments"]) as fake:
        yield fake


@pytest.fixture
def cli(emulator: FakeCortex, tmp_path: Path) -> Iterator[Cli]:
    if not CORTEX.exists():
        pytest.skip(f"cortexapps-cli is not installed next to {sys.executable}")
    emulator.reset()
    # A private HOME and config path: the CLI must never read or write the user's config.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORTEX_")}
    env.update(
        HOME=str(tmp_path),
        CORTEX_CONFIG=str(tmp_path / ".cortex" / "config"),
        CORTEX_BASE_URL=emulator.base_url,
        CORTEX_API_KEY=KEY,
        COLUMNS="200",  # the CLI wraps its messages to the terminal width
    )
    yield Cli(emulator, env)
    assert not (tmp_path / ".cortex").exists()


def seed(fake: FakeCortex, title: str, type: str = "POD_CREATION", hour: int = 5) -> str:
    return fake.state.add_event(
        "payments",
        title=title,
        type=type,
        timestamp=datetime(2025, 5, 20, hour, tzinfo=UTC),
        description="seeded",
        custom_data={"team": "payments"},
    ).uuid


def test_create_stores_what_the_cli_sends(cli: Cli) -> None:
    printed = cli.run_json(
        "create",
        "--tag", "payments",
        "--title", "Created K8s pod",
        "--type", "POD_CREATION",
        "--timestamp", "2025-05-20T05:16:49",
        "--description", "pod web-1 created",
        "--custom", "team=payments",
    )  # fmt: skip

    (stored,) = cli.fake.state.events("payments")
    assert printed["uuid"] == stored.uuid
    assert (stored.title, stored.type, stored.description) == (
        "Created K8s pod",
        "POD_CREATION",
        "pod web-1 created",
    )
    assert stored.timestamp == datetime(2025, 5, 20, 5, 16, 49, tzinfo=UTC)
    assert stored.custom_data == {"team": "payments"}


def test_list_and_get_show_the_stored_events(cli: Cli) -> None:
    first = seed(cli.fake, "first", hour=5)
    second = seed(cli.fake, "second", hour=6)

    listed = cli.run_json("list", "--tag", "payments")
    got = cli.run_json("get-by-uuid", "--tag", "payments", "--uuid", second)

    assert [e["uuid"] for e in listed["events"]] == [first, second]
    assert listed["total"] == 2
    assert (got["uuid"], got["title"], got["customData"]) == (
        second,
        "second",
        {"team": "payments"},
    )


def test_update_replaces_the_event_under_the_same_uuid(cli: Cli) -> None:
    event_uuid = seed(cli.fake, "starting")

    cli.run(
        "update-by-uuid",
        "--tag", "payments",
        "--uuid", event_uuid,
        "--title", "Pod ready",
        "--type", "POD_CREATION",
        "--timestamp", "2025-05-20T05:20:00",
    )  # fmt: skip

    (stored,) = cli.fake.state.events("payments")
    assert (stored.uuid, stored.title) == (event_uuid, "Pod ready")
    assert (stored.description, stored.custom_data) == (None, None)


def test_delete_by_uuid_and_delete_all_by_type(cli: Cli) -> None:
    doomed = seed(cli.fake, "doomed")
    seed(cli.fake, "pod", type="POD_CREATION")
    kept = seed(cli.fake, "deploy", type="DEPLOYMENT_ROLLOUT")

    cli.run("delete-by-uuid", "--tag", "payments", "--uuid", doomed)
    assert doomed not in [e.uuid for e in cli.fake.state.events()]

    cli.run("delete-all", "--tag", "payments", "--type", "POD_CREATION")
    assert [e.uuid for e in cli.fake.state.events()] == [kept]
    assert cli.fake.state.requests[-1].query == {"type": "POD_CREATION"}


def test_the_cli_reports_the_emulators_errors(cli: Cli) -> None:
    done = cli.run("create", "--tag", "nobody", "--title", "t", "--type", "T", check=False)

    assert done.returncode != 0
    assert "404" in done.stdout
    assert "Entity nobody not found" in done.stdout
    assert cli.fake.state.events() == []


def test_the_deploys_commands_add_list_update_and_delete(cli: Cli) -> None:
    added = cli.run_json(
        "add",
        "--tag", "payments",
        "--title", "Rollout of web to nginx:1.26 completed in 42s",
        "--type", "DEPLOY",
        "--sha", "abc123",
        "--environment", "prod",
        "--email", "ada@example.com",
        "--name", "Ada",
        "--timestamp", "2025-05-20T05:16:49",
        "-c", "team=payments",
        command="deploys",
    )  # fmt: skip
    for minute in range(300):  # more than one of the CLI's pages of 250
        cli.fake.state.add_deploy(
            "payments", title=f"old {minute}", type="DEPLOY", sha="old", environment="prod",
            timestamp=datetime(2025, 5, 19, minute // 60, minute % 60, tzinfo=UTC),
        )  # fmt: skip

    listed = cli.run_json("list", "--tag", "payments", command="deploys")
    cli.run(
        "update-by-uuid", "--tag", "payments", "--uuid", added["uuid"],
        "-f", str(write_json(cli, {"title": "Rolled back", "type": "ROLLBACK",
                                   "timestamp": "2025-05-20T05:20:00Z", "sha": "def456"})),
        command="deploys",
    )  # fmt: skip
    (mine,) = [d for d in cli.fake.state.deploys("payments") if d.uuid == added["uuid"]]
    cli.run("delete", "--tag", "payments", "--sha", "old", command="deploys")
    left = cli.fake.state.deploys("payments")
    cli.run("delete-by-uuid", "--tag", "payments", "--uuid", added["uuid"], command="deploys")

    assert listed["total"] == 301
    (shown,) = [d for d in listed["deployments"] if d["uuid"] == added["uuid"]]
    assert (shown["sha"], shown["environment"], shown["deployer"]) == (
        "abc123", "prod", {"email": "ada@example.com", "name": "Ada"}
    )  # fmt: skip
    assert shown["customData"] == {"team": "payments"}
    assert (mine.title, mine.type, mine.sha, mine.deployer) == (
        "Rolled back", "ROLLBACK", "def456", None
    )  # fmt: skip
    assert [d.uuid for d in left] == [added["uuid"]]
    assert cli.fake.state.deploys() == []


def write_json(cli: Cli, body: dict[str, Any]) -> Path:
    path = Path(cli.env["HOME"]) / "deploy.json"
    path.write_text(json.dumps(body))
    return path
