"""Starlette and FastAPI: the probes as routes, load shedding, and breakers as dependencies.

::

    app = Starlette(routes=health_routes(health))
    app.add_middleware(LoadShedding, health=health)
    app.add_exception_handler(CircuitOpenError, circuit_open_response)

    @fastapi_app.get("/pay")
    def pay(breaker: CircuitBreaker = Depends(guard(breakers, "payments"))) -> ...

The routes answer ``/livez``, ``/readyz`` and ``/health`` exactly as
:meth:`HealthRegistry.asgi_app` does (the same decisions, the same bodies).
:class:`LoadShedding` answers 503 with ``Retry-After`` while a critical component is
down, by the latest known health (keep it fresh with a :class:`HealthMonitor`), without
running a check per request. Needs the ``starlette`` (or ``fastapi``) extra.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from functools import partial
from typing import Any, Final

from resilience._core.extras import missing

try:
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route
except ImportError as _exc:  # pragma: no cover - the extra is installed in tests
    raise missing("starlette", "Starlette") from _exc

from resilience._breaker.breaker import CircuitBreaker
from resilience._breaker.errors import CircuitOpenError
from resilience._breaker.events import CircuitState
from resilience._breaker.registry import BreakerRegistry
from resilience._core.text import json_bytes
from resilience.contrib._web import circuit_open_reply, retry_after_header
from resilience.health import ComponentChanged, ComponentStatus, HealthRegistry
from resilience.health._probes import ProbeAnswer, probe

__all__ = ["LoadShedding", "circuit_open_response", "guard", "health_routes"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_DOWN: Final = frozenset({ComponentStatus.ERROR, ComponentStatus.UNKNOWN})
_PROBES: Final = (("/livez", "live"), ("/readyz", "readiness"), ("/health", ""))


def _response(answer: ProbeAnswer) -> Response:
    return Response(answer.body, status_code=answer.status, headers=dict(answer.headers))


def health_routes(
    health: HealthRegistry,
    *,
    show_details: bool = False,
    token: str | None = None,
    prefix: str = "",
) -> list[Route]:
    """``/livez``, ``/readyz`` and ``/health`` as Starlette routes (FastAPI: ``app.router.routes``).

    Args:
        health: The checks the probes run.
        show_details: Show messages and details to every caller.
        token: Show them to a caller presenting ``Authorization: Bearer <token>``.
        prefix: Put the routes under a path, e.g. ``"/ops"``.
    """
    # The options bound once: a request brings only its route, method and credentials.
    decide = partial(probe, show_details=show_details, token=token)

    def endpoint(route: str) -> Callable[[Request], Awaitable[Response]]:
        async def answer(request: Request) -> Response:
            header = request.headers.get("authorization")
            decided = decide(route, request.method, header.encode("latin-1") if header else None)
            if isinstance(decided, ProbeAnswer):
                return _response(decided)
            return _response(decided.answer(await health.arun(decided.group)))

        answer.__name__ = f"probe_{route or 'health'}"
        return answer

    return [
        Route(f"{prefix}{path}", endpoint(route), methods=["GET", "HEAD"], include_in_schema=False)
        for path, route in _PROBES
    ]


async def circuit_open_response(_request: Request, exc: Exception) -> Response:
    """An exception handler: a :class:`CircuitOpenError` escaping a route becomes a 503.

    ``Retry-After`` says when the circuit lets a trial call through (at least 1 s; 30 s
    when no trial is scheduled, as for a circuit forced open). Install it with
    ``app.add_exception_handler(CircuitOpenError, circuit_open_response)``.
    """
    if not isinstance(exc, CircuitOpenError):
        raise exc
    body, headers = circuit_open_reply(exc)  # Starlette sends header names lower-cased
    return Response(body, status_code=503, media_type="application/json", headers=headers)


def guard(
    source: CircuitBreaker | BreakerRegistry, name: str | None = None
) -> Callable[[], CircuitBreaker]:
    """A dependency giving a route its breaker, or answering 503 while the circuit is open.

    ``Depends(guard(breaker))``, or ``Depends(guard(registry, "payments"))`` (the
    registry's breaker of that name, looked up per request). The route calls through
    the breaker as usual; the dependency only spares it the work of a request that
    would be refused (the open circuit's ``Retry-After`` is the header's).
    """
    if isinstance(source, CircuitBreaker):
        if name is not None:
            raise TypeError("guard(breaker) takes no name: it is the breaker's own")
        breaker = source

        def fixed() -> CircuitBreaker:
            return breaker

        get = fixed
    elif isinstance(source, BreakerRegistry):
        if not isinstance(name, str):
            raise TypeError(f"guard(registry, name) needs the breaker's name, got {name!r}")
        registry, wanted = source, name

        def looked_up() -> CircuitBreaker:
            return registry.get(wanted)

        get = looked_up
    else:
        raise TypeError(f"guard() takes a CircuitBreaker or a BreakerRegistry, got {source!r}")

    def dependency() -> CircuitBreaker:
        found = get()
        snap = found.snapshot()
        refusing = snap.state is CircuitState.FORCED_OPEN or (
            snap.state is CircuitState.OPEN and (snap.retry_after or 0.0) > 0.0
        )
        if refusing:
            raise HTTPException(
                503,
                f"circuit {found.name!r} is {snap.state.name}",
                headers={"retry-after": retry_after_header(snap.retry_after)},
            )
        return found

    return dependency


class LoadShedding:
    """ASGI middleware: 503 with ``Retry-After`` while a critical component is down.

    Down means ERROR or UNKNOWN by the latest result of its check (the registry's
    listener keeps the set, so a request costs a set lookup, no check). The probe paths
    are never shed, so that an orchestrator still sees the readiness failing.

    Args:
        app: The application.
        health: The checks whose latest results decide.
        components: The components that shed load when down; the critical ones by
            default.
        retry_after: Seconds the 503's ``Retry-After`` asks for.
        exempt: Paths never shed (the probes by default).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        health: HealthRegistry,
        components: Iterable[str] | None = None,
        retry_after: float = 5.0,
        exempt: Iterable[str] = ("/livez", "/readyz", "/health"),
    ) -> None:
        if not isinstance(health, HealthRegistry):
            raise TypeError(f"LoadShedding(health=...) takes a HealthRegistry, got {health!r}")
        if not retry_after > 0:
            raise ValueError(f"retry_after must be more than 0 seconds, got {retry_after!r}")
        self._app = app
        self._health = health
        self._chosen = None if components is None else frozenset(components)
        self._retry_after = retry_after_header(retry_after)
        self._exempt = frozenset(exempt)
        self._lock = threading.Lock()
        self._down: frozenset[str] = frozenset()
        health.add_listener(self._changed)
        for name, component in health.latest().items():
            if component.status in _DOWN and self._counts(name, critical=component.critical):
                self._down |= {name}

    @property
    def down(self) -> frozenset[str]:
        """The components down now that shed load."""
        return self._down

    def _counts(self, name: str, *, critical: bool) -> bool:
        return critical if self._chosen is None else name in self._chosen

    def _changed(self, event: ComponentChanged) -> None:
        name = event.name
        component = self._health.latest().get(name)
        critical = component.critical if component is not None else False
        with self._lock:  # a read of self._down needs no lock: it is swapped whole
            if event.new in _DOWN and self._counts(name, critical=critical):
                self._down |= {name}
            else:
                self._down -= {name}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 503 while down; otherwise pass the request on."""
        down = self._down
        if not down or scope["type"] != "http" or scope.get("path") in self._exempt:
            await self._app(scope, receive, send)
            return
        body = json_bytes({"error": "service unavailable", "down": sorted(down)})
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"retry-after", self._retry_after.encode()),
                    (b"cache-control", b"no-store"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
