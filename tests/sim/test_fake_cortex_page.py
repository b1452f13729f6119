"""The emulator's web page, in a real headless browser: each entity's timeline, newest first,
events and deploys told apart, updating as they arrive.

Needs Chromium and its driver (Debian's ``chromium`` and ``chromium-driver``; ``.ci/run``
installs them where it may): skipped, saying so, where they are absent.
"""

from __future__ import annotations

import shutil
import tempfile
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cortex_events_sim.fake_cortex import FakeCortex, run_in_thread
from tests.support.harness import wait_for

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="a headless browser is needed: install Debian's chromium and chromium-driver "
    "(.ci/run does where it runs as root)",
)


@pytest.fixture
def cortex() -> Iterator[FakeCortex]:
    with run_in_thread(api_key="page-key-0123456789") as fake:
        yield fake


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="cortex-events-chromium-")
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# Read in one go inside the page, which may redraw between two WebDriver calls.
READ_TIMELINE = """
return Array.from(document.querySelectorAll("section.entity")).map((section) => [
  section.dataset.tag,
  Array.from(section.querySelectorAll("li")).map((li) => [
    li.className, li.querySelector(".type").textContent, li.querySelector(".title").textContent,
  ]),
]);
"""


def timeline(browser: Any) -> dict[str, list[tuple[str, str, str]]]:
    """Each entity's entries as the page shows them: (what, type, title), top to bottom."""
    sections = browser.execute_script(READ_TIMELINE)
    return {tag: [tuple(entry) for entry in entries] for tag, entries in sections}


def test_the_page_shows_each_timeline_newest_first_and_updates_itself(
    cortex: FakeCortex, browser: Any
) -> None:
    base = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    cortex.state.add_event("web", title="Pod web-1 created", type="POD_CREATION", timestamp=base)
    browser.get(cortex.base_url + "/")
    wait_for(lambda: timeline(browser).get("web"), 20, "the first event on the page")
    assert browser.title == "Cortex emulator: timelines"

    # Without reloading: a later event, a deploy, another entity, and an update in place.
    later = base + timedelta(minutes=1)
    cortex.state.add_event("web", title="Rollout of web started", type="DEPLOYMENT_ROLLOUT",
                           timestamp=later)  # fmt: skip
    cortex.state.add_deploy("web", title="Rollout of web completed", type="DEPLOY",
                            timestamp=later + timedelta(seconds=30))  # fmt: skip
    cortex.state.add_event("api", title="Pod api-1 failed", type="POD_FAILURE", timestamp=base)
    expected = {
        "api": [("event", "POD_FAILURE", "Pod api-1 failed")],
        "web": [
            ("deploy", "DEPLOY", "Rollout of web completed"),
            ("event", "DEPLOYMENT_ROLLOUT", "Rollout of web started"),
            ("event", "POD_CREATION", "Pod web-1 created"),
        ],
    }
    wait_for(lambda: timeline(browser) == expected, 20, f"the page to show {expected}")
    assert list(timeline(browser)) == ["api", "web"]


def test_the_page_needs_no_key_and_is_not_an_api_request(cortex: FakeCortex) -> None:
    with urllib.request.urlopen(cortex.base_url + "/", timeout=5) as answer:  # noqa: S310
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("text/html")
    assert cortex.state.requests == []
