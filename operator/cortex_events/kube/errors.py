"""A failed Kubernetes API request in one line a person can act on.

The official client's `ApiException` prints the answer's raw HTTP headers and body, and
urllib3's `MaxRetryError` names only itself; neither belongs in a log line or an error message.
`describe` says what happened (the status and the API server's own message, or why no answer
came), `refusal` tells a refusal of the operator's identity (401, 403) from other failures, and
`REFUSAL_HINTS` says what to do about each.
"""

from __future__ import annotations

import json
import ssl

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import (
    ConnectTimeoutError as Urllib3ConnectTimeout,
)
from urllib3.exceptions import (
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

MAX_MESSAGE = 300

REFUSAL_HINTS = {
    401: (
        "its credentials are not valid there: the token expired, or its ServiceAccount was "
        "deleted (helm uninstall deletes it)"
    ),
    403: "RBAC does not allow it: the chart's ClusterRole or Role, or its binding, is missing",
}


class KubeRequestFailed(Exception):
    """A request of the operator's own failed; the message is `describe`'s one line."""


def refusal(error: BaseException) -> int | None:
    """401 or 403 when the API server refused the request's identity, else None."""
    if isinstance(error, ApiException) and error.status in (401, 403):
        return int(error.status)
    return None


def describe(error: BaseException) -> str:
    """What went wrong, in one line without headers: ``HTTP 403 Forbidden: <message>``, or
    why no answer came (``connection refused``, ``its TLS certificate is not trusted ...``)."""
    if isinstance(error, ApiException):
        return status_line(error.status, error.reason, error.body)
    if isinstance(error, MaxRetryError) and error.reason is not None:
        error = error.reason
    if isinstance(error, NameResolutionError):
        return "its host name does not resolve"
    if isinstance(error, NewConnectionError):
        cause = error.__cause__ or error.__context__
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused (nothing listens there: is the cluster running?)"
        if isinstance(cause, OSError) and cause.strerror:
            return f"cannot connect: {cause.strerror}"
        return "cannot connect"
    if isinstance(error, Urllib3ConnectTimeout | TimeoutError):
        return "the connection timed out"
    if isinstance(error, ReadTimeoutError):
        return "no answer in time"
    if isinstance(error, SSLError | ssl.SSLError):
        return _tls(error)
    if isinstance(error, ProtocolError):
        return "the connection was closed without an answer"
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:MAX_MESSAGE]}" if text else type(error).__name__


def status_line(status: int | None, reason: str | None, body: object) -> str:
    """``HTTP <status> <reason>``, and the message of the ``Status`` the API server sent."""
    line = f"HTTP {status} {reason or ''}".rstrip()
    message = _status_message(body)
    if message and message != reason:
        line += f": {message[:MAX_MESSAGE]}"
    return line


def _status_message(body: object) -> str:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str) or not body.strip():
        return ""
    try:
        decoded = json.loads(body)
    except ValueError:
        return ""  # not a Status: an HTML page or a proxy's text says nothing to act on
    message = decoded.get("message") if isinstance(decoded, dict) else None
    return " ".join(message.split()) if isinstance(message, str) else ""


def _tls(error: BaseException) -> str:
    text = str(error)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        detail = text.split("certificate verify failed:", 1)[-1].split("(_ssl")[0].strip(" .")
        return (
            f"its TLS certificate is not trusted ({detail}): the kubeconfig's "
            "certificate-authority must be the cluster's CA (x509: certificate signed by "
            "unknown authority)"
        )
    return f"TLS failed: {' '.join(text.split())[:MAX_MESSAGE]}"
