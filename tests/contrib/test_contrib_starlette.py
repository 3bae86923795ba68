"""Starlette and FastAPI: probe routes, load shedding and breaker guards, in the real frameworks."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations, and
# those of a route defined in a function name its local variables.

from collections.abc import Iterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from probe_world import TOKEN, check_probes, get, make_health
from resilience import (
    BreakerConfig,
    BreakerRegistry,
    CircuitBreaker,
    CircuitOpenError,
    HealthRegistry,
)
from resilience.contrib.fastapi import guard as fastapi_guard
from resilience.contrib.starlette import LoadShedding, circuit_open_response, guard, health_routes
from resilience.testing import FakeClock
from servers import uvicorn_serving


@pytest.fixture
def health() -> Iterator[HealthRegistry]:
    registry = make_health()
    yield registry
    registry.close()


def client_fetch(client: TestClient) -> Any:
    def fetch(url: str, token: str | None) -> tuple[int, dict[str, str], dict[str, Any]]:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        response = client.get(url, headers=headers)
        return response.status_code, dict(response.headers), response.json()

    return fetch


def test_probe_routes_in_starlette_test_client(health: HealthRegistry) -> None:
    """The routes answer like the registry's own ASGI app, through Starlette's TestClient."""
    app = Starlette(routes=health_routes(health, token=TOKEN, prefix="/ops"))
    with TestClient(app) as client:
        check_probes("/ops", token=TOKEN, fetch=client_fetch(client))
        assert client.post("/ops/readyz").status_code == 405


def test_probe_routes_in_fastapi_under_uvicorn(health: HealthRegistry) -> None:
    """In a FastAPI app served by a real uvicorn, the probes answer over HTTP."""
    app = FastAPI()
    app.router.routes.extend(health_routes(health, token=TOKEN))
    with uvicorn_serving(app) as base:
        check_probes(base, token=TOKEN)


def shedding_app(health: HealthRegistry, **options: Any) -> Starlette:
    async def hello(_request: Request) -> PlainTextResponse:
        return PlainTextResponse("hello")

    app = Starlette(routes=[Route("/hello", hello), *health_routes(health)])
    app.add_middleware(LoadShedding, health=health, **options)
    return app


def test_load_is_shed_while_a_critical_component_is_down() -> None:
    """A critical component down: 503 with Retry-After; the probes still answer; then it heals."""
    health = HealthRegistry(default_timeout=2)
    up = {"db": True}
    health.register("db", lambda: up["db"])
    health.register("cache", lambda: False, critical=False)  # down, but not critical
    app = shedding_app(health, retry_after=7)
    with TestClient(app) as client:
        assert client.get("/hello").text == "hello"  # nothing checked yet: nothing is down
        health.run()
        assert client.get("/hello").text == "hello"  # only the non-critical cache is down
        up["db"] = False
        health.run()
        shed = client.get("/hello")
        assert (shed.status_code, shed.headers["retry-after"]) == (503, "7")
        assert shed.json() == {"error": "service unavailable", "down": ["db"]}
        assert client.get("/readyz").status_code == 503  # not shed: the probe tells why
        up["db"] = True
        health.run()
        assert client.get("/hello").status_code == 200
    health.close()


def test_shedding_on_chosen_components_under_uvicorn() -> None:
    """components= names what sheds, critical or not; served by uvicorn over real HTTP."""
    health = HealthRegistry(default_timeout=2)
    health.register("cache", lambda: False, critical=False)
    health.run()  # cache down before the middleware exists: read from latest()
    app = shedding_app(health, components=["cache"])
    with uvicorn_serving(app) as base:
        shed = httpx.get(f"{base}/hello", timeout=5)
        assert (shed.status_code, shed.headers["retry-after"]) == (503, "5")
        status, _, _ = get(f"{base}/livez")
        assert status == 200
    health.close()


def test_load_shedding_arguments_are_checked(health: HealthRegistry) -> None:
    """A non-registry health or a non-positive retry_after is refused, naming the field."""
    app = Starlette()
    with pytest.raises(TypeError, match="HealthRegistry"):
        LoadShedding(app, health=object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="retry_after"):
        LoadShedding(app, health=health, retry_after=0)


def breaker_app(breakers: BreakerRegistry) -> FastAPI:
    app = FastAPI()
    app.add_exception_handler(CircuitOpenError, circuit_open_response)

    def charge() -> str:
        raise ConnectionRefusedError("payments refused the connection")

    @app.get("/pay")
    def pay(
        breaker: Annotated[CircuitBreaker, Depends(fastapi_guard(breakers, "payments"))],
    ) -> str:
        try:
            return breaker.call(charge)
        except ConnectionRefusedError:
            return "declined"

    @app.get("/direct")
    def direct() -> str:
        return breakers.get("payments").call(charge)

    return app


def test_guard_answers_503_while_the_circuit_is_open(fake_clock: FakeClock) -> None:
    """The dependency lets calls through until the circuit opens, then answers 503 unrun."""
    breakers = BreakerRegistry(BreakerConfig(failure_threshold=2, open_for=12), clock=fake_clock)
    with TestClient(breaker_app(breakers)) as client:
        assert [client.get("/pay").json() for _ in range(2)] == ["declined", "declined"]
        refused = client.get("/pay")
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "12"
        assert refused.json() == {"detail": "circuit 'payments' is OPEN"}
        # An open circuit escaping a route becomes a 503 through the exception handler.
        escaped = client.get("/direct")
        assert escaped.status_code == 503
        assert escaped.json() == {
            "error": "service unavailable",
            "remote": "payments",
            "state": "OPEN",
        }
        fake_clock.advance(12)  # the trial is due: the guard lets it through
        assert client.get("/pay").json() == "declined"
    assert str(breakers.get("payments").snapshot().reason).startswith("trial call failed")


def test_guard_of_a_breaker_and_bad_arguments(fake_clock: FakeClock) -> None:
    """guard(breaker) gives that breaker; wrong arguments are refused."""
    breaker = CircuitBreaker("db", clock=fake_clock)
    assert guard(breaker)() is breaker
    breaker.force_open()
    with TestClient(FastAPI()) as _:
        from starlette.exceptions import HTTPException  # noqa: PLC0415

        with pytest.raises(HTTPException) as caught:
            guard(breaker)()
    assert caught.value.status_code == 503
    assert caught.value.headers == {"retry-after": "30"}
    with pytest.raises(TypeError, match="no name"):
        guard(breaker, "other")
    with pytest.raises(TypeError, match="name"):
        guard(BreakerRegistry())
    with pytest.raises(TypeError, match="CircuitBreaker or a BreakerRegistry"):
        guard("db")  # type: ignore[arg-type]


def test_guard_and_handler_under_uvicorn(fake_clock: FakeClock) -> None:
    """Served by uvicorn, the guard and the exception handler answer 503 with Retry-After."""
    breakers = BreakerRegistry(BreakerConfig(failure_threshold=1, open_for=4), clock=fake_clock)
    with uvicorn_serving(breaker_app(breakers)) as base, httpx.Client(base_url=base) as client:
        assert client.get("/pay", timeout=5).json() == "declined"
        guarded, escaped = client.get("/pay", timeout=5), client.get("/direct", timeout=5)
    assert (guarded.status_code, guarded.headers["retry-after"]) == (503, "4")
    assert (escaped.status_code, escaped.headers["retry-after"]) == (503, "4")
