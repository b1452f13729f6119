"""Errors of the Cortex client: one base class and one class per kind of failure.

`error_from_response` is the single place that maps an HTTP answer to a class, and the class
alone says what to do with the request that failed:

- `CortexBadRequest` and `CortexNotFound` refuse it for good: the request or the entity must
  change (delivery gives the event up, once, and says why).
- `CortexAuthError` (401 and 403) refuses the key, not the event: nothing is lost; the caller
  waits and tries again, since a key can be fixed or regain its permission without a restart
  of whoever holds the events. The client does not retry it by itself.
- `CortexRateLimited`, `CortexServerError`, `CortexConnectionError` and `CortexResponseError`
  are temporary: the client already retried what it safely could (honouring ``Retry-After``);
  try again later.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

__all__ = [
    "CortexAuthError",
    "CortexBadRequest",
    "CortexConnectionError",
    "CortexError",
    "CortexNotFound",
    "CortexRateLimited",
    "CortexResponseError",
    "CortexServerError",
    "error_from_response",
    "may_have_acted",
    "parse_retry_after",
    "redacted",
]

# A server message longer than this is cut: it ends up in logs and in a CortexEntity's status.
MAX_MESSAGE_CHARS = 500


class CortexError(Exception):
    """Base of every error the Cortex client raises.

    ``message`` is the server's explanation (or the client's, when there is no answer);
    ``status_code`` is the HTTP status, ``None`` when no answer arrived. Neither ever holds the
    API key.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.method = method
        self.path = path
        super().__init__(self.describe())

    def describe(self) -> str:
        """The one-line text of ``str(error)``: where, status and message."""
        where = f"{self.method} {self.path}: " if self.method and self.path else ""
        status = f"HTTP {self.status_code}: " if self.status_code is not None else ""
        return f"{where}{status}{self.message}"


class CortexBadRequest(CortexError):
    """400, or another 4xx that says the request itself is wrong (405, 409, 413, 422, ...)."""


class CortexAuthError(CortexError):
    """401 or 403: the key is missing, wrong, or lacks the Edit entities permission."""


class CortexNotFound(CortexError):
    """404: the entity (tag or id) or the event (uuid) does not exist."""


class CortexRateLimited(CortexError):
    """429: too many requests for this key. ``retry_after`` is the server's delay in seconds."""

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        path: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, status_code=429, method=method, path=path)


class CortexServerError(CortexError):
    """5xx: Cortex failed. For a create, the event may or may not have been recorded."""


class CortexResponseError(CortexError):
    """A success status whose body is not what the API documents (not JSON, wrong shape)."""


class CortexConnectionError(CortexError):
    """No HTTP answer: connect failure, timeout or protocol error.

    ``request_sent`` is ``False`` only when the request surely never reached Cortex (the
    connection was never made, or no pooled connection became free); after a read timeout or
    a dropped connection it is ``True``: Cortex may have acted on it.
    """

    def __init__(
        self,
        message: str,
        *,
        request_sent: bool,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        self.request_sent = request_sent
        super().__init__(message, status_code=None, method=method, path=path)


def may_have_acted(error: BaseException) -> bool:
    """Whether Cortex may have carried out a request that ended with ``error``.

    False only when it surely did not: the request never left (`CortexConnectionError` with
    ``request_sent=False``), or Cortex answered a 4xx, which refuses the request as a whole
    (400, 401, 403, 404, 429, ...). Anything else may come after the work was done: a 5xx, a
    success answer that cannot be read (`CortexResponseError`), a connection lost after
    sending, a cancellation or an unexpected exception while waiting for the answer.
    """
    if isinstance(error, CortexConnectionError):
        return error.request_sent
    if isinstance(error, CortexError) and error.status_code is not None:
        return not 400 <= error.status_code < 500
    return True


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delay-seconds or an HTTP-date.

    Returns ``None`` when the header is absent or unreadable; a date in the past gives ``0``.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if math.isnan(seconds) or math.isinf(seconds):
            return None
        return max(0.0, seconds)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    reference = now if now is not None else datetime.now(UTC)
    return max(0.0, (when - reference).total_seconds())


def _retry_after_in_body(response: httpx.Response) -> float | None:
    """The ``retryAfter`` seconds of a 429's problem body (Cortex sends it beside the header)."""
    try:
        body = response.json()
    except ValueError:
        return None
    value = body.get("retryAfter") if isinstance(body, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return max(0.0, float(value)) if math.isfinite(value) else None


def _message_from_body(response: httpx.Response, redact: Callable[[str], str]) -> str:
    # Redacted before it is cut: a cut through a secret's encoding would leave part of it.
    text = response.text.strip()
    if not text:
        return response.reason_phrase or "no message"
    try:
        body: Any = json.loads(text)
    except ValueError:
        return _shorten(redact(text))
    if isinstance(body, dict):
        for field in ("message", "detail", "title", "error"):
            value = body.get(field)
            if isinstance(value, str) and value.strip():
                return _shorten(redact(value.strip()))
    return _shorten(redact(text))


def redacted(error: CortexError, redact: Callable[[str], str]) -> CortexError:
    """``error`` with ``redact`` applied to its text, then cut to `MAX_MESSAGE_CHARS` (only
    then: a cut could split an encoded secret): the one point every error the client raises
    passes, as the server may quote the key back and the HTTP library quotes a header it
    refuses."""
    error.message = _shorten(redact(error.message))
    error.args = (error.describe(),)
    return error


def _shorten(text: str) -> str:
    if len(text) <= MAX_MESSAGE_CHARS:
        return text
    return text[: MAX_MESSAGE_CHARS - 3] + "..."


def error_from_response(
    response: httpx.Response, redact: Callable[[str], str] = str
) -> CortexError:
    """The error for an unsuccessful answer, with the server's message.

    The message comes from the JSON body's ``message``, ``detail`` or ``title`` (problem+json),
    else from the body text, else from the reason phrase; ``redact`` is applied to it before it
    is cut to `MAX_MESSAGE_CHARS`. A 429's delay is its ``Retry-After`` header, else its body's
    ``retryAfter``.
    """
    status = response.status_code
    message = _message_from_body(response, redact)
    method: str | None = None
    path: str | None = None
    try:
        request = response.request
    except RuntimeError:
        pass
    else:
        method = request.method
        path = request.url.path
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return CortexRateLimited(
            message,
            method=method,
            path=path,
            retry_after=retry_after if retry_after is not None else _retry_after_in_body(response),
        )
    cls: type[CortexError]
    if status in (401, 403):
        cls = CortexAuthError
    elif status == 404:
        cls = CortexNotFound
    elif 400 <= status < 500:
        cls = CortexBadRequest
    elif status >= 500:
        cls = CortexServerError
    else:
        cls = CortexResponseError
    return cls(message, status_code=status, method=method, path=path)
