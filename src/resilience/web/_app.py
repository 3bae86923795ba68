"""The status page: one ASGI app showing breakers, health, batches, strategies, live over SSE.

Routes: ``/`` (the page), ``/static/<file>`` (its script and style sheet), ``/api/status``
(the status as JSON) and ``/api/events`` (the same status as Server-Sent Events, pushed on
every change). Listeners on the breaker and health registries keep a short log of recent
events and wake the open streams at once; everything else (batch progress, counts, the
strategies' measurements) is
polled every ``poll_interval`` seconds, and a stream sends only when something changed.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from datetime import timedelta
from importlib.resources import files
from typing import Any

from resilience._breaker.registry import BreakerRegistry
from resilience._core.clock import wall_time
from resilience._core.measure import Measured, check_measured
from resilience._core.options import seconds
from resilience.batch import BatchProcessor
from resilience.health import HealthRegistry
from resilience.recovery import IncidentStore
from resilience.web._events import EventLog
from resilience.web._http import (
    ASSETS,
    JSON_HEADERS,
    PAGE_HEADERS,
    Receive,
    Scope,
    Send,
    misdirected,
    parse_allowed_hosts,
    respond,
    route_path,
)
from resilience.web._incidents import incident_rows, public_services
from resilience.web._render import batch, breakers, components, strategies, to_json
from resilience.web._stream import SSE_HEADERS, Streams, serve_events

__all__ = ["StatusApp", "status_app"]


def _asset(name: str) -> bytes:
    return (files("resilience.web") / "static" / name).read_bytes()


class StatusApp:
    """The status page as an ASGI 3 application; build it with :func:`status_app`."""

    def __init__(
        self,
        *,
        registry: BreakerRegistry | None,
        health: HealthRegistry | None,
        batches: tuple[BatchProcessor, ...],
        title: str,
        measured: tuple[Measured, ...] = (),
        history: int,
        poll_interval: float | timedelta,
        allowed_hosts: frozenset[str] = frozenset(),
        incidents: IncidentStore | None = None,
        public: bool = False,
    ) -> None:
        self._registry = registry
        self._incidents = incidents
        self._public = public
        self._allowed_hosts = allowed_hosts
        self._health = health
        self._batches = batches
        self._measured = measured
        self._title = title
        self._poll = (
            poll_interval.total_seconds()
            if isinstance(poll_interval, timedelta)
            else float(poll_interval)
        )
        self._streams = Streams()
        self._log = EventLog(history, self._streams.wake)
        self._closed = False
        page = _asset("status.html").decode()
        self._page = page.replace("{{title}}", html.escape(title)).encode()
        self._assets = {name: _asset(name) for name in ASSETS}
        if registry is not None:
            registry.add_listener(self._log.breaker_event)
        if health is not None:
            health.add_listener(self._log.health_event)

    # ------------------------------------------------------------------ the status

    def status(self) -> dict[str, Any]:
        """What ``/api/status`` answers: breakers, health, batches, strategies, incidents, events.

        In public mode: the overall status and each service's, nothing more.
        """
        return self._status()[1]

    def _status(self) -> tuple[int, dict[str, Any]]:
        version, events = self._log.read()
        if self._public:
            # Nothing of why: no messages, reasons, incidents or events reach the public.
            return version, {
                "title": self._title,
                "public": True,
                "generated_at": round(wall_time(), 3),
                "poll_interval": self._poll,
                **public_services(
                    registry=self._registry, health=self._health, store=self._incidents
                ),
            }
        return version, {
            "title": self._title,
            "generated_at": round(wall_time(), 3),
            "poll_interval": self._poll,
            "breakers": breakers(self._registry),
            "health": components(self._health),
            "batches": [batch(processor) for processor in self._batches],
            "strategies": strategies(self._measured),
            "incidents": incident_rows(self._incidents),
            "events": events,
        }

    # ------------------------------------------------------------------- lifecycle

    def close(self) -> None:
        """End every open event stream, and each new one after its first status.

        Call it before stopping a server (uvicorn waits for open responses to finish
        before it shuts down); an ASGI ``lifespan.shutdown`` does the same, and a
        ``lifespan.startup`` opens the app again. Thread-safe.
        """
        self._closed = True
        self._streams.wake()

    @property
    def streams(self) -> int:
        """Event streams open now."""
        return len(self._streams)

    # ------------------------------------------------------------------------- ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":
            return  # e.g. a websocket: the server refuses it
        path = route_path(scope)
        method = scope.get("method", "GET")
        head = method == "HEAD"
        host = misdirected(scope, self._allowed_hosts)
        if host is not None:
            body = to_json(
                {
                    "error": f"misdirected request: this status page does not answer to the "
                    f"host {host!r}; add it with status_app(allowed_hosts=[...]) if it is "
                    "one of its names"
                }
            )
            await respond(send, 421, JSON_HEADERS, body, head=head)
            return
        if path == "/":
            headers, body = PAGE_HEADERS, self._page
        elif path.startswith("/static/") and path[8:] in self._assets:
            name = path[8:]
            headers = [(b"content-type", ASSETS[name].encode()), (b"cache-control", b"no-cache")]
            body = self._assets[name]
        elif path == "/api/status":
            headers, body = JSON_HEADERS, to_json(self.status())
        elif path == "/api/events":
            headers, body = SSE_HEADERS, b""
        else:
            await respond(send, 404, JSON_HEADERS, b'{"error": "not found"}', head=head)
            return
        if method not in ("GET", "HEAD"):
            await respond(
                send,
                405,
                [*JSON_HEADERS, (b"allow", b"GET, HEAD")],
                b'{"error": "method not allowed: use GET"}',
                head=head,
            )
            return
        if path == "/api/events" and not head:
            await serve_events(
                receive,
                send,
                streams=self._streams,
                status=self._status,
                closed=lambda: self._closed,
                poll_interval=self._poll,
            )
            return
        await respond(send, 200, headers, body, head=head)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._closed = False
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def __repr__(self) -> str:
        parts = [
            f"registry={self._registry!r}" if self._registry is not None else "",
            f"health={self._health!r}" if self._health is not None else "",
            f"batches={len(self._batches)}",
            f"strategies={len(self._measured)}" if self._measured else "",
            f"incidents={self._incidents!r}" if self._incidents is not None else "",
            "public=True" if self._public else "",
        ]
        return f"StatusApp({', '.join(p for p in parts if p)}, title={self._title!r})"


def status_app(
    *,
    registry: BreakerRegistry | None = None,
    health: HealthRegistry | None = None,
    batches: Iterable[BatchProcessor] = (),
    strategies: Iterable[Measured] = (),
    title: str = "resilience",
    history: int = 100,
    poll_interval: float | timedelta = 0.5,
    allowed_hosts: Iterable[str] = (),
    incidents: IncidentStore | None = None,
    public: bool = False,
) -> StatusApp:
    """A status page for operators: breakers, health, batches and strategies, updated live.

    Serve the returned ASGI app with any ASGI server (``uvicorn``: ``pip install
    'resilience-engine[web]'``). It shows internal state (remote names, error messages): bind it
    to loopback or put it behind authentication.

    Args:
        registry: The breakers to show, one row per remote.
        health: The health components to show, as last checked (run a
            :meth:`HealthRegistry.monitor` to keep them fresh; the page runs no check).
        batches: Batch processors whose progress to show.
        strategies: Strategies that show measurements (:class:`~resilience.Measured`:
            a bulkhead, a limiter, a ``Remotes`` registry of them): one row each, with
            its kind, name, state and whether it is healthy (admits calls).
        title: The page's title.
        history: How many recent events (transitions, health changes, bursts of
            rejections) the page lists.
        poll_interval: Seconds (or a timedelta) between two looks at the counts and
            the batches; transitions and health changes are pushed at once.
        allowed_hosts: The names (the ``Host`` header, without its port) the page
            answers to besides loopback names and the address the server listens on,
            such as the name a reverse proxy passes on; ``"*"`` answers to any. Other
            requests get 421 Misdirected Request (a defence against DNS rebinding).
        incidents: An incident store whose open incidents to list (severity, state,
            last update).
        public: Show only what a public status page shows: overall and per service,
            operational, degraded or down, without messages, incidents or events.
    """
    if registry is not None and not isinstance(registry, BreakerRegistry):
        raise TypeError(f"registry must be a BreakerRegistry or None, got {registry!r}")
    if health is not None and not isinstance(health, HealthRegistry):
        raise TypeError(f"health must be a HealthRegistry or None, got {health!r}")
    if isinstance(batches, BatchProcessor) or not isinstance(batches, Iterable):
        raise TypeError(
            f"batches must be an iterable of BatchProcessor (e.g. [processor]), got {batches!r}"
        )
    processors = tuple(batches)
    for processor in processors:
        if not isinstance(processor, BatchProcessor):
            raise TypeError(f"batches must hold BatchProcessor objects, got {processor!r}")
    measured = tuple(check_measured(strategies))
    if not isinstance(title, str):
        raise TypeError(f"title must be a str, got {title!r}")
    if isinstance(history, bool) or not isinstance(history, int):
        raise TypeError(f"history must be an int, got {history!r}")
    if history < 0:
        raise ValueError(f"history must be 0 or more, got {history!r}")
    if incidents is not None and not isinstance(incidents, IncidentStore):
        raise TypeError(f"incidents must be an IncidentStore or None, got {incidents!r}")
    if not isinstance(public, bool):
        raise TypeError(f"public must be True or False, got {public!r}")
    poll = seconds(poll_interval)
    if isinstance(poll, bool) or not isinstance(poll, int | float):
        raise TypeError(f"poll_interval must be a number of seconds, got {poll_interval!r}")
    if not (poll > 0 and math.isfinite(poll)):
        raise ValueError(
            f"poll_interval must be a positive number of seconds, got {poll_interval!r}"
        )
    return StatusApp(
        registry=registry,
        health=health,
        batches=processors,
        title=title,
        measured=measured,
        history=history,
        poll_interval=poll,
        allowed_hosts=parse_allowed_hosts(allowed_hosts),
        incidents=incidents,
        public=public,
    )
