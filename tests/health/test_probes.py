"""The probe apps served for real: ASGI by uvicorn, WSGI by wsgiref, over loopback HTTP."""

from __future__ import annotations

import datetime as dt
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from probe_world import TOKEN, check_probes, make_health, wsgiref_serving
from resilience import CheckResult, ComponentStatus, HealthRegistry
from servers import uvicorn_serving


@pytest.fixture
def health() -> Iterator[HealthRegistry]:
    registry = make_health()
    yield registry
    registry.close()


def test_asgi_probes_under_uvicorn(health: HealthRegistry) -> None:
    """/livez, /readyz and /health answer over HTTP from a real uvicorn server."""
    with uvicorn_serving(health.asgi_app(token=TOKEN)) as base:
        check_probes(base, token=TOKEN, own_404=True)


def test_wsgi_probes_under_wsgiref(health: HealthRegistry) -> None:
    """The same probes from the WSGI app served by wsgiref."""
    with wsgiref_serving(health.wsgi_app(token=TOKEN)) as base:
        check_probes(base, token=TOKEN, own_404=True)


def raw_get(base: str, path: str, authorization: bytes) -> tuple[int, bytes, bytes]:
    """A GET sent byte for byte, with an Authorization header no client library would send."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"GET "
            + path.encode()
            + b" HTTP/1.1\r\nHost: "
            + host.encode()
            + b"\r\nAuthorization: "
            + authorization
            + b"\r\nConnection: close\r\n\r\n"
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), head, body


@pytest.mark.parametrize("served", ["asgi", "wsgi"])
def test_a_non_ascii_authorization_header_is_a_401_not_a_500(
    health: HealthRegistry, served: str
) -> None:
    """Credentials that are not ASCII are malformed: 401 with a challenge, never a 500."""
    serving = (
        uvicorn_serving(health.asgi_app(token=TOKEN))
        if served == "asgi"
        else wsgiref_serving(health.wsgi_app(token=TOKEN))
    )
    with serving as base:
        for path in ("/readyz", "/health"):
            status, head, body = raw_get(base, path, "Bearer tök€n".encode())
            assert status == 401
            assert b'www-authenticate: bearer error="invalid_request"' in head.lower()
            assert json.loads(body) == {
                "error": "the Authorization header is not ASCII: send Bearer <token>"
            }
        # A well-formed wrong token is answered with the status, details hidden.
        status, _, body = raw_get(base, "/readyz", b"Bearer wrong")
        assert status == 200
        assert "output" not in body.decode()


@pytest.mark.parametrize("served", ["asgi", "wsgi"])
def test_check_details_that_are_not_json_are_served_as_strict_json(served: str) -> None:
    """A datetime, a set or an infinity in a check's details never breaks a probe."""
    registry = HealthRegistry(default_timeout=2)
    details = {
        "since": dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
        "replicas": {"b"},
        "lag": float("inf"),
        "ratio": [float("nan"), 0.5],
    }
    registry.register("database", lambda: CheckResult(ComponentStatus.OK, "fine", details))
    serving = (
        uvicorn_serving(registry.asgi_app(show_details=True))
        if served == "asgi"
        else wsgiref_serving(registry.wsgi_app(show_details=True))
    )
    try:
        with serving as base:
            request = urllib.request.urlopen(f"{base}/readyz", timeout=10)  # noqa: S310
            with request as response:
                assert response.status == 200
                raw = response.read().decode()
    finally:
        registry.close()
    assert "Infinity" not in raw
    assert "NaN" not in raw
    body = json.loads(raw)
    [entry] = body["checks"]["database"]
    assert entry["details"] == {
        "since": "2026-12-01 00:00:00+00:00",
        "replicas": "{'b'}",
        "lag": None,
        "ratio": [None, 0.5],
    }
