"""The probe apps served for real: ASGI by uvicorn, WSGI by wsgiref, over loopback HTTP."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
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
