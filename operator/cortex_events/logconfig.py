"""Logging set-up: one line per record, JSON or text, and never the API key."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

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
REDACTED = "[REDACTED]"
MIN_SECRET_LENGTH = 6


class SecretRedactingFilter(logging.Filter):
    """Replaces any occurrence of the given secrets in a record's final message and fields."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        # A secret this short would blank out ordinary words; real API keys are far longer.
        self._secrets = [s for s in secrets if len(s) >= MIN_SECRET_LENGTH]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        redacted = self._redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        for name, value in list(vars(record).items()):
            if name not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, name, self._redact(value))
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = self._redact(text)
        return True

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text


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


def configure_logging(*, level: str, fmt: str, secrets: list[str] | None = None) -> None:
    """Route every logger (kopf's included) to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(SecretRedactingFilter(secrets or []))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Libraries that are chatty at INFO about every HTTP request.
    # kopf logs every handler run at INFO; the operator logs its own decisions instead.
    for noisy in ("httpx", "httpcore", "aiohttp.access", "kubernetes.client.rest", "kopf.objects"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
