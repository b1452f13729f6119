"""Kubernetes API errors, raised by the store and answered over HTTP as ``Status`` objects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "AlreadyExists",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    500: "InternalError",
}


class KubeApiError(Exception):
    """An API failure with the HTTP code, the Kubernetes reason and a readable message."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or _REASONS.get(code, "Unknown")
        self.details = details or {}

    def status(self) -> dict[str, Any]:
        """The ``Status`` object the API server answers for this error."""
        return status_object(self.code, self.reason, self.message, self.details)


def status_object(
    code: int, reason: str, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A Kubernetes ``meta/v1 Status`` (failure when ``code`` is 400 or more)."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure" if code >= 400 else "Success",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def no_such_path() -> KubeApiError:
    """404 for a path that names nothing the server serves."""
    return KubeApiError(404, "the server could not find the requested resource")


def not_found(group: str, plural: str, name: str) -> KubeApiError:
    what = f"{plural}.{group}" if group else plural
    return KubeApiError(
        404,
        f'{what} "{name}" not found',
        details={"name": name, "group": group, "kind": plural},
    )


def already_exists(group: str, plural: str, name: str) -> KubeApiError:
    what = f"{plural}.{group}" if group else plural
    return KubeApiError(
        409,
        f'{what} "{name}" already exists',
        details={"name": name, "group": group, "kind": plural},
    )


def conflict(group: str, plural: str, name: str) -> KubeApiError:
    what = f"{plural}.{group}" if group else plural
    return KubeApiError(
        409,
        f'Operation cannot be fulfilled on {what} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        reason="Conflict",
        details={"name": name, "group": group, "kind": plural},
    )


def invalid(kind: str, group: str, name: str, causes: Sequence[tuple[str, str]]) -> KubeApiError:
    """A 422 naming each bad field: ``causes`` holds ``(field path, message)`` pairs."""
    what = f"{kind}.{group}" if group else kind
    listed = ", ".join(f"{field}: {message}" for field, message in causes)
    text = (
        f'{what} "{name}" is invalid: {listed}'
        if len(causes) == 1
        else (f'{what} "{name}" is invalid: [{listed}]')
    )
    return KubeApiError(
        422,
        text,
        details={
            "name": name,
            "group": group,
            "kind": kind,
            "causes": [
                {"reason": "FieldValueInvalid", "message": message, "field": field}
                for field, message in causes
            ],
        },
    )
