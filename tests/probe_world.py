"""What the probe tests share: a health registry, the probes' expected answers, servers.

Every way of serving the probes (the ASGI and WSGI apps, Starlette and FastAPI routes,
Django views, a Flask blueprint) must answer the same; :func:`check_probes` says how.
"""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from resilience import CheckResult, ComponentStatus, HealthRegistry

TOKEN = "probe-token-for-tests"  # noqa: S105 - not a secret: the test serves on loopback


def get(url: str, token: str | None = None) -> tuple[int, dict[str, str], dict[str, Any]]:
    """GET ``url`` over real HTTP: the status, the headers (lower-cased) and the JSON body."""
    request = urllib.request.Request(url)  # noqa: S310 - a loopback URL built by the test
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            headers = {k.lower(): v for k, v in response.headers.items()}
            return response.status, headers, json.loads(response.read())
    except urllib.error.HTTPError as error:
        headers = {k.lower(): v for k, v in error.headers.items()}
        return error.code, headers, json.loads(error.read())


def make_health() -> HealthRegistry:
    """A database that answers, a backend that is down (not critical), a failing export."""
    registry = HealthRegistry(default_timeout=2)
    registry.register("database", lambda: True)
    registry.register(
        "backend",
        lambda: CheckResult(ComponentStatus.ERROR, "connection refused by 10.0.0.5"),
        critical=False,
    )
    registry.register("nightly-export", lambda: False, groups=("batch",))
    return registry


Getter = Callable[[str, str | None], tuple[int, dict[str, str], dict[str, Any]]]


def check_probes(
    base: str, *, token: str | None, fetch: Getter = get, own_404: bool = False
) -> None:
    """The probes under ``base`` answer as the health registry's own apps do.

    ``own_404``: other paths are the probe app's too, answered 404 in JSON.
    """
    status, headers, body = fetch(f"{base}/livez", None)
    assert (status, body) == (200, {"status": "pass"})
    assert headers["cache-control"] == "no-store"
    assert headers["content-type"] == "application/health+json"

    status, _, body = fetch(f"{base}/readyz", None)
    assert status == 200
    assert body["status"] == "warn"  # backend is down but not critical
    assert set(body["checks"]) == {"database", "backend"}
    assert "output" not in json.dumps(body)  # no details without the token

    status, _, body = fetch(f"{base}/health", token)
    assert status == 503  # the critical nightly export fails
    assert body["status"] == "fail"
    assert body["checks"]["backend"][0]["output"] == "connection refused by 10.0.0.5"

    status, _, body = fetch(f"{base}/health", "not-" + (token or ""))
    assert "output" not in json.dumps(body)
    assert status == 503
    if own_404:
        status, _, body = fetch(f"{base}/nope", None)
        assert (status, body) == (404, {"error": "not found"})


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass


@contextlib.contextmanager
def wsgiref_serving(app: Callable[..., Iterable[bytes]]) -> Iterator[str]:
    """Serve a WSGI ``app`` with wsgiref on a free loopback port; its base URL."""
    server = make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
    assert not thread.is_alive()
