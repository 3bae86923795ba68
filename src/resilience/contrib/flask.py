"""Flask: the probes as a blueprint, and open circuits answered as 503s.

::

    app = Flask(__name__)
    app.register_blueprint(health_blueprint(health, token=os.environ["PROBE_TOKEN"]))

The blueprint answers ``/livez``, ``/readyz`` and ``/health`` exactly as
:meth:`HealthRegistry.wsgi_app` does (the same decisions, the same bodies), and turns a
:class:`CircuitOpenError` escaping any view of the application into a 503 with
``Retry-After``. Needs the ``flask`` extra.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from resilience._core.extras import missing

try:
    from flask import Blueprint, Response, request
except ImportError as _exc:  # pragma: no cover - the extra is installed in tests
    raise missing("flask", "Flask") from _exc

from resilience._breaker.errors import CircuitOpenError
from resilience.contrib._web import circuit_open_reply
from resilience.health import HealthRegistry
from resilience.health._probes import ProbeAnswer, probe

__all__ = ["circuit_open_response", "health_blueprint"]

_PROBES = (("/livez", "live"), ("/readyz", "readiness"), ("/health", ""))


def _response(answer: ProbeAnswer) -> Response:
    return Response(answer.body, status=answer.status, headers=list(answer.headers))


def circuit_open_response(exc: CircuitOpenError) -> Response:
    """A 503 for an open circuit, with ``Retry-After``: an error handler for any Flask app."""
    body, headers = circuit_open_reply(exc)
    return Response(body, status=503, mimetype="application/json", headers=headers)


def health_blueprint(
    health: HealthRegistry,
    *,
    show_details: bool = False,
    token: str | None = None,
    name: str = "resilience_health",
    url_prefix: str | None = None,
    circuit_open_as_503: bool = True,
) -> Blueprint:
    """A blueprint answering ``/livez``, ``/readyz`` and ``/health``.

    Args:
        health: The checks the probes run.
        show_details: Show messages and details to every caller.
        token: Show them to a caller presenting ``Authorization: Bearer <token>``.
        name: The blueprint's name (register several under different names).
        url_prefix: Put the probes under a path, e.g. ``"/ops"``.
        circuit_open_as_503: Answer a :class:`CircuitOpenError` escaping any view of
            the application with :func:`circuit_open_response`.
    """
    if not isinstance(health, HealthRegistry):
        raise TypeError(f"health_blueprint() takes a HealthRegistry, got {health!r}")
    blueprint = Blueprint(name, __name__, url_prefix=url_prefix)

    # The options bound once: a request brings only its route, method and credentials.
    decide = partial(probe, show_details=show_details, token=token)

    def view(route: str) -> Callable[[], Response]:
        def answer() -> Response:
            header = request.headers.get("Authorization")
            decided = decide(route, request.method, header.encode("latin-1") if header else None)
            if isinstance(decided, ProbeAnswer):
                return _response(decided)
            return _response(decided.answer(health.run(decided.group)))

        return answer

    for path, route in _PROBES:
        endpoint = f"probe_{route or 'health'}"
        blueprint.add_url_rule(path, endpoint, view(route), methods=["GET", "HEAD"])
    if circuit_open_as_503:
        blueprint.app_errorhandler(CircuitOpenError)(circuit_open_response)
    return blueprint
