"""The probe apps served for real: ASGI by uvicorn, WSGI by wsgiref, over loopback HTTP."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from resilience import CheckResult, ComponentStatus, HealthRegistry
from servers import uvicorn_serving

TOKEN = "probe-token-for-tests"  # noqa: S105 - not a secret: the test serves on loopback


def get(url: str, token: str | None = None) -> tuple[int, dict[str, str], dict[str, object]]:
    request = urllib.request.Request(url)  # noqa: S310 - a loopback URL built by the test
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


@pytest.fixture
def health() -> Iterator[HealthRegistry]:
    registry = HealthRegistry(default_timeout=2)
    registry.register("database", lambda: True)
    registry.register(
        "backend",
        lambda: CheckResult(ComponentStatus.ERROR, "connection refused by 10.0.0.5"),
        critical=False,
    )
    registry.register("nightly-export", lambda: False, groups=("batch",))
    yield registry
    registry.close()


def check_probes(base: str, *, token: str | None) -> None:
    status, headers, body = get(f"{base}/livez")
    assert (status, body) == (200, {"status": "pass"})
    assert headers["cache-control"] == "no-store"
    assert headers["content-type"] == "application/health+json"

    status, _, body = get(f"{base}/readyz")
    assert status == 200
    assert body["status"] == "warn"  # backend is down but not critical
    checks = body["checks"]
    assert isinstance(checks, dict)
    assert set(checks) == {"database", "backend"}
    assert "output" not in json.dumps(body)  # no details without the token

    status, _, body = get(f"{base}/health", token=token)
    assert status == 503  # the critical nightly export fails
    assert body["status"] == "fail"
    checks = body["checks"]
    assert isinstance(checks, dict)
    assert checks["backend"][0]["output"] == "connection refused by 10.0.0.5"

    status, _, body = get(f"{base}/health", token="not-" + (token or ""))
    assert "output" not in json.dumps(body)
    assert status == 503
    status, _, _ = get(f"{base}/nope")
    assert status == 404


def test_asgi_probes_under_uvicorn(health: HealthRegistry) -> None:
    """/livez, /readyz and /health answer over HTTP from a real uvicorn server."""
    with uvicorn_serving(health.asgi_app(token=TOKEN)) as base:
        check_probes(base, token=TOKEN)


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass


def test_wsgi_probes_under_wsgiref(health: HealthRegistry) -> None:
    """The same probes from the WSGI app served by wsgiref."""
    server = make_server("127.0.0.1", 0, health.wsgi_app(token=TOKEN), handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        check_probes(f"http://127.0.0.1:{server.server_port}", token=TOKEN)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
    assert not thread.is_alive()


@contextlib.contextmanager
def wsgiref_serving(app: Callable[..., Iterable[bytes]]) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
    assert not thread.is_alive()


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
