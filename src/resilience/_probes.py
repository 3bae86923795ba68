"""Liveness and readiness probes as plain ASGI and WSGI apps: no web framework needed.

``/livez`` says the process answers and runs no check; ``/readyz`` runs the readiness
group; ``/health`` runs every check. Bodies are JSON in the IETF health-check shape,
never cached. Messages and details are shown only with ``show_details=True`` or to a
caller presenting the token (``Authorization: Bearer <token>``).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from resilience._health import HealthRegistry, HealthReport

__all__ = ["asgi_app", "wsgi_app"]

_HEADERS = [
    ("content-type", "application/health+json"),
    ("cache-control", "no-store"),
]
_LIVE = json.dumps({"status": "pass"}).encode()
_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


def _route(path: str) -> str | None:
    """The check group a path asks for: "" for all, "readiness", or None (not ours)."""
    path = path.rstrip("/") or "/"
    return {"/health": "", "/readyz": "readiness", "/livez": "live"}.get(path)


def _allowed(show_details: bool, token: str | None, presented: str | None) -> bool:
    if show_details:
        return True
    if token is None or presented is None:
        return False
    return hmac.compare_digest(presented, f"Bearer {token}")


def _body(report: HealthReport, *, details: bool) -> bytes:
    return json.dumps(report.to_dict(details=details)).encode()


def asgi_app(
    health: HealthRegistry, *, show_details: bool = False, token: str | None = None
) -> Callable[..., Awaitable[None]]:
    """The probes as an ASGI 3 application."""

    async def app(
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        route = _route(scope.get("path", ""))
        if route is None:
            status, body = 404, json.dumps({"error": "not found"}).encode()
        elif scope.get("method") not in ("GET", "HEAD"):
            status, body = 405, json.dumps({"error": "use GET"}).encode()
        elif route == "live":
            status, body = 200, _LIVE
        else:
            headers = dict(scope.get("headers", []))
            presented = headers.get(b"authorization", b"").decode("latin-1") or None
            report = await health.arun(route or None)
            details = _allowed(show_details, token, presented)
            status, body = report.http_status, _body(report, details=details)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.encode(), v.encode()) for k, v in _HEADERS]
                + [(b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


def wsgi_app(
    health: HealthRegistry, *, show_details: bool = False, token: str | None = None
) -> Callable[..., Iterable[bytes]]:
    """The probes as a WSGI application."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        route = _route(environ.get("PATH_INFO", ""))
        if route is None:
            status, body = 404, json.dumps({"error": "not found"}).encode()
        elif environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            status, body = 405, json.dumps({"error": "use GET"}).encode()
        elif route == "live":
            status, body = 200, _LIVE
        else:
            report = health.run(route or None)
            details = _allowed(show_details, token, environ.get("HTTP_AUTHORIZATION"))
            status, body = report.http_status, _body(report, details=details)
        start_response(
            f"{status} {_REASONS[status]}",
            [*_HEADERS, ("content-length", str(len(body)))],
        )
        return [body]

    return app
