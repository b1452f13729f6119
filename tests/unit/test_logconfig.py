"""Log lines: one per record, JSON or text, and the API key never in them."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from cortex_events.config.secret import REDACTED
from cortex_events.ops.logconfig import (
    JsonFormatter,
    RetryCollapsingFilter,
    SecretRedactingFilter,
    TextFormatter,
    configure_logging,
)

KEY = "ck_live_0123456789abcdef"


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("cortex_events.test", logging.INFO, __file__, 1, message, args, None)
    for name, value in extra.items():
        setattr(made, name, value)
    return made


def test_json_lines_carry_message_level_logger_and_extra_fields() -> None:
    line = JsonFormatter().format(record("Recorded %s on %r", "POD_CREATION", "web", entity="web"))
    entry = json.loads(line)
    assert entry["message"] == "Recorded POD_CREATION on 'web'"
    assert entry["level"] == "info"
    assert entry["logger"] == "cortex_events.test"
    assert entry["entity"] == "web"
    assert "\n" not in line


def test_text_lines_stay_on_one_line() -> None:
    line = TextFormatter().format(record("first\nsecond", eventKey="pod/u1/created"))
    assert "\n" not in line
    assert "INFO" in line
    assert "eventKey=pod/u1/created" in line


def test_the_key_is_redacted_from_message_arguments_and_fields() -> None:
    redactor = SecretRedactingFilter([KEY])
    made = record("auth header was Bearer %s", KEY, header=f"Bearer {KEY}")
    assert redactor.filter(made)
    assert KEY not in made.getMessage()
    assert REDACTED in made.getMessage()
    assert KEY not in str(made.header)  # type: ignore[attr-defined]


def test_the_key_is_redacted_from_tracebacks() -> None:
    redactor = SecretRedactingFilter([KEY])
    try:
        raise RuntimeError(f"failed with {KEY}")
    except RuntimeError:
        made = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", None, sys.exc_info())
    redactor.filter(made)
    line = JsonFormatter().format(made)
    assert KEY not in line
    assert REDACTED in line


def test_configured_logging_never_prints_the_key(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="DEBUG", fmt="json", secrets=[KEY])
    try:
        logging.getLogger("cortex_events.anything").warning("key=%s", KEY)
        logging.getLogger("kopf.objects").info("not shown at INFO: kopf's per-handler chatter")
    finally:
        logging.getLogger().handlers.clear()
    err = capsys.readouterr().err
    assert KEY not in err
    assert REDACTED in err
    assert "per-handler chatter" not in err


def kopf_retry(attempt: str, path: str, outcome: str = "will retry") -> logging.LogRecord:
    return logging.LogRecord(
        "kopf._cogs.clients.watching",
        logging.ERROR,
        __file__,
        1,
        f"Request attempt {attempt} failed; {outcome}: GET http://127.0.0.1:6443{path}"
        "?watch=true -> ClientConnectorError(ConnectionRefusedError(111, 'Connect call failed'))",
        None,
        None,
    )


def test_the_watch_streams_failing_together_make_one_line_per_back_off_step() -> None:
    now = [100.0]
    collapse = RetryCollapsingFilter(window=5.0, clock=lambda: now[0])
    paths = ["/api/v1/pods", "/apis/apps/v1/replicasets", "/apis/apps/v1/deployments", "/x"]
    passed: list[str] = []
    for step, (attempt, outcome) in enumerate(
        [("#1/9", "will retry"), ("#2/9", "will retry"), ("#9/9", "escalating")]
    ):
        now[0] = 100.0 + step
        for path in paths:
            made = kopf_retry(attempt, path, outcome)
            if collapse.filter(made):
                passed.append(made.getMessage())
    assert len(passed) == 3
    assert passed[0] == (
        "The Kubernetes API is not answering: request attempt #1/9 failed "
        "(ClientConnectorError(ConnectionRefusedError(111, 'Connect call failed'))); retrying "
        "(one line per back-off step for all watch streams)"
    )
    assert "retries exhausted" in passed[2]
    now[0] = 160.0  # the next round of retries, long after the first
    assert collapse.filter(kopf_retry("#1/9", "/api/v1/pods"))


def test_other_lines_pass_the_retry_filter_unchanged() -> None:
    collapse = RetryCollapsingFilter()
    line = record("Request attempt #1/9 failed; will retry: GET /x -> E")
    for _ in range(2):
        assert collapse.filter(line), "only kopf's lines are collapsed"
    assert line.getMessage() == "Request attempt #1/9 failed; will retry: GET /x -> E"
