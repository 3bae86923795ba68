"""Flask: the probe blueprint and open circuits as 503s, in Flask's test client and for real."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from probe_world import TOKEN, check_probes, make_health, wsgiref_serving
from resilience import BreakerConfig, BreakerRegistry, HealthRegistry
from resilience.contrib.flask import health_blueprint
from resilience.testing import FakeClock


@pytest.fixture
def health() -> Iterator[HealthRegistry]:
    registry = make_health()
    yield registry
    registry.close()


def app_with(health: HealthRegistry, **options: Any) -> Flask:
    app = Flask(__name__)
    app.register_blueprint(health_blueprint(health, **options))
    return app


def client_fetch(client: FlaskClient) -> Any:
    def fetch(url: str, token: str | None) -> tuple[int, dict[str, str], dict[str, Any]]:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        response = client.get(url, headers=headers)
        return (
            response.status_code,
            {k.lower(): v for k, v in response.headers},
            response.json or {},
        )

    return fetch


def test_blueprint_in_flask_test_client(health: HealthRegistry) -> None:
    """The blueprint's probes answer like the registry's WSGI app, through Flask's test client."""
    app = app_with(health, token=TOKEN, url_prefix="/ops")
    client = app.test_client()
    check_probes("/ops", token=TOKEN, fetch=client_fetch(client))
    assert client.post("/ops/health").status_code == 405
    assert client.head("/ops/livez").status_code == 200


def test_blueprint_under_a_real_wsgi_server(health: HealthRegistry) -> None:
    """Served by wsgiref over loopback HTTP, the probes answer the same."""
    with wsgiref_serving(app_with(health, token=TOKEN)) as base:
        check_probes(base, token=TOKEN)


def test_open_circuit_escaping_a_view_is_a_503(
    health: HealthRegistry, fake_clock: FakeClock
) -> None:
    """A CircuitOpenError escaping a view becomes a 503 with Retry-After; a failure does not."""
    breakers = BreakerRegistry(BreakerConfig(failure_threshold=1, open_for=8.5), clock=fake_clock)
    app = app_with(health)

    def charge() -> str:
        raise ConnectionRefusedError("refused")

    @app.get("/pay")
    def pay() -> str:
        try:
            return breakers.get("payments").call(charge)
        except ConnectionRefusedError:
            return "declined"

    client = app.test_client()
    assert client.get("/pay").text == "declined"
    refused = client.get("/pay")
    assert (refused.status_code, refused.headers["Retry-After"]) == (503, "9")
    assert refused.json == {"error": "service unavailable", "remote": "payments", "state": "OPEN"}


def test_blueprint_arguments(health: HealthRegistry) -> None:
    """Two blueprints need two names; a health that is not a registry is refused."""
    app = Flask(__name__)
    app.register_blueprint(health_blueprint(health, url_prefix="/a"))
    app.register_blueprint(
        health_blueprint(health, name="second", url_prefix="/b", circuit_open_as_503=False)
    )
    client = app.test_client()
    assert client.get("/a/livez").status_code == client.get("/b/livez").status_code == 200
    with pytest.raises(TypeError, match="HealthRegistry"):
        health_blueprint(object())  # type: ignore[arg-type]
