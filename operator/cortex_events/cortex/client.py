"""Async HTTP client for the Cortex surface (`cortex_events.cortex.api`) and the catalog.

Every attempt (retries included) first takes a token from the key's `TokenBucket`, at the
urgency of the work it is for (`cortex_events.cortex.ratelimit.urgency`); a 429 holds the
bucket, so every request waits until Cortex allows requests again. Failures are retried with
jittered exponential backoff, honouring ``Retry-After`` up to ``max_retry_after`` seconds:

* GET, PUT (full replacement) and DELETE are idempotent and are retried on 429, on any 5xx and
  on connection errors (timeouts included).
* POST (create) is not idempotent: a retry after Cortex may have recorded the event could
  record it twice. It is retried only when Cortex surely did not act on it: on 429, and on a
  connection error raised before the request was sent (``request_sent=False``). A 5xx, a
  read timeout or a success answer that cannot be read (`CortexResponseError`) on a create
  is raised at once; the caller resolves that ambiguity (for example by listing the entity's
  events and looking for its own event key; `may_have_acted` tells which errors need it).

Other 4xx answers are never retried. After the last attempt the mapped error is raised. The
API key lives in a `SecretStr`: it is read only to build the ``Authorization`` header and
never appears in logs, in ``repr(client)`` or in error messages. Every error the client raises
passes one point, `cortex_events.cortex.errors.redacted`, which removes the key in any form
(`cortex_events.config.secret`) from its text, and is raised without the HTTP library's exception
chained to it (whose text may quote the header).
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from pydantic import SecretStr

from cortex_events import __version__
from cortex_events.config.secret import Redactor, clean_api_key
from cortex_events.config.tls import trust
from cortex_events.cortex.api import CortexApi, Gate, Request
from cortex_events.cortex.catalog import CatalogOperations
from cortex_events.cortex.errors import (
    CortexConnectionError,
    CortexError,
    CortexRateLimited,
    error_from_response,
    parse_retry_after,
    redacted,
)
from cortex_events.cortex.observer import ClientObserver, NullObserver
from cortex_events.cortex.ratelimit import TokenBucket
from cortex_events.cortex.retries import RetryLog
from cortex_events.cortex.wire import decode

__all__ = ["DEFAULT_TIMEOUT", "CortexClient"]

logger = logging.getLogger("cortex_events.cortex")

# Connecting to Cortex takes well under a second when it works; reads get more room because a
# list of 1000 events is a large answer.
DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)

# Exceptions after which the request surely never reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class CortexClient(CortexApi, CatalogOperations):
    """The Cortex surface (`CortexApi`: custom events and deploys) and the catalog's
    descriptors and entities (`CatalogOperations`), over one `httpx.AsyncClient`.

    Use it as ``async with CortexClient(url, key) as client: ...`` or call `aclose`. Parameters:

    * ``per_minute``: request budget of the key's shared `TokenBucket` (ignored when
      ``rate_limiter`` is given).
    * ``timeout``: explicit `httpx.Timeout` (default: connect 5 s, everything else 15 s).
    * ``max_retries``: retries after the first attempt (0 disables retrying).
    * ``max_retry_after``: the longest ``Retry-After`` honoured; longer ones are cut to it.
    * ``backoff_base``/``backoff_cap``: exponential backoff ``base * 2**(attempt-1)`` capped,
      then jittered to between half and all of it.
    * ``transport``: a custom httpx transport (tests use `httpx.MockTransport`).
    * ``gate``: called as each call starts, before each attempt, and again as its request is
      written to the socket; what it raises ends the call unsent (leader election's fence).
    * ``verify``: the TLS context servers are verified with (default: `trust`, the usual
      CAs).
    * ``api_key_source``: called before each attempt for the key to send (a key file that is
      rotated, which adds each new key to the redactor); the key given is the first.
      ``redactor``: the process's secrets, shared with its logs (by default: the key's).
    * ``retry_log``: what is logged of retries (default: one line per cause, see `RetryLog`).
    * ``sleep``/``clock``/``jitter``: injectable time and randomness for tests.
    """

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr,
        *,
        per_minute: float = 600,
        rate_limiter: TokenBucket | None = None,
        timeout: httpx.Timeout | None = None,
        max_retries: int = 5,
        max_retry_after: float = 60.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        observer: ClientObserver | None = None,
        user_agent: str = f"cortex-events-operator/{__version__}",
        gate: Gate | None = None,
        api_key_source: Callable[[], SecretStr] | None = None,
        redactor: Redactor | None = None,
        verify: ssl.SSLContext | None = None,
        retry_log: RetryLog | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        super().__init__(gate=gate)
        clean_api_key(api_key.get_secret_value())  # a ValueError says what is wrong with it
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if max_retry_after < 0 or backoff_base < 0 or backoff_cap < 0:
            raise ValueError("max_retry_after, backoff_base and backoff_cap must be >= 0")
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key_source if api_key_source is not None else lambda: api_key
        self._redactor = redactor if redactor is not None else Redactor()
        self._redactor.add(api_key.get_secret_value())
        self._limiter = rate_limiter if rate_limiter is not None else TokenBucket(per_minute)
        self._timeout = timeout if timeout is not None else DEFAULT_TIMEOUT
        self._max_retries = max_retries
        self._max_retry_after = max_retry_after
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._observer: ClientObserver = observer if observer is not None else NullObserver()
        self._retry_log = retry_log if retry_log is not None else RetryLog(self._base_url)
        # The gate again as the request's first bytes are written: between the check above
        # and the socket an attempt may wait for a pooled connection, a TCP or TLS handshake,
        # and the event loop's other work. A process frozen there (SIGSTOP, a stalled node)
        # would otherwise send on waking, after another replica took over.
        self._extensions = {"trace": self._trace} if gate is not None else {}
        self._sleep = sleep if sleep is not None else asyncio.sleep
        self._clock = clock
        self._jitter = jitter
        self._http = httpx.AsyncClient(
            base_url=self._base_url,
            timeout=self._timeout,
            transport=transport,
            headers={"User-Agent": user_agent, "Accept": "application/json"},
            follow_redirects=False,
            verify=verify if verify is not None else trust(),
        )

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> CortexClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def rate_limiter(self) -> TokenBucket:
        return self._limiter

    def __repr__(self) -> str:
        return (
            f"CortexClient(base_url={self._base_url!r}, "
            f"per_minute={self._limiter.per_minute:g}, max_retries={self._max_retries})"
        )

    # -- transport ---------------------------------------------------------------------------

    async def _exchange(self, request: Request) -> Any:
        """Send with rate limiting and retries; the decoded JSON body, or None when empty.

        With ``read_body`` false (deletes) any success body is ignored. The gate, asked as the
        call started (a refused call takes no token), is asked again before each attempt (after
        waiting for the limiter or a back-off) and as each attempt is written (`_trace`).
        """
        method, path, params, json = request.method, request.path, request.params, request.json

        def what() -> str:
            return f"{method} {path}"

        attempt = 0
        while True:
            attempt += 1
            waited = await self._limiter.acquire()
            self._notify(self._observer.rate_limit_waited, waited)
            self._pass_gate(what, "before the attempt")
            started = self._clock()
            try:
                response = await self._http.request(
                    method,
                    path,
                    params=params,
                    json=json,
                    headers={"Authorization": f"Bearer {self._api_key().get_secret_value()}"},
                    extensions=self._extensions,
                )
            except (httpx.RequestError, UnicodeError) as exc:
                # Transport failures, and answers whose body cannot be decoded (a corrupt
                # gzip stream): either way no usable answer arrived. (A UnicodeError: a
                # header that cannot be encoded, so nothing was sent.)
                self._notify(
                    self._observer.request_finished, method, "error", self._clock() - started
                )
                error: CortexError = CortexConnectionError(
                    f"{type(exc).__name__}: {str(exc) or 'no detail'}",
                    request_sent=not isinstance(exc, (*_NOT_SENT, UnicodeError)),
                    method=method,
                    path=path,
                )
                delay = self._retry_delay(method, attempt, error, None)
                if delay is None:
                    raise redacted(error, self._redactor.redact) from None
                reason, detail = type(exc).__name__, self._redactor.redact(error.message)
            else:
                self._notify(
                    self._observer.request_finished,
                    method,
                    str(response.status_code),
                    self._clock() - started,
                )
                if response.is_success:
                    return decode(response, method, path) if request.read_body else None
                error = error_from_response(response, self._redactor.redact)
                delay = self._retry_delay(method, attempt, error, response)
                if delay is None:
                    raise redacted(error, self._redactor.redact)
                if response.status_code == 429:
                    # The key's budget is spent (by others too, perhaps): nobody sends until
                    # Cortex allows it again, then the most urgent requests go first.
                    self._limiter.pause(delay)
                reason = f"HTTP {response.status_code}"
                detail = f"{reason}: {error.message}"
            logger.debug(
                "Cortex %s %s failed (%s); retry %d of %d in %.2fs",
                method,
                path,
                reason,
                attempt,
                self._max_retries,
                delay,
            )
            self._retry_log.retrying(method, path, reason, detail)
            self._notify(self._observer.retrying, method, attempt, delay, reason)
            await self._sleep(delay)

    async def _trace(self, event: str, info: dict[str, Any]) -> None:
        # httpcore's trace hook. Between this event and the write of the request line nothing
        # yields to the event loop (unless the socket's send buffer is full), so this is the
        # last moment at which a request can still be held back.
        if event.endswith(".send_request_headers.started") and self._gate is not None:
            request = info.get("request")

            def what() -> str:
                if request is None:
                    return "?"
                return f"{request.method.decode()} {request.url.target.decode(errors='replace')}"

            self._pass_gate(what, "as it is written")
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("Cortex %s: passed the fence, writing it", what())

    def _retry_delay(
        self,
        method: str,
        attempt: int,
        error: CortexError,
        response: httpx.Response | None,
    ) -> float | None:
        """Seconds before the next attempt, or None when this error must be raised now."""
        if attempt > self._max_retries:
            return None
        status = error.status_code
        if isinstance(error, CortexConnectionError):
            retryable = method != "POST" or not error.request_sent
        elif status == 429:
            retryable = True
        elif status is not None and status >= 500:
            retryable = method != "POST"
        else:
            retryable = False
        if not retryable:
            return None
        if response is not None:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is None and isinstance(error, CortexRateLimited):
                retry_after = error.retry_after  # the problem body's retryAfter
            if retry_after is not None:
                return min(retry_after, self._max_retry_after)
        backoff = min(self._backoff_cap, self._backoff_base * 2.0 ** (attempt - 1))
        return backoff * (0.5 + 0.5 * self._jitter())

    @staticmethod
    def _notify(hook: Callable[..., None], *args: Any) -> None:
        try:
            hook(*args)
        except Exception:
            logger.exception("Cortex client observer %s failed", getattr(hook, "__name__", hook))
