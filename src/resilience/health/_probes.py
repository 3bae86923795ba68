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
from dataclasses import dataclass
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


__all__ = ["ProbeAnswer", "RunChecks", "asgi_app", "probe", "route_of", "wsgi_app"]

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


def route_of(path: str) -> str | None:
    """The probe a path asks for: "" for all checks, "readiness", "live", or None (not ours)."""
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


@dataclass(frozen=True, slots=True)
class ProbeAnswer:
    """A probe's answer, for any server or framework: status, headers and JSON body."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...]

    @property
    def reason(self) -> str:
        """The status's reason phrase."""
        return _REASONS[self.status]


@dataclass(frozen=True, slots=True)
class RunChecks:
    """A probe request that is answered by running checks: which, and what is shown."""

    group: str | None
    details: bool

    def answer(self, report: HealthReport) -> ProbeAnswer:
        """The answer that shows ``report``."""
        return _answer(report.http_status, _body(report, details=self.details))


def _answer(status: int, body: bytes, *extra: tuple[str, str]) -> ProbeAnswer:
    return ProbeAnswer(status, body, (*_HEADERS, *extra, ("content-length", str(len(body)))))


def probe(
    route: str | None,
    method: str | None,
    authorization: bytes | None,
    *,
    show_details: bool,
    token: str | None,
) -> ProbeAnswer | RunChecks:
    """Decide a probe request: answered at once, or by running the checks of a group.

    Args:
        route: ``"live"``, ``"readiness"``, ``""`` (every check), or None (not a probe).
        method: The HTTP method.
        authorization: The ``Authorization`` header's bytes, if any.
        show_details: Show messages and details to every caller.
        token: The bearer token that shows them, if any.
    """
    if route is None:
        return _answer(404, _NOT_FOUND)
    if method not in ("GET", "HEAD"):
        return _answer(405, _USE_GET)
    if route == "live":
        return _answer(200, _LIVE)
    try:
        details = _allowed(show_details, token, authorization)
    except ValueError:
        return _answer(401, _MALFORMED, _CHALLENGE)
    return RunChecks(route or None, details)


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
        presented = dict(scope.get("headers", [])).get(b"authorization") or None
        decided = probe(
            route_of(scope.get("path", "")),
            scope.get("method"),
            presented,
            show_details=show_details,
            token=token,
        )
        answer = (
            decided
            if isinstance(decided, ProbeAnswer)
            else decided.answer(await health.arun(decided.group))
        )
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": [(k.encode(), v.encode()) for k, v in answer.headers],
            }
        )
        await send({"type": "http.response.body", "body": answer.body})

    return app


def wsgi_app(
    health: Checks, *, show_details: bool = False, token: str | None = None
) -> Callable[..., Iterable[bytes]]:
    """The probes as a WSGI application."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        # WSGI hands headers over as latin-1 text: their bytes, as they came.
        header = environ.get("HTTP_AUTHORIZATION")
        decided = probe(
            route_of(environ.get("PATH_INFO", "")),
            environ.get("REQUEST_METHOD"),
            header.encode("latin-1") if header else None,
            show_details=show_details,
            token=token,
        )
        answer = (
            decided
            if isinstance(decided, ProbeAnswer)
            else decided.answer(health.run(decided.group))
        )
        start_response(f"{answer.status} {answer.reason}", list(answer.headers))
        return [answer.body]

    return app
