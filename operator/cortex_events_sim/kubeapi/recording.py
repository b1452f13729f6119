"""What the stand-in remembers of each HTTP request: who asked (the Bearer token), for what."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from aiohttp import web

#: The Bearer tokens (and so the user names) tests give the driver and the operator.
DRIVER_USER = "driver"
OPERATOR_USER = "operator"

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One HTTP request as the server understood it (``user`` is the Bearer token)."""

    method: str
    path: str
    verb: str
    group: str | None
    version: str | None
    resource: str | None
    subresource: str | None
    namespace: str | None
    name: str | None
    user: str | None
    status: int

    @property
    def is_write(self) -> bool:
        return self.verb in WRITE_VERBS


@dataclass(slots=True)
class RequestRecord:
    """A request being answered: routing fills in what it finds, `answered` seals it."""

    method: str
    path: str
    verb: str
    user: str | None
    group: str | None = None
    version: str | None = None
    resource: str | None = None
    subresource: str | None = None
    namespace: str | None = None
    name: str | None = None

    @classmethod
    def of(cls, request: web.Request) -> RequestRecord:
        """What is known before routing: the method as the verb, and the token as the user."""
        auth = request.headers.get("Authorization", "")
        user = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        return cls(request.method, request.path, request.method.lower(), user)

    def answered(self, status: int) -> RecordedRequest:
        return RecordedRequest(status=status, **dataclasses.asdict(self))
