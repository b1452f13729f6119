"""The dry run answers each request of the Cortex surface as an empty Cortex would, and logs
in full what would have been sent."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest

from cortex_events.cortex.errors import CortexNotFound
from cortex_events.cortex.models import CustomEventRequest, DeployRequest
from cortex_events.delivery.dryrun import DryRunCortex

TAG = "payments api"  # quoted in the path, read back whole
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
EVENT = CustomEventRequest(
    title="Created", type="POD_CREATION", timestamp=WHEN, custom_data={"eventKey": "k"}
)


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "cortex_events.dryrun"]


async def test_a_create_is_logged_in_full_and_answered_with_a_new_uuid(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "cortex_events.dryrun")
    created = await DryRunCortex().create_event(TAG, EVENT)
    (line,) = lines(caplog)
    prefix = "Dry run: would record a new event on entity 'payments api': "
    assert line.startswith(prefix)
    assert json.loads(line[len(prefix) :]) == EVENT.to_json()
    assert created.uuid
    assert created.custom_data == {"eventKey": "k"}


async def test_updates_and_deletes_name_the_item_and_its_entity(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "cortex_events.dryrun")
    dry_run = DryRunCortex()
    deploy = DeployRequest(title="Rolled out", type="DEPLOY", timestamp=WHEN, custom_data={})

    updated = await dry_run.update_event(TAG, "e-1", EVENT)
    await dry_run.delete_event(TAG, "e-1")
    await dry_run.update_deploy(TAG, "d-1", deploy)
    await dry_run.delete_deploy(TAG, "d-1")
    await dry_run.delete_deploys(TAG, type="DEPLOY")

    assert updated.uuid == "e-1"
    assert lines(caplog)[1:] == [
        "Dry run: would delete event e-1 on entity 'payments api'",
        "Dry run: would replace deploy d-1 on entity 'payments api'",
        "Dry run: would delete deploy d-1 on entity 'payments api'",
        "Dry run: would delete the deploys of entity 'payments api' matching {'type': 'DEPLOY'}",
    ]
    assert lines(caplog)[0].startswith("Dry run: would update event e-1 in place on entity ")


async def test_lists_are_empty_and_no_event_is_found() -> None:
    dry_run = DryRunCortex()
    assert [e async for e in dry_run.iter_events(TAG)] == []
    assert [d async for d in dry_run.iter_deploys(TAG)] == []
    assert (await dry_run.list_deploys(TAG, page=2)).page == 2
    with pytest.raises(CortexNotFound):
        await dry_run.get_event(TAG, "e-1")
