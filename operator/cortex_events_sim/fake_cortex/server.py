"""Running the emulator: in the caller's event loop, in a background thread, or as a command."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from aiohttp import web

from cortex_events_sim.fake_cortex.app import build_app
from cortex_events_sim.fake_cortex.catalog import put_descriptors
from cortex_events_sim.fake_cortex.faults import Faults
from cortex_events_sim.fake_cortex.ratelimit import RateLimiter
from cortex_events_sim.fake_cortex.store import FakeCortexState
from cortex_events_sim.loop_thread import loop_in_thread

__all__ = ["FakeCortex", "run_in_thread", "serve"]

logger = logging.getLogger("cortex_events_sim.fake_cortex")

# How long stop() lets in-flight requests (e.g. ones held by an injected delay) finish.
_SHUTDOWN_GRACE_SECONDS = 1.0


class FakeCortex:
    """An in-memory Cortex Custom Events API on loopback.

    ``api_key``: the only Bearer key accepted (``None``: any non-empty key). ``entities``: the
    tags that exist (``None``: every tag). ``rate_limit``: accepted requests per key in any
    60-second window (``None``: unlimited). ``descriptors``: entity descriptors for the catalog
    (`cortex_events_sim.fake_cortex.catalog`); each one's entity exists. ``record_answers``:
    keep each answer's body with its recorded request (`RecordedRequest.answer`), for tests
    that check the answers.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        entities: Iterable[str] | None = None,
        rate_limit: int | None = None,
        descriptors: Iterable[Mapping[str, Any]] = (),
        record_answers: bool = False,
    ) -> None:
        self.api_key = api_key
        self.record_answers = record_answers
        self.state = FakeCortexState.with_entities(entities)
        put_descriptors(self.state, descriptors)
        self.faults = Faults()
        self.limiter = RateLimiter(rate_limit)
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    @property
    def rate_limit(self) -> int | None:
        return self.limiter.per_minute

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running server (what ``CORTEX_BASE_URL`` should be)."""
        if self._base_url is None:
            raise RuntimeError("the Cortex emulator is not running; call start() first")
        return self._base_url

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0: a free port) and return the base URL."""
        if self._runner is not None:
            raise RuntimeError("the Cortex emulator is already running")
        runner = web.AppRunner(
            build_app(self),
            access_log=None,
            shutdown_timeout=_SHUTDOWN_GRACE_SECONDS,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        bound_host, bound_port = runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self._runner = runner
        self._base_url = f"http://{shown}:{bound_port}"
        return self._base_url

    async def stop(self) -> None:
        """Stop listening and close open connections; safe to call when not running."""
        runner, self._runner = self._runner, None
        self._base_url = None
        if runner is not None:
            await runner.cleanup()

    def reset(self) -> None:
        """Forget events, recorded requests, armed faults and rate-limit windows."""
        self.state.clear()
        self.faults.clear()
        self.limiter.clear()

    async def __aenter__(self) -> FakeCortex:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()


@contextlib.contextmanager
def run_in_thread(
    *,
    api_key: str | None = None,
    entities: Iterable[str] | None = None,
    rate_limit: int | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    timeout: float = 10.0,
    stop_timeout: float | None = None,
    descriptors: Iterable[Mapping[str, Any]] = (),
    record_answers: bool = False,
) -> Iterator[FakeCortex]:
    """A started `FakeCortex` on its own event loop in a daemon thread; stopped on exit.

    For synchronous tests and for tests whose operator runs in another process. ``timeout``
    bounds starting, and stopping unless ``stop_timeout`` is given.
    """
    stop_within = timeout if stop_timeout is None else stop_timeout
    fake = FakeCortex(
        api_key=api_key,
        entities=entities,
        rate_limit=rate_limit,
        descriptors=descriptors,
        record_answers=record_answers,
    )
    with loop_in_thread("fake-cortex", stop_timeout=stop_within) as loop:
        try:
            asyncio.run_coroutine_threadsafe(fake.start(host, port), loop).result(timeout)
            yield fake
        finally:
            asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(stop_within)


def serve(
    port: int,
    *,
    host: str = "127.0.0.1",
    api_key: str | None = None,
    entities: Iterable[str] | None = None,
    rate_limit: int | None = None,
    descriptors: Iterable[Mapping[str, Any]] = (),
) -> int:
    """Serve the emulator until SIGINT or SIGTERM; returns the process exit code.

    Logs one line with the URL when it is listening (and one per API request). If the root
    logger has no handler yet, INFO lines go to stderr.
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        fake = FakeCortex(
            api_key=api_key, entities=entities, rate_limit=rate_limit, descriptors=descriptors
        )
    except ValueError as exc:
        logger.error("fake-cortex: %s", exc)
        return 2
    return asyncio.run(_serve(fake, host, port))


async def _serve(fake: FakeCortex, host: str, port: int) -> int:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stopping.set)
            handled.append(sig)
    try:
        try:
            url = await fake.start(host, port)
        except OSError as exc:
            logger.error("fake-cortex: cannot listen on %s:%s: %s", host, port, exc.strerror or exc)
            return 1
        entities = fake.state.entities
        logger.info(
            "fake-cortex: Cortex custom-events emulator listening on %s "
            "(API key: %s; entities: %s; rate limit: %s); each entity's timeline: open %s/",
            url,
            "required" if fake.api_key is not None else "any",
            ", ".join(sorted(entities)) if entities is not None else "every tag",
            f"{fake.rate_limit}/min" if fake.rate_limit is not None else "none",
            url,
        )
        await stopping.wait()
        logger.info("fake-cortex: stopping")
        return 0
    finally:
        await fake.stop()
        for sig in handled:
            loop.remove_signal_handler(sig)
