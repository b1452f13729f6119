"""Failures a test can inject into the emulator's API answers.

Each ``*_next`` call arms a rule for the next ``n`` API requests, optionally only those of one
HTTP method, or whose path contains a given text (``path="/deploys"``). When a request
arrives, every armed delay that matches is spent (their seconds add up) and then at most one
terminal rule (rate limit, failure, drop or garble) is spent, the oldest first; so
``fail_next(1)`` followed by ``rate_limit_next(1)`` answers 500, then 429. An outage overrides
everything until it is turned off. Admin requests (``/_fake/...``) are never faulted.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Literal

__all__ = ["FaultAction", "Faults"]

FaultKind = Literal["rate_limit", "fail", "drop", "garble"]
GarbleForm = Literal["html", "truncated"]
GARBLE_FORMS: tuple[GarbleForm, ...] = ("html", "truncated")


@dataclass
class _Rule:
    kind: FaultKind | Literal["delay"]
    remaining: int
    method: str | None
    status: int = 0
    retry_after: float = 0.0
    seconds: float = 0.0
    form: GarbleForm = "html"
    path: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return (
            self.remaining > 0
            and (self.method is None or self.method == method)
            and (self.path is None or self.path in path)
        )


@dataclass(frozen=True)
class FaultAction:
    """What the server must do to one request: wait ``delay`` seconds, then act on ``kind``.

    ``kind`` is ``None`` when the request proceeds normally after the delay; ``outage`` says
    the action comes from `Faults.outage` rather than from an armed rule; ``form`` is how a
    ``garble`` action spoils the answer.
    """

    delay: float = 0.0
    kind: FaultKind | None = None
    status: int = 0
    retry_after: float = 0.0
    outage: bool = False
    form: GarbleForm = "html"


def _check_count(n: int) -> None:
    if n < 0:
        raise ValueError(f"n must be 0 or greater, got {n}")


def _check_seconds(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number, 0 or greater, got {value!r}")


def _method(method: str | None) -> str | None:
    return method.upper() if method is not None else None


class Faults:
    """Thread-safe fault rules: arm them from tests, the server spends them per request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._outage = False
        self._outage_drops = False

    def rate_limit_next(
        self,
        n: int,
        retry_after: float = 1.0,
        *,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """Answer the next ``n`` requests 429 with ``Retry-After: retry_after`` seconds."""
        _check_count(n)
        _check_seconds("retry_after", retry_after)
        self._add(
            _Rule("rate_limit", n, _method(method), status=429, retry_after=retry_after, path=path)
        )

    def fail_next(
        self, n: int, status: int = 500, *, method: str | None = None, path: str | None = None
    ) -> None:
        """Answer the next ``n`` requests with ``status`` (a 4xx or 5xx) and a JSON error."""
        _check_count(n)
        if not 400 <= status <= 599:
            raise ValueError(f"status must be a 4xx or 5xx code, got {status}")
        self._add(_Rule("fail", n, _method(method), status=status, path=path))

    def delay_next(
        self, n: int, seconds: float, *, method: str | None = None, path: str | None = None
    ) -> None:
        """Hold the next ``n`` requests for ``seconds`` before handling them normally."""
        _check_count(n)
        _check_seconds("seconds", seconds)
        self._add(_Rule("delay", n, _method(method), seconds=seconds, path=path))

    def drop_next(self, n: int, *, method: str | None = None, path: str | None = None) -> None:
        """Close the connection of the next ``n`` requests without answering."""
        _check_count(n)
        self._add(_Rule("drop", n, _method(method), path=path))

    def garble_next(
        self,
        n: int,
        form: GarbleForm = "html",
        *,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """Carry out the next ``n`` requests, then spoil their success answers: ``html``
        replaces the body with a proxy's HTML page, ``truncated`` cuts the JSON in half. The
        status stays (a 200 stays a 200) and the work is done: a create is stored."""
        _check_count(n)
        if form not in GARBLE_FORMS:
            raise ValueError(f"form must be one of {', '.join(GARBLE_FORMS)}, got {form!r}")
        self._add(_Rule("garble", n, _method(method), form=form, path=path))

    def outage(self, on: bool, *, drop: bool = False) -> None:
        """While on, answer every API request 503 (or drop it when ``drop``)."""
        with self._lock:
            self._outage = on
            self._outage_drops = drop

    @property
    def in_outage(self) -> bool:
        with self._lock:
            return self._outage

    def clear(self) -> None:
        """Disarm every rule and end any outage."""
        with self._lock:
            self._rules.clear()
            self._outage = False
            self._outage_drops = False

    def pending(self) -> int:
        """How many request-answers the armed rules still hold (outage not counted)."""
        with self._lock:
            return sum(rule.remaining for rule in self._rules)

    def take(self, method: str, path: str = "") -> FaultAction:
        """Spend the rules that apply to one request of ``method`` to ``path`` and say what
        to do."""
        method = method.upper()
        with self._lock:
            if self._outage:
                return FaultAction(
                    kind="drop" if self._outage_drops else "fail",
                    status=503,
                    outage=True,
                )
            delay = 0.0
            for rule in self._rules:
                if rule.kind == "delay" and rule.matches(method, path):
                    rule.remaining -= 1
                    delay += rule.seconds
            action = FaultAction(delay=delay)
            for rule in self._rules:
                if rule.kind != "delay" and rule.matches(method, path):
                    rule.remaining -= 1
                    action = FaultAction(
                        delay=delay,
                        kind=rule.kind,
                        status=rule.status,
                        retry_after=rule.retry_after,
                        form=rule.form,
                    )
                    break
            self._rules = [rule for rule in self._rules if rule.remaining > 0]
            return action

    def _add(self, rule: _Rule) -> None:
        if rule.remaining == 0:
            return
        with self._lock:
            self._rules.append(rule)
