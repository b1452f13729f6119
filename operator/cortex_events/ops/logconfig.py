"""Logging set-up: one line per record, JSON or text, and never the API key."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from cortex_events.config.secret import Redactor

# Attributes every LogRecord has; anything else came through ``extra=`` and is logged as a field,
# except kopf's internal ones (its settings object and a posting flag).
_BLANK_RECORD = logging.LogRecord("", 0, "", 0, "", None, None)
_STANDARD_ATTRS = frozenset(vars(_BLANK_RECORD)) | {
    "message",
    "asctime",
    "taskName",
    "settings",
    "k8s_skip",
}


class SecretRedactingFilter(logging.Filter):
    """Replaces every form of the secrets (`Redactor`) in a record's final message, its
    fields and its exception text."""

    def __init__(self, secrets: Redactor | Iterable[str]) -> None:
        super().__init__()
        self._redactor = secrets if isinstance(secrets, Redactor) else Redactor(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._redactor:
            return True
        redact = self._redactor.redact
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        for name, value in list(vars(record).items()):
            if name not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, name, redact(value))
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


# kopf's line for each failed Kubernetes API request: every watch stream (Pods, ReplicaSets,
# Deployments, CortexEntities) retries on the same schedule, so an API outage gives one line
# per stream and back-off step.
_KOPF_RETRY = re.compile(
    r"^Request attempt (?P<attempt>#\d+(?:/\d+)?) failed; (?P<outcome>will retry|escalating):"
    r" (?P<request>\S+ \S+) -> (?P<error>.*)$",
    re.DOTALL,
)


class RetryCollapsingFilter(logging.Filter):
    """One line per back-off step while the Kubernetes API does not answer.

    kopf logs each failed request of each watch stream; the streams fail and retry together.
    The first line of a step (attempt number and outcome) passes, rewritten to say what it
    means; the same step from the other streams within ``window`` seconds is dropped.
    """

    def __init__(self, window: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._window = window
        self._clock = clock
        self._last: dict[tuple[str, str, bool], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("kopf."):
            return True
        text = record.getMessage()
        if "will re-authenticate" in text or "Connector is closed" in text:
            # kopf closing its session to log in again (after a 401): the 401 is said once
            # (`CredentialsRefusedFilter`, the API probe); each stream's echo of it is noise.
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        match = _KOPF_RETRY.match(text)
        if match is None:
            return True
        forbidden = _KOPF_FORBIDDEN.match(match["error"])
        step = (match["attempt"], match["outcome"], bool(forbidden))
        now = self._clock()
        last = self._last.get(step)
        if last is not None and now - last < self._window:
            return False
        self._last[step] = now
        then = (
            "retrying"
            if match["outcome"] == "will retry"
            else "retries exhausted (the watch streams start over)"
        )
        if forbidden:
            what = (
                "The Kubernetes API refuses the operator's requests (HTTP 403 Forbidden: "
                f"{forbidden['message']}): RBAC does not allow them (the chart's ClusterRole or "
                f"Role, or its binding, is missing); request attempt {match['attempt']} failed"
            )
        else:
            what = (
                f"The Kubernetes API is not answering: request attempt {match['attempt']} "
                f"failed ({match['error']})"
            )
        record.msg = f"{what}; {then} (one line per back-off step for all watch streams)"
        record.args = None
        return True


class CredentialsRefusedFilter(logging.Filter):
    """One line, without a traceback, when kopf's watch streams run out of credentials.

    A watch stream that the API server answers 401 asks for new credentials; when the
    kubeconfig or the service account's token file gives the same ones again, every stream
    fails with a traceback, and asyncio repeats each. The first of those becomes one line that
    says what it means; the others are dropped, and the operator stops (see `cli`).
    """

    def __init__(self) -> None:
        super().__init__()
        self._said = False

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(("kopf.", "asyncio")):
            return True
        if "Ran out of valid credentials" not in record.getMessage():
            return True
        if self._said:
            return False
        self._said = True
        record.msg, record.args = CREDENTIALS_REFUSED, None
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


CREDENTIALS_REFUSED = (
    "The Kubernetes API refused the operator's credentials (HTTP 401) on its watch streams: "
    "the token expired, or its ServiceAccount was deleted (helm uninstall deletes it); "
    "the operator stops"
)
# kopf's text for a 403 in a retry line: APIForbiddenError('pods is forbidden: ...', {...}).
_KOPF_FORBIDDEN = re.compile(r"^APIForbiddenError\((?P<q>['\"])(?P<message>.*?)(?P=q)", re.DOTALL)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD_ATTRS and not name.startswith("_"):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time level logger: message key=value ...`` on one line."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = [
            f"{name}={value}"
            for name, value in vars(record).items()
            if name not in _STANDARD_ATTRS and not name.startswith("_")
        ]
        if fields:
            line = f"{line} {' '.join(fields)}"
        return line.replace("\n", "\\n")


def configure_logging(
    *, level: str, fmt: str, secrets: Redactor | Iterable[str] | None = None
) -> None:
    """Route every logger (kopf's included) to stderr in the chosen format, with ``secrets``
    redacted from every line and from what kopf posts as Kubernetes Events."""
    redacting = SecretRedactingFilter(secrets if secrets is not None else ())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RetryCollapsingFilter())
    handler.addFilter(CredentialsRefusedFilter())
    handler.addFilter(redacting)
    # kopf posts its objects' log records as Kubernetes Events through a handler of its own:
    # a filter on that logger runs before any of its handlers.
    objects = logging.getLogger("kopf.objects")
    objects.filters[:] = [f for f in objects.filters if not isinstance(f, SecretRedactingFilter)]
    objects.addFilter(redacting)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Libraries that are chatty at INFO about every HTTP request.
    # kopf logs every handler run at INFO; the operator logs its own decisions instead.
    for noisy in ("httpx", "httpcore", "aiohttp.access", "kubernetes.client.rest", "kopf.objects"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    # urllib3 warns about each of its own retries; the operator reports the outcome once.
    logging.getLogger("urllib3").setLevel(logging.ERROR)
