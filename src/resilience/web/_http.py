"""The HTTP plumbing of the status page: ASGI types, headers, routes, hosts, responses."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, Final

from resilience._core.text import one_line, safe_repr

__all__ = [
    "ASSETS",
    "COMMON",
    "JSON_HEADERS",
    "PAGE_HEADERS",
    "Receive",
    "Scope",
    "Send",
    "misdirected",
    "parse_allowed_hosts",
    "respond",
    "route_path",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

ASSETS: Final = {
    "status.js": "text/javascript; charset=utf-8",
    "status.css": "text/css; charset=utf-8",
}
COMMON: Final = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
PAGE_HEADERS: Final = [
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
JSON_HEADERS: Final = [
    (b"content-type", b"application/json"),
    (b"cache-control", b"no-store"),
]
_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.", "ip6-localhost"})


def misdirected(scope: Scope, allowed_hosts: frozenset[str]) -> str | None:
    """The Host of a request for a name this page does not answer to, else None.

    A web page can make a browser send requests here under its own name once its
    DNS answers with this address (DNS rebinding): only loopback names, the address
    the server listens on and ``allowed_hosts`` are answered.
    """
    if "*" in allowed_hosts:
        return None
    host = next((v for k, v in scope.get("headers", ()) if k == b"host"), None)
    if host is None:
        return None  # HTTP/1.0 without a Host: no browser, no rebinding
    name = _host_name(host.decode("latin-1"))
    server = scope.get("server") or (None,)
    if _is_loopback(name) or name in allowed_hosts:
        return None
    if server[0] is not None and name == _host_name(str(server[0])):
        return None
    return one_line(host.decode("latin-1"))[:200]


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


def route_path(scope: Scope) -> str:
    """The request's path below the app's root; ``/api/...`` without a trailing slash."""
    path: str = scope.get("path", "/")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        path = path[len(root) :]
    if path.startswith("/api/"):
        return path.rstrip("/")  # /api/status/ is /api/status
    return path or "/"


async def respond(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes, *, head: bool
) -> None:
    """Answer with ``status``, ``headers`` and ``body`` (none for a HEAD request)."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, *COMMON, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": b"" if head else body})


def parse_allowed_hosts(hosts: Iterable[str]) -> frozenset[str]:
    """The host names of ``status_app(allowed_hosts=...)``, checked and normalised."""
    if isinstance(hosts, str) or not isinstance(hosts, Iterable):
        raise TypeError(
            f"allowed_hosts must be an iterable of host names (e.g. ['status.internal']), "
            f"got {safe_repr(hosts)}"
        )
    names = set()
    for host in hosts:
        if (
            not isinstance(host, str)
            or not host
            or not host.isprintable()
            or (any(c.isspace() or c in "/@" for c in host))
        ):
            raise ValueError(
                f"allowed_hosts must hold host names such as 'status.internal' (no "
                f"scheme, path or spaces), got {safe_repr(host)}"
            )
        names.add(host if host == "*" else _host_name(host))
    return frozenset(names)
