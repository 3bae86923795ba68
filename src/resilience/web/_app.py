"""The status page: one plain ASGI app showing breakers, health and batches, live over SSE.

Routes: ``/`` (the page), ``/static/<file>`` (its script and style sheet), ``/api/status``
(the status as JSON) and ``/api/events`` (the same status as Server-Sent Events, pushed on
every change). Listeners on the breaker and health registries keep a short log of recent
events and wake the open streams at once; everything else (batch progress, counts) is
polled every ``poll_interval`` seconds, and a stream sends only when something changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import ipaddress
import math
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, Final

from resilience._breaker.registry import BreakerRegistry
from resilience._core.clock import wall_time
from resilience._core.events import CallRecorded, CallRejected, CircuitState, Event, StateChanged
from resilience._core.redact import redact_text
from resilience._core.text import json_bytes, one_line, safe_repr
from resilience.batch._processor import BatchProcessor
from resilience.health._registry import ComponentChanged, ComponentStatus, HealthRegistry, aggregate

__all__ = ["StatusApp", "status_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

HEARTBEAT: float = 15.0
"""Seconds of silence after which a stream sends a comment, so proxies keep it open."""
MIN_GAP: float = 0.1
"""Seconds a stream waits between two sends, however often it is woken."""
RECONNECT_MS: Final = 2000
"""How long a browser waits before reconnecting a stream that ended (SSE ``retry``)."""
_BEAT: Final = b": keep-alive\n\n"

_ASSETS: Final = {
    "status.js": "text/javascript; charset=utf-8",
    "status.css": "text/css; charset=utf-8",
}
_COMMON: Final = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
_PAGE_HEADERS: Final = [
    (b"content-type", b"text/html; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (
        b"content-security-policy",
        (
            b"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
            b"img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        ),
    ),
    (b"x-frame-options", b"DENY"),
]
_JSON_HEADERS: Final = [
    (b"content-type", b"application/json"),
    (b"cache-control", b"no-store"),
]
_SSE_HEADERS: Final = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),  # nginx: pass each event on at once
]
_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.", "ip6-localhost"})
_BAD_STATES: Final = (CircuitState.OPEN, CircuitState.FORCED_OPEN)
_LEVELS: Final = {
    CircuitState.CLOSED: "ok",
    CircuitState.OPEN: "error",
    CircuitState.FORCED_OPEN: "error",
    CircuitState.HALF_OPEN: "warning",
    CircuitState.DISABLED: "info",
    CircuitState.METRICS_ONLY: "info",
    ComponentStatus.OK: "ok",
    ComponentStatus.WARNING: "warning",
    ComponentStatus.ERROR: "error",
    ComponentStatus.UNKNOWN: "warning",
}


@dataclass(slots=True)
class _Entry:
    """One line of the recent events; a burst of rejections is one line, counted."""

    seq: int
    time: float
    kind: str
    subject: str
    level: str
    text: str
    count: int = 1
    state: str = ""

    def as_dict(self) -> dict[str, Any]:
        text = self.text
        if self.kind == "rejected":
            calls = "call" if self.count == 1 else "calls"
            text = f"{self.subject}: {self.count} {calls} rejected while {self.state}"
        return {
            "time": round(self.time, 3),
            "kind": self.kind,
            "subject": self.subject,
            "level": self.level,
            "text": redact_text(text),
            "count": self.count,
        }


class _EventLog:
    """The last ``size`` events, fed from any thread."""

    def __init__(self, size: int, wake: Callable[[], None]) -> None:
        self._entries: deque[_Entry] = deque(maxlen=size)
        self._bursts: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._seq = 0
        self._wake = wake

    def breaker_event(self, event: Event) -> None:
        if type(event) is CallRecorded:  # every call: leave at once
            return
        if isinstance(event, StateChanged):
            text = f"{event.name}: {event.old.name} → {event.new.name}"
            if event.reason:
                text += f" ({event.reason})"
            with self._lock:
                self._bursts.pop(event.name, None)
                self._add("breaker", event.name, _LEVELS[event.new], text)
            self._wake()
        elif isinstance(event, CallRejected):
            # Rate-limited: a burst of rejections is one entry, counted; the poll shows it.
            with self._lock:
                burst = self._bursts.get(event.name)
                oldest = self._entries[0].seq if self._entries else self._seq + 1
                if burst is not None and burst.seq >= oldest:
                    burst.count += 1
                    self._seq += 1  # a change, for the streams' comparison
                else:
                    entry = self._add("rejected", event.name, "info", "")
                    if entry is not None:
                        entry.state = event.state.name
                        self._bursts[event.name] = entry

    def health_event(self, change: ComponentChanged) -> None:
        old = change.old.name if change.old is not None else "new"
        text = f"{change.name}: {old} → {change.new.name}"
        if change.message:
            text += f" ({change.message})"
        with self._lock:
            self._add("health", change.name, _LEVELS[change.new], text)
        self._wake()

    def _add(self, kind: str, subject: str, level: str, text: str) -> _Entry | None:
        self._seq += 1
        if self._entries.maxlen == 0:
            return None
        entry = _Entry(self._seq, wall_time(), kind, subject, level, text)
        self._entries.append(entry)
        return entry

    def read(self) -> tuple[int, list[dict[str, Any]]]:
        """A version number that changes with every change, and the entries, oldest first."""
        with self._lock:
            return self._seq, [entry.as_dict() for entry in self._entries]


class _Streams:
    """The open event streams: each an asyncio.Event on its loop, woken from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def add(self, loop: asyncio.AbstractEventLoop, wake: asyncio.Event) -> None:
        with self._lock:
            self._open.add((loop, wake))

    def remove(self, loop: asyncio.AbstractEventLoop, wake: asyncio.Event) -> None:
        with self._lock:
            self._open.discard((loop, wake))

    def wake(self) -> None:
        with self._lock:
            streams = list(self._open)
        for loop, event in streams:
            with contextlib.suppress(RuntimeError):  # its loop closed meanwhile
                loop.call_soon_threadsafe(event.set)

    def __len__(self) -> int:
        with self._lock:
            return len(self._open)


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
        history: int,
        poll_interval: float,
        allowed_hosts: frozenset[str] = frozenset(),
    ) -> None:
        self._registry = registry
        self._allowed_hosts = allowed_hosts
        self._health = health
        self._batches = batches
        self._title = title
        self._poll = float(poll_interval)
        self._streams = _Streams()
        self._log = _EventLog(history, self._streams.wake)
        self._closed = False
        page = _asset("status.html").decode()
        self._page = page.replace("{{title}}", html.escape(title)).encode()
        self._assets = {name: _asset(name) for name in _ASSETS}
        if registry is not None:
            registry.add_listener(self._log.breaker_event)
        if health is not None:
            health.add_listener(self._log.health_event)

    # ------------------------------------------------------------------ the status

    def status(self) -> dict[str, Any]:
        """What ``/api/status`` answers: breakers, health, batches, recent events."""
        return self._status()[1]

    def _status(self) -> tuple[int, dict[str, Any]]:
        version, events = self._log.read()
        return version, {
            "title": self._title,
            "generated_at": round(wall_time(), 3),
            "poll_interval": self._poll,
            "breakers": self._breakers(),
            "health": self._components(),
            "batches": [self._batch(processor) for processor in self._batches],
            "events": events,
        }

    def _breakers(self) -> list[dict[str, Any]] | None:
        if self._registry is None:
            return None
        return [
            {
                "remote": remote,
                "state": snap.state.name,
                "failure_rate": _finite(snap.failure_rate),
                "calls": snap.calls,
                "failures": snap.failures,
                "consecutive_failures": snap.consecutive_failures,
                "rejected": snap.rejected,
                # None, not Infinity (which JSON has not): no trial is scheduled.
                "retry_after": _finite(snap.retry_after),
                "reason": redact_text(snap.reason) if snap.reason else snap.reason,
            }
            for remote, snap in sorted(self._registry.snapshot().items())
        ]

    def _components(self) -> dict[str, Any] | None:
        if self._health is None:
            return None
        latest = self._health.latest()
        return {
            "status": aggregate(latest.values()).name if latest else None,
            "components": [
                {
                    "name": c.name,
                    "status": c.status.name,
                    "message": redact_text(c.message) if c.message else c.message,
                    "critical": c.critical,
                    "last_checked": _finite(c.last_checked),
                }
                for c in latest.values()
            ],
        }

    @staticmethod
    def _batch(processor: BatchProcessor) -> dict[str, Any]:
        progress = processor.snapshot()
        if progress is None:
            return {
                "job": processor.job,
                "started": False,
                "running": False,
                "processed": 0,
                "succeeded": 0,
                "failed": 0,
                "deferred": 0,
                "skipped": 0,
                "resumed": 0,
                "total": None,
            }
        return {
            "job": progress.job,
            "started": True,
            "running": progress.running,
            "processed": progress.processed,
            "succeeded": progress.succeeded,
            "failed": progress.failed,
            "deferred": progress.deferred,
            "skipped": progress.skipped,
            "resumed": progress.resumed,
            "total": progress.total,
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
        path = _route_path(scope)
        method = scope.get("method", "GET")
        head = method == "HEAD"
        host = self._misdirected(scope)
        if host is not None:
            body = _json(
                {
                    "error": f"misdirected request: this status page does not answer to the "
                    f"host {host!r}; add it with status_app(allowed_hosts=[...]) if it is "
                    "one of its names"
                }
            )
            await _respond(send, 421, _JSON_HEADERS, body, head=head)
            return
        if path == "/":
            headers, body = _PAGE_HEADERS, self._page
        elif path.startswith("/static/") and path[8:] in self._assets:
            name = path[8:]
            headers = [(b"content-type", _ASSETS[name].encode()), (b"cache-control", b"no-cache")]
            body = self._assets[name]
        elif path == "/api/status":
            headers, body = _JSON_HEADERS, _json(self.status())
        elif path == "/api/events":
            headers, body = _SSE_HEADERS, b""
        else:
            await _respond(send, 404, _JSON_HEADERS, b'{"error": "not found"}', head=head)
            return
        if method not in ("GET", "HEAD"):
            await _respond(
                send,
                405,
                [*_JSON_HEADERS, (b"allow", b"GET, HEAD")],
                b'{"error": "method not allowed: use GET"}',
                head=head,
            )
            return
        if path == "/api/events" and not head:
            await self._stream(receive, send)
            return
        await _respond(send, 200, headers, body, head=head)

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

    async def _stream(self, receive: Receive, send: Send) -> None:
        """Server-Sent Events: the status now, then again on every change, until the end."""
        await send(
            {"type": "http.response.start", "status": 200, "headers": [*_SSE_HEADERS, *_COMMON]}
        )
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        gone = asyncio.Event()
        self._streams.add(loop, wake)
        watcher = asyncio.create_task(_until_disconnect(receive, gone, wake))
        try:
            sent: str | None = None
            last_write = loop.time()
            prefix = f"retry: {RECONNECT_MS}\n"
            while True:
                wake.clear()
                version, status = self._status()
                mark = _fingerprint(version, status)
                if mark != sent:
                    data = b"%sdata: %s\n\n" % (prefix.encode(), _json(status))
                    await send({"type": "http.response.body", "body": data, "more_body": True})
                    prefix, sent, last_write = "", mark, loop.time()
                elif loop.time() - last_write >= HEARTBEAT:
                    await send({"type": "http.response.body", "body": _BEAT, "more_body": True})
                    last_write = loop.time()
                if gone.is_set() or self._closed:
                    break
                timeout = min(self._poll, max(0.0, last_write + HEARTBEAT - loop.time()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout)
                if not gone.is_set() and not self._closed:
                    await asyncio.sleep(max(0.0, last_write + MIN_GAP - loop.time()))
            if not gone.is_set():
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self._streams.remove(loop, wake)
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    def _misdirected(self, scope: Scope) -> str | None:
        """The Host of a request for a name this page does not answer to, else None.

        A web page can make a browser send requests here under its own name once its
        DNS answers with this address (DNS rebinding): only loopback names, the address
        the server listens on and ``allowed_hosts`` are answered.
        """
        if "*" in self._allowed_hosts:
            return None
        host = next((v for k, v in scope.get("headers", ()) if k == b"host"), None)
        if host is None:
            return None  # HTTP/1.0 without a Host: no browser, no rebinding
        name = _host_name(host.decode("latin-1"))
        server = scope.get("server") or (None,)
        if _is_loopback(name) or name in self._allowed_hosts:
            return None
        if server[0] is not None and name == _host_name(str(server[0])):
            return None
        return one_line(host.decode("latin-1"))[:200]

    def __repr__(self) -> str:
        parts = [
            f"registry={self._registry!r}" if self._registry is not None else "",
            f"health={self._health!r}" if self._health is not None else "",
            f"batches={len(self._batches)}",
        ]
        return f"StatusApp({', '.join(p for p in parts if p)}, title={self._title!r})"


async def _until_disconnect(receive: Receive, gone: asyncio.Event, wake: asyncio.Event) -> None:
    try:
        while (await receive())["type"] != "http.disconnect":
            pass
    finally:
        gone.set()
        wake.set()


def _fingerprint(version: int, status: dict[str, Any]) -> str:
    """What a stream compares: the status without its clock readings (countdowns, time)."""
    breakers = status["breakers"]
    if breakers is not None:
        breakers = [{**b, "retry_after": None} for b in breakers]
    return _json([version, breakers, status["health"], status["batches"]], sort_keys=True).decode()


def _json(value: object, *, sort_keys: bool = False) -> bytes:
    """Every JSON answer: strict JSON, with no NaN or infinity (see ``json_bytes``)."""
    return json_bytes(value, sort_keys=sort_keys)


def _finite(value: float | None) -> float | None:
    """A number for JSON, to the millisecond: None when it is None, infinite or NaN."""
    if value is None or not math.isfinite(value):
        return None
    return round(value, 3)


def _host_name(value: str) -> str:
    """A Host header's name: lower case, without its port or a trailing dot."""
    name = value.strip().lower()
    if name.startswith("["):  # an IPv6 literal: [::1]:8300
        return name.partition("]")[0][1:]
    if name.count(":") == 1:
        name = name.partition(":")[0]
    return name.rstrip(".")


def _is_loopback(name: str) -> bool:
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _route_path(scope: Scope) -> str:
    path: str = scope.get("path", "/")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        path = path[len(root) :]
    if path.startswith("/api/"):
        return path.rstrip("/")  # /api/status/ is /api/status
    return path or "/"


async def _respond(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes, *, head: bool
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, *_COMMON, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": b"" if head else body})


def status_app(
    *,
    registry: BreakerRegistry | None = None,
    health: HealthRegistry | None = None,
    batches: Iterable[BatchProcessor] = (),
    title: str = "resilience",
    history: int = 100,
    poll_interval: float = 0.5,
    allowed_hosts: Iterable[str] = (),
) -> StatusApp:
    """A status page for operators: breakers, health and batches, updated live.

    Serve the returned ASGI app with any ASGI server (``uvicorn``: ``pip install
    'resilience[web]'``). It shows internal state (remote names, error messages): bind it
    to loopback or put it behind authentication.

    Args:
        registry: The breakers to show, one row per remote.
        health: The health components to show, as last checked (run a
            :meth:`HealthRegistry.monitor` to keep them fresh; the page runs no check).
        batches: Batch processors whose progress to show.
        title: The page's title.
        history: How many recent events (transitions, health changes, bursts of
            rejections) the page lists.
        poll_interval: Seconds between two looks at the counts and the batches;
            transitions and health changes are pushed at once.
        allowed_hosts: The names (the ``Host`` header, without its port) the page
            answers to besides loopback names and the address the server listens on,
            such as the name a reverse proxy passes on; ``"*"`` answers to any. Other
            requests get 421 Misdirected Request (a defence against DNS rebinding).
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
    if not isinstance(title, str):
        raise TypeError(f"title must be a str, got {title!r}")
    if isinstance(history, bool) or not isinstance(history, int):
        raise TypeError(f"history must be an int, got {history!r}")
    if history < 0:
        raise ValueError(f"history must be 0 or more, got {history!r}")
    if isinstance(poll_interval, bool) or not isinstance(poll_interval, int | float):
        raise TypeError(f"poll_interval must be a number of seconds, got {poll_interval!r}")
    if not (poll_interval > 0 and math.isfinite(poll_interval)):
        raise ValueError(
            f"poll_interval must be a positive number of seconds, got {poll_interval!r}"
        )
    return StatusApp(
        registry=registry,
        health=health,
        batches=processors,
        title=title,
        history=history,
        poll_interval=poll_interval,
        allowed_hosts=_allowed_hosts(allowed_hosts),
    )


def _allowed_hosts(hosts: Iterable[str]) -> frozenset[str]:
    if isinstance(hosts, str) or not isinstance(hosts, Iterable):
        raise TypeError(
            f"allowed_hosts must be an iterable of host names (e.g. ['status.internal']), "
            f"got {safe_repr(hosts)}"
        )
    names = set()
    for host in hosts:
        if not isinstance(host, str) or not host or not host.isprintable() or (
            any(c.isspace() or c in "/@" for c in host)
        ):
            raise ValueError(
                f"allowed_hosts must hold host names such as 'status.internal' (no "
                f"scheme, path or spaces), got {safe_repr(host)}"
            )
        names.add(host if host == "*" else _host_name(host))
    return frozenset(names)
