"""A diagnostics bundle for support: versions, platform, health, breakers, events, incidents.

One JSON document a user can attach to a bug report or a support ticket, as the
desktop plan's error report asks (SCENARIOS.md 1). Everything in it is redacted on the
way in: a value under a secret-looking key (``password``, ``token``, ``api_key``...) is
``***``, and every string has the secrets of its URLs and ``name=value`` pairs masked.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib.metadata
import json
import math
import platform
import sys
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from resilience._breaker.registry import BreakerRegistry
from resilience._core.clock import SYSTEM_CLOCK, Clock, wall_time
from resilience._core.events import Event
from resilience._core.redact import MASK, is_secret_name, redact_text
from resilience._version import __version__
from resilience.health import HealthRegistry, HealthReport
from resilience.recovery._incidents import Incident

__all__ = ["EventRecorder", "bundle_json", "diagnostics_bundle"]

SCHEMA = 1
_PACKAGES = ("pydantic", "httpx", "redis", "psycopg", "uvicorn", "opentelemetry-api")


class EventRecorder:
    """Keeps the last ``size`` events of breakers, health and recovery, for the bundle.

    Add it as a listener (``BreakerRegistry(listeners=[recorder])``,
    ``health.add_listener(recorder)``); it is called from any thread.

    Args:
        size: How many events are kept.
        clock: Stamps each event; the system clock by default.
    """

    def __init__(self, size: int = 200, *, clock: Clock | None = None) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be a whole number of events, 1 or more, got {size!r}")
        self._clock = clock if clock is not None else SYSTEM_CLOCK
        self._epoch = wall_time() - self._clock.monotonic()
        self._events: deque[dict[str, Any]] = deque(maxlen=size)
        self._lock = threading.Lock()

    def __call__(self, event: object) -> None:
        """Keep ``event``: its name, level, description and fields, stamped."""
        if isinstance(event, Event):
            entry = {
                "at": round(self._epoch + self._clock.monotonic(), 3),
                "event": event.event_name,
                "text": event.describe(),
                "fields": event.fields(),
            }
        else:
            entry = {"at": round(self._epoch + self._clock.monotonic(), 3), "text": repr(event)}
        with self._lock:
            self._events.append(entry)

    def events(self) -> list[dict[str, Any]]:
        """The events kept, oldest first."""
        with self._lock:
            return list(self._events)

    def __repr__(self) -> str:
        return f"EventRecorder({len(self._events)} of {self._events.maxlen} events)"


def _versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def _plain(value: object) -> object:
    """JSON-ready: dataclasses and enums opened up, everything else as text."""
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no infinity: an open-for-ever breaker's retry_after
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def _redacted(value: object, key: str = "") -> object:
    """``value`` with secret-named entries masked and every string's secrets masked."""
    if key and is_secret_name(key) and value not in (None, "", [], {}):
        return MASK
    if isinstance(value, dict):
        return {k: _redacted(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def diagnostics_bundle(
    *,
    health: HealthRegistry | HealthReport | None = None,
    breakers: BreakerRegistry | None = None,
    incidents: Iterable[Incident] = (),
    events: EventRecorder | Iterable[Mapping[str, Any]] = (),
    settings: Mapping[str, Any] | None = None,
    recent: int = 50,
    now: float | None = None,
) -> dict[str, Any]:
    """The diagnostics of this process as one JSON-ready dict, redacted.

    Args:
        health: A registry (its checks are run now) or a report already made.
        breakers: Whose every breaker's snapshot is included.
        incidents: Incidents kept (a store's ``incidents()``): every open one and the
            ``recent`` latest are included.
        events: An :class:`EventRecorder`, or events as dicts; the ``recent`` latest.
        settings: The application's configuration, if it helps support (redacted).
        recent: How many recent incidents and events are included.
        now: The bundle's time stamp, seconds since the epoch; the time now by default.
    """
    kept = sorted(incidents, key=lambda i: i.started_at)
    latest = kept[-recent:] if recent > 0 else []
    shown = {i.id: i for i in [*(i for i in kept if i.is_open), *latest]}
    report = health.run() if isinstance(health, HealthRegistry) else health
    happened = events.events() if isinstance(events, EventRecorder) else list(events)
    bundle: dict[str, Any] = {
        "schema": SCHEMA,
        "generated_at": wall_time() if now is None else now,
        "library": {"name": "resilience", "version": __version__},
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "build": " ".join(platform.python_build()),
        },
        "platform": {
            "system": platform.system(),
            "release": platform.release(),
            "machine": platform.machine(),
            "platform": platform.platform(),
            "byteorder": sys.byteorder,
        },
        "packages": _versions(),
        "health": None if report is None else report.to_dict(),
        "breakers": (
            [] if breakers is None else [_plain(s) for _, s in sorted(breakers.snapshot().items())]
        ),
        "incidents": {
            "kept": len(kept),
            "open": sum(1 for i in kept if i.is_open),
            "shown": [i.to_dict() for i in sorted(shown.values(), key=lambda i: i.started_at)],
        },
        "events": [_plain(e) for e in happened[-recent:]] if recent > 0 else [],
        "settings": _plain(settings) if settings is not None else None,
    }
    result = _redacted(bundle)
    assert isinstance(result, dict)  # noqa: S101 - a dict stays a dict
    return result


def bundle_json(bundle: Mapping[str, Any]) -> str:
    """The bundle as JSON text, one file."""
    return json.dumps(bundle, indent=2, default=repr, allow_nan=False)
