"""An in-memory emulator of Cortex's Custom Events and Deploys APIs and of its catalog's
descriptors, for tests, the demo and local clusters.

Start it with `FakeCortex` (in your event loop), `run_in_thread` (synchronous code, or an
operator in another process) or `serve` (the ``cortex-events fake-cortex`` command), then point
``CORTEX_BASE_URL`` at its base URL.

What it enforces, as Cortex's API documentation and its published OpenAPI description say
(every invalid request answers 400 naming its cause, never a 500):

* ``Authorization: Bearer <key>`` on every API request, else 401. Given an ``api_key``, only
  that key is accepted.
* Entities: given ``entities``, only those tags exist and others answer 404; otherwise every
  tag exists.
* Bodies of create (POST) and update (PUT): strict JSON (no ``NaN``, at most 1 MiB);
  ``title`` and ``type`` non-blank strings, ``timestamp`` an RFC 3339 date-time string (``Z``,
  an offset, or no zone = UTC, as Cortex's CLI sends it; within years 1 to 9999 in UTC);
  ``description`` and ``url`` strings, ``customData`` an object, each optional (``null`` =
  absent). Unknown fields are ignored. Violations answer 400 with a message naming the field.
* A ``uuid`` in the path is the hyphenated form (8-4-4-4-12 hex digits), else 400.
* PUT replaces the whole event: optional fields it does not send are removed.
* List and Delete-all filters ``type``, ``startTime``, ``endTime`` (inclusive); the times must
  be zone-less (read as UTC) and a value with ``Z`` or an offset answers 400. The deprecated
  ``timestamp`` (with or without a zone) stands for ``startTime`` when ``startTime`` is absent.
  List pages with ``page`` (>= 0) and ``pageSize`` (1..1000), both required 32-bit integers
  as Cortex's description has them, and answers ``{"events", "page", "total", "totalPages"}``;
  a page past the end is empty.
* Order: events are listed by ``timestamp`` ascending, ties by creation order (a PUT keeps the
  event's place in creation order).
* Rate limit: given ``rate_limit`` N, a key's requests beyond N in any sliding 60-second window
  answer 429 ``application/problem+json`` with ``Retry-After`` (whole seconds until a slot
  frees), and the body's ``retryAfter`` the same in whole seconds. Rejected requests do not
  count.
* Deploys (`deploys`): ``/api/v1/catalog/{tag}/deploys`` lists (``page``, ``pageSize`` as
  above, no filters; ``{"deployments", "page", "total", "totalPages"}``, in the same order as
  events), creates (``title``, ``type`` one of DEPLOY, SCALE, ROLLBACK, RESTART, and
  ``timestamp`` required; ``sha``, ``environment``, ``url`` strings, ``deployer`` ``{email,
  name}``, ``customData`` an object), and deletes by ``sha``/``environment``/``type`` (none:
  all of the entity's; 204); ``.../deploys/{uuid}`` is replaced (PUT) or deleted. A create,
  update or delete of one deploy answers it as a ``CustomDeploy``: its deployer flat
  (``deployerEmail``, ``deployerName``), with a numeric ``id`` and its entity's ``serviceId``.
  The deletes across
  every entity, ``DELETE /api/v1/catalog/deploys`` (at least one filter) and
  ``.../deploys/all``, are served too, so that a test can see they were never called.
* Catalog (`catalog`): ``GET /api/v1/catalog/descriptors`` and ``GET /api/v1/catalog``, paged
  (``page`` and ``pageSize`` required), from the descriptors it is given (``descriptors``, the
  ``--descriptor`` option or ``POST /_fake/descriptors``); a descriptor's entity exists.
* Answers: create, get and update 200 with the event; deletes of events 204 without a body;
  errors are Cortex's ``ErrorResponse``, ``{"type", "message", "httpStatus", "requestId"}``
  (``type`` BAD_REQUEST, NOT_FOUND, FORBIDDEN for a refused key, ...); response timestamps are
  UTC with ``Z``. With ``record_answers`` each recorded request keeps its answer's body.

Faults for tests are armed on `FakeCortex.faults` (see `Faults`); everything recorded is on
`FakeCortex.state` (see `FakeCortexState`).

Admin HTTP API (no auth, never recorded, never rate-limited or faulted), for tests that cannot
reach the Python objects (another process, a kind cluster):

* ``GET /``: a web page with each entity's timeline (events and deploys, newest first) that
  updates itself as they arrive (see `page`).
* ``GET /_fake/health``: ``{"status": "ok", "events": N, "deploys": N, "requests": N,
  "outage": bool}``.
* ``GET /_fake/events[?tag=T]``: the stored events in list order, each the API form plus
  ``"tag"``.
* ``GET /_fake/deploys[?tag=T]``: the stored deploys in list order, each the API form plus
  ``"tag"``.
* ``GET /_fake/requests``: the recorded API requests, oldest first: ``method``, ``path``,
  ``query``, ``status`` (0 = dropped), ``body``, ``at`` (Unix seconds, answered),
  ``received_at`` (arrived), ``tag``, ``agent`` (the User-Agent), ``answer`` and
  ``answer_type`` (with ``record_answers``; else null and empty).
* ``POST /_fake/faults`` with a JSON object, ``count`` defaulting to 1, ``method``
  (optional) limiting a rule to one HTTP method and ``path`` (optional) to paths containing
  it:
  ``{"kind": "rate_limit", "count", "retry_after"}``, ``{"kind": "fail", "count", "status"}``,
  ``{"kind": "delay", "count", "seconds"}``, ``{"kind": "drop", "count"}``,
  ``{"kind": "garble", "count", "form"}`` (``form`` ``html`` or ``truncated``: the request is
  carried out, then its success answer is replaced by an HTML page or cut in half),
  ``{"kind": "outage", "on": bool, "drop": bool}``, ``{"kind": "clear"}``. A malformed fault
  (a count that is no whole number, seconds that are not finite or above an hour, a field of
  the wrong type) answers 400 and arms nothing.
* ``POST /_fake/reset``: forgets events, deploys, requests, faults and rate-limit windows (the
  entity list and the descriptors stay).
* ``POST /_fake/descriptors`` (a descriptor or a list; ``?archived=true``), ``GET
  /_fake/descriptors``, ``DELETE /_fake/descriptors/{tag}``: the catalog's descriptors.
"""

from __future__ import annotations

from cortex_events_sim.fake_cortex.app import build_app
from cortex_events_sim.fake_cortex.faults import FaultAction, Faults
from cortex_events_sim.fake_cortex.ratelimit import RateLimiter
from cortex_events_sim.fake_cortex.records import (
    RecordedRequest,
    StoredDeploy,
    StoredEvent,
    format_time,
)
from cortex_events_sim.fake_cortex.server import FakeCortex, run_in_thread, serve
from cortex_events_sim.fake_cortex.store import FakeCortexState

__all__ = [
    "FakeCortex",
    "FakeCortexState",
    "FaultAction",
    "Faults",
    "RateLimiter",
    "RecordedRequest",
    "StoredDeploy",
    "StoredEvent",
    "build_app",
    "format_time",
    "run_in_thread",
    "serve",
]
