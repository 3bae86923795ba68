"""Live updates of the status page: the open event streams and the Server-Sent Events loop."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any, Final

from resilience.web._http import COMMON, Receive, Send
from resilience.web._render import fingerprint, to_json

__all__ = ["HEARTBEAT", "MIN_GAP", "RECONNECT_MS", "SSE_HEADERS", "Streams", "serve_events"]

HEARTBEAT: float = 15.0
"""Seconds of silence after which a stream sends a comment, so proxies keep it open."""
MIN_GAP: float = 0.1
"""Seconds a stream waits between two sends, however often it is woken."""
RECONNECT_MS: Final = 2000
"""How long a browser waits before reconnecting a stream that ended (SSE ``retry``)."""
_BEAT: Final = b": keep-alive\n\n"

SSE_HEADERS: Final = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),  # nginx: pass each event on at once
]


class Streams:
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


async def serve_events(
    receive: Receive,
    send: Send,
    *,
    streams: Streams,
    status: Callable[[], tuple[int, dict[str, Any]]],
    closed: Callable[[], bool],
    poll_interval: float,
) -> None:
    """Server-Sent Events: the status now, then again on every change, until the end.

    Args:
        receive: The ASGI receive channel, watched for the client's disconnect.
        send: The ASGI send channel.
        streams: Where the stream is woken from on a change.
        status: The status now, with the event log's version.
        closed: Whether the app is closed: the stream ends after its next status.
        poll_interval: Seconds between two looks when nothing wakes the stream.
    """
    await send({"type": "http.response.start", "status": 200, "headers": [*SSE_HEADERS, *COMMON]})
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    gone = asyncio.Event()
    streams.add(loop, wake)
    watcher = asyncio.create_task(_until_disconnect(receive, gone, wake))
    try:
        sent: str | None = None
        last_write = loop.time()
        prefix = f"retry: {RECONNECT_MS}\n"
        while True:
            wake.clear()
            version, now = status()
            mark = fingerprint(version, now)
            if mark != sent:
                data = b"%sdata: %s\n\n" % (prefix.encode(), to_json(now))
                await send({"type": "http.response.body", "body": data, "more_body": True})
                prefix, sent, last_write = "", mark, loop.time()
            elif loop.time() - last_write >= HEARTBEAT:
                await send({"type": "http.response.body", "body": _BEAT, "more_body": True})
                last_write = loop.time()
            if gone.is_set() or closed():
                break
            timeout = min(poll_interval, max(0.0, last_write + HEARTBEAT - loop.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout)
            if not gone.is_set() and not closed():
                await asyncio.sleep(max(0.0, last_write + MIN_GAP - loop.time()))
        if not gone.is_set():
            await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        streams.remove(loop, wake)
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


async def _until_disconnect(receive: Receive, gone: asyncio.Event, wake: asyncio.Event) -> None:
    try:
        while (await receive())["type"] != "http.disconnect":
            pass
    finally:
        gone.set()
        wake.set()
