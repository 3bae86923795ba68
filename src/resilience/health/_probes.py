"""Liveness and readiness probes as plain ASGI and WSGI apps: no web framework needed.

``/livez`` says the process answers and runs no check; ``/readyz`` runs the readiness
group; ``/health`` runs every check. Bodies are JSON in the IETF health-check shape,
never cached. Messages and details are shown only with ``show_details=True`` or to a
caller presenting the token (``Authorization: Bearer <token>``). A wrong token is
answered like no token (the status, without details), so that a probe never fails for
it; an ``Authorization`` header that is not ASCII is malformed and answered 401.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from resilience._core.text import json_bytes

if TYPE_CHECKING:
    from resilience.health._report import HealthReport


class Checks(Protocol):
    """What the probes run: a :class:`~resilience.health.HealthRegistry`."""

    def run(self, group: str | None = None) -> HealthReport:
        """Run the checks of ``group``, or all."""
        ...

    async def arun(self, group: str | None = None) -> HealthReport:
        """:meth:`run` for asyncio."""
        ...


__all__ = ["asgi_app", "wsgi_app"]

_HEADERS = [
    ("content-type", "application/health+json"),
    ("cache-control", "no-store"),
]
_CHALLENGE = ("www-authenticate", 'Bearer error="invalid_request"')
_LIVE = json_bytes({"status": "pass"})
_NOT_FOUND = json_bytes({"error": "not found"})
_USE_GET = json_bytes({"error": "use GET"})
_MALFORMED = json_bytes({"error": "the Authorization header is not ASCII: send Bearer <token>"})
_REASONS = {
    200: "OK",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    503: "Service Unavailable",
}


def _route(path: str) -> str | None:
    """The check group a path asks for: "" for all, "readiness", or None (not ours)."""
    path = path.rstrip("/") or "/"
    return {"/health": "", "/readyz": "readiness", "/livez": "live"}.get(path)


def _allowed(show_details: bool, token: str | None, presented: bytes | None) -> bool:
    """Whether details are shown; ValueError if the credentials are not ASCII."""
    if presented is not None and not presented.isascii():
        raise ValueError("malformed Authorization header")
    if show_details:
        return True
    if token is None or presented is None:
        return False
    return hmac.compare_digest(presented, f"Bearer {token}".encode())


def _body(report: HealthReport, *, details: bool) -> bytes:
    return json_bytes(report.to_dict(details=details))


def asgi_app(
    health: Checks, *, show_details: bool = False, token: str | None = None
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
        extra: list[tuple[str, str]] = []
        if route is None:
            status, body = 404, _NOT_FOUND
        elif scope.get("method") not in ("GET", "HEAD"):
            status, body = 405, _USE_GET
        elif route == "live":
            status, body = 200, _LIVE
        else:
            presented = dict(scope.get("headers", [])).get(b"authorization") or None
            try:
                details = _allowed(show_details, token, presented)
            except ValueError:
                status, body, extra = 401, _MALFORMED, [_CHALLENGE]
            else:
                report = await health.arun(route or None)
                status, body = report.http_status, _body(report, details=details)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.encode(), v.encode()) for k, v in (*_HEADERS, *extra)]
                + [(b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


def wsgi_app(
    health: Checks, *, show_details: bool = False, token: str | None = None
) -> Callable[..., Iterable[bytes]]:
    """The probes as a WSGI application."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        route = _route(environ.get("PATH_INFO", ""))
        extra: list[tuple[str, str]] = []
        if route is None:
            status, body = 404, _NOT_FOUND
        elif environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            status, body = 405, _USE_GET
        elif route == "live":
            status, body = 200, _LIVE
        else:
            # WSGI hands headers over as latin-1 text: their bytes, as they came.
            header = environ.get("HTTP_AUTHORIZATION")
            presented = header.encode("latin-1") if header else None
            try:
                details = _allowed(show_details, token, presented)
            except ValueError:
                status, body, extra = 401, _MALFORMED, [_CHALLENGE]
            else:
                report = health.run(route or None)
                status, body = report.http_status, _body(report, details=details)
        start_response(
            f"{status} {_REASONS[status]}",
            [*_HEADERS, *extra, ("content-length", str(len(body)))],
        )
        return [body]

    return app
