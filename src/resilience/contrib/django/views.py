"""The probes as Django views: ``livez``, ``readyz`` and ``health``."""

from __future__ import annotations

from collections.abc import Callable

from resilience._core.extras import missing

try:
    from django.http import HttpRequest, HttpResponse  # type: ignore[import-untyped]
except ImportError as _exc:  # pragma: no cover - the extra is installed in tests
    raise missing("django", "Django") from _exc

from resilience.contrib.django.conf import settings
from resilience.health._probes import ProbeAnswer, probe

__all__ = ["health", "livez", "readyz"]


def _view(route: str) -> Callable[[HttpRequest], HttpResponse]:
    def view(request: HttpRequest) -> HttpResponse:
        config = settings()
        header = request.headers.get("Authorization")
        decided = probe(
            route,
            request.method,
            header.encode("latin-1") if header else None,
            show_details=config.show_details,
            token=config.token,
        )
        answer = (
            decided
            if isinstance(decided, ProbeAnswer)
            else decided.answer(config.health.run(decided.group))
        )
        response = HttpResponse(answer.body, status=answer.status)
        for name, value in answer.headers:
            response[name] = value
        return response

    view.__name__ = route or "health"
    return view  # its Cache-Control is already no-store, as every probe's


livez = _view("live")
"""``/livez``: the process answers; no check is run."""
readyz = _view("readiness")
"""``/readyz``: the readiness group's checks."""
health = _view("")
"""``/health``: every check."""
