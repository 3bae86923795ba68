"""Every event's fields, pinned: the same keys, in the same order, with the same values."""

from __future__ import annotations

import sys

import pytest

import resilience
import resilience.events
from resilience import CachedResultServed, Classification, FailureKind
from resilience.events import (
    BatchResult,
    BulkheadRejected,
    CallRecorded,
    CallRejected,
    ChaosInjected,
    CircuitState,
    ComponentChanged,
    ConfigReloaded,
    Event,
    FeatureChanged,
    HedgeStarted,
    HedgeWon,
    LimitChanged,
    LimiterRejected,
    Outcome,
    RateDelayed,
    RateLimited,
    ReloadRefused,
    RetryScheduled,
    StateChanged,
    StoreDegraded,
    StoreRecovered,
)
from resilience.health import ComponentStatus

_RETRYABLE = Classification(FailureKind.RETRYABLE, "reset by peer", retry_after=4.0)

# Each event with distinct values, so that a field taken from the wrong attribute shows.
FIELDS: list[tuple[Event, list[tuple[str, object]]]] = [
    (
        BatchResult(
            "nightly",
            7,
            3,
            1,
            (),
            ("k1", "k2"),
            True,
            "stopped",
            1.5,
            redrive=True,
            not_processed=2,
        ),
        [
            ("event", "batch.finished"),
            ("job", "nightly"),
            ("total", 7),
            ("succeeded", 3),
            ("skipped", 1),
            ("failed", 0),
            ("deferred", 2),
            ("aborted", True),
            ("reason", "stopped"),
            ("duration", 1.5),
        ],
    ),
    (
        BulkheadRejected("db", 4, 2, 5, 3, 0.5),
        [
            ("event", "bulkhead.rejected"),
            ("name", "db"),
            ("in_use", 4),
            ("queued", 2),
            ("max_concurrent", 5),
            ("max_queue", 3),
            ("waited", 0.5),
        ],
    ),
    (
        CachedResultServed("quotes", 12.5, ConnectionError("down")),
        [
            ("event", "fallback.cached"),
            ("name", "quotes"),
            ("age", 12.5),
            ("error", "ConnectionError"),
        ],
    ),
    (
        CallRecorded("s3", Outcome.FAILURE, 0.5, ConnectionResetError("reset"), 9.0),
        [
            ("event", "breaker.call"),
            ("remote", "s3"),
            ("outcome", "FAILURE"),
            ("duration", 0.5),
            ("error", "ConnectionResetError"),
        ],
    ),
    (
        CallRecorded("s3", Outcome.SUCCESS, 0.25, None, 9.0),
        [
            ("event", "breaker.call"),
            ("remote", "s3"),
            ("outcome", "SUCCESS"),
            ("duration", 0.25),
            ("error", None),
        ],
    ),
    (
        CallRejected("s3", CircuitState.OPEN, 12.25, 9.0),
        [
            ("event", "breaker.rejected"),
            ("remote", "s3"),
            ("state", "OPEN"),
            ("retry_after", 12.25),
        ],
    ),
    (
        ChaosInjected("drill", "fault", "ConnectionError", "fetch"),
        [
            ("event", "chaos.injected"),
            ("name", "drill"),
            ("kind", "fault"),
            ("what", "ConnectionError"),
            ("function", "fetch"),
        ],
    ),
    (
        ComponentChanged("db", ComponentStatus.OK, ComponentStatus.ERROR, "refused"),
        [
            ("event", "health.changed"),
            ("component", "db"),
            ("old_status", "OK"),
            ("new_status", "ERROR"),
            ("message", "refused"),
        ],
    ),
    (
        ComponentChanged("db", None, ComponentStatus.UNKNOWN, "timed out"),
        [
            ("event", "health.changed"),
            ("component", "db"),
            ("old_status", None),
            ("new_status", "UNKNOWN"),
            ("message", "timed out"),
        ],
    ),
    (
        ConfigReloaded("app.toml", ("s3", "billing")),
        [("event", "config.reloaded"), ("source", "app.toml"), ("changed", ["s3", "billing"])],
    ),
    (
        FeatureChanged("search", enabled=False, reason="elastic is ERROR"),
        [
            ("event", "feature.disabled"),
            ("feature", "search"),
            ("enabled", False),
            ("reason", "elastic is ERROR"),
        ],
    ),
    (
        FeatureChanged("search", enabled=True, reason=""),
        [("event", "feature.enabled"), ("feature", "search"), ("enabled", True), ("reason", "")],
    ),
    (
        HedgeStarted("search", 2, 0.05, "fetch"),
        [
            ("event", "hedge.started"),
            ("name", "search"),
            ("attempt", 2),
            ("after", 0.05),
            ("function", "fetch"),
        ],
    ),
    (
        HedgeWon("search", 3, 2, "fetch"),
        [
            ("event", "hedge.won"),
            ("name", "search"),
            ("attempt", 3),
            ("cancelled", 2),
            ("function", "fetch"),
        ],
    ),
    (
        LimitChanged("db", 20, 10, "dropped"),
        [
            ("event", "limiter.limit_changed"),
            ("name", "db"),
            ("old", 20),
            ("new", 10),
            ("reason", "dropped"),
        ],
    ),
    (
        LimiterRejected("db", 12, 11),
        [("event", "limiter.rejected"), ("name", "db"), ("in_flight", 12), ("limit", 11)],
    ),
    (
        RateDelayed("api", 2, 0.1),
        [("event", "rate_limiter.delayed"), ("name", "api"), ("requested", 2), ("wait", 0.1)],
    ),
    (
        RateLimited("api", 3, None),
        [
            ("event", "rate_limiter.rejected"),
            ("name", "api"),
            ("requested", 3),
            ("retry_after", None),
        ],
    ),
    (
        ReloadRefused("app.toml", "line 3: bad\nline 4: worse"),
        [
            ("event", "config.reload_refused"),
            ("source", "app.toml"),
            ("reason", "line 3: bad\nline 4: worse"),
        ],
    ),
    (
        RetryScheduled(2, ConnectionResetError("reset"), _RETRYABLE, 0.5, 1.25),
        [
            ("event", "retry.scheduled"),
            ("attempt", 2),
            ("delay", 0.5),
            ("elapsed", 1.25),
            ("error", "ConnectionResetError"),
            ("reason", "reset by peer"),
        ],
    ),
    (
        StateChanged("s3", CircuitState.CLOSED, CircuitState.OPEN, "5 failures", 9.0),
        [
            ("event", "breaker.opened"),
            ("remote", "s3"),
            ("old_state", "CLOSED"),
            ("new_state", "OPEN"),
            ("reason", "5 failures"),
        ],
    ),
    (
        StoreDegraded("RedisBreakerStore()", "open", ConnectionError("down")),
        [
            ("event", "store.degraded"),
            ("store", "RedisBreakerStore()"),
            ("on_error", "open"),
            ("error", "ConnectionError: down"),
        ],
    ),
    (
        StoreRecovered("RedisBreakerStore()", 3.25),
        [("event", "store.recovered"), ("store", "RedisBreakerStore()"), ("down_for", 3.25)],
    ),
]


@pytest.mark.parametrize(("event", "expected"), FIELDS, ids=lambda v: type(v).__name__)
def test_an_event_gives_its_fields_in_order(
    event: Event, expected: list[tuple[str, object]]
) -> None:
    """The fields are the pinned keys in the pinned order, with the pinned values and types."""
    fields = event.fields()
    assert list(fields.items()) == expected
    assert [type(value) for value in fields.values()] == [type(value) for _, value in expected]
    assert fields is not event.fields()


def _event_types() -> set[type[Event]]:
    """Every event type the library defines (the dataclasses, not the classes they replace)."""
    found: set[type[Event]] = set()
    pending = list(Event.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        module = sys.modules.get(cls.__module__)
        if cls.__module__.startswith("resilience.") and getattr(module, cls.__name__, None) is cls:
            found.add(cls)
    return found


def test_every_event_type_has_its_fields_pinned() -> None:
    """Each event type of the library, exported or not, is among the pinned ones."""
    assert resilience.events.__all__  # every exported event type is imported
    assert _event_types() == {type(event) for event, _ in FIELDS}
