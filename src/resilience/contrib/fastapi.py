"""FastAPI: the Starlette integration, which FastAPI applications use as they are.

::

    app = FastAPI()
    app.router.routes.extend(health_routes(health))
    app.add_middleware(LoadShedding, health=health)
    app.add_exception_handler(CircuitOpenError, circuit_open_response)

    @app.get("/pay")
    def pay(breaker: CircuitBreaker = Depends(guard(breakers, "payments"))) -> dict[str, str]:
        return breaker.call(charge)

:func:`guard` is a dependency; policies themselves (a ``RetryPolicy``, a ``Pipeline``)
are plain objects a dependency can return. Needs the ``fastapi`` extra.
"""

from __future__ import annotations

from resilience._core.extras import missing

try:
    import fastapi  # noqa: F401 - the extra's presence is what this module checks
except ImportError as _exc:  # pragma: no cover - the extra is installed in tests
    raise missing("fastapi", "FastAPI") from _exc

from resilience.contrib.starlette import LoadShedding, circuit_open_response, guard, health_routes

__all__ = ["LoadShedding", "circuit_open_response", "guard", "health_routes"]
