"""Events describe themselves; ``resilience.events`` exports them; ``_core`` stands alone."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest

import resilience
import resilience.events
from resilience import (
    BatchResult,
    BulkheadRejected,
    CallRecorded,
    CallRejected,
    CircuitState,
    Classification,
    ComponentChanged,
    ComponentStatus,
    FailureKind,
    FeatureChanged,
    FeatureGate,
    HealthRegistry,
    HedgeStarted,
    HedgeWon,
    LimitChanged,
    LimiterRejected,
    Outcome,
    RetryScheduled,
    StateChanged,
    StoreDegraded,
    StoreRecovered,
    log_event,
)
from resilience.events import Event
from resilience.testing import FakeClock

SRC = Path(resilience.__file__).parent

EXAMPLES: list[tuple[Event, str, int, str]] = [
    (
        StateChanged("s3", CircuitState.CLOSED, CircuitState.OPEN, "5 failures", 1.0),
        "breaker.opened",
        logging.WARNING,
        "circuit 's3' CLOSED -> OPEN: 5 failures",
    ),
    (
        StateChanged("s3", CircuitState.OPEN, CircuitState.HALF_OPEN, "trial", 2.0),
        "breaker.half_opened",
        logging.INFO,
        "circuit 's3' OPEN -> HALF_OPEN: trial",
    ),
    (
        CallRejected("s3", CircuitState.OPEN, 12.25, 1.0),
        "breaker.rejected",
        logging.DEBUG,
        "circuit 's3' rejected a call (OPEN; retry after 12.2 s)",
    ),
    (
        CallRecorded("s3", Outcome.FAILURE, 0.5, ConnectionResetError("reset"), 1.0),
        "breaker.call",
        logging.DEBUG,
        "call to 's3': failure (ConnectionResetError) in 0.5 s",
    ),
    (
        RetryScheduled(
            1, ConnectionResetError("reset"), Classification(FailureKind.RETRYABLE, "reset"), 2, 0
        ),
        "retry.scheduled",
        logging.INFO,
        "attempt 1 failed (ConnectionResetError: reset); retrying in 2 s",
    ),
    (
        StoreDegraded("RedisBreakerStore()", "open", ConnectionError("down")),
        "store.degraded",
        logging.WARNING,
        (
            "RedisBreakerStore() cannot reach its server (ConnectionError: down); breakers "
            "follow on_error='open' until it is back"
        ),
    ),
    (
        StoreRecovered("RedisBreakerStore()", 3.25),
        "store.recovered",
        logging.INFO,
        "RedisBreakerStore() reached its server again after 3.2 s",
    ),
    (
        ComponentChanged("db", None, ComponentStatus.UNKNOWN, "timed out"),
        "health.changed",
        logging.WARNING,
        "health of 'db' new -> UNKNOWN: timed out",
    ),
    (
        FeatureChanged("search", enabled=False, reason="elastic is ERROR"),
        "feature.disabled",
        logging.WARNING,
        "feature 'search' disabled: elastic is ERROR",
    ),
    (
        HedgeStarted("search", 2, 0.05, "'fetch'"),
        "hedge.started",
        logging.DEBUG,
        "hedge 'search' started attempt 2 of 'fetch': no answer after 0.05 s",
    ),
    (
        HedgeWon("search", 2, 1, "'fetch'"),
        "hedge.won",
        logging.DEBUG,
        "hedge 'search': attempt 2 of 'fetch' answered first; 1 attempt(s) cancelled",
    ),
    (
        BatchResult("nightly", 3, 3, 0, (), (), aborted=False, reason=None, duration=1.5),
        "batch.finished",
        logging.INFO,
        (
            "batch job 'nightly': run of 3 items in 1.5 s: 3 succeeded, 0 skipped (finished "
            "before), 0 failed, 0 deferred"
        ),
    ),
    (
        BulkheadRejected("db", 4, 2, 4, 2, 0.5),
        "bulkhead.rejected",
        logging.DEBUG,
        "bulkhead 'db' rejected a call after waiting 0.5 s (4 of 4 in use, 2 of 2 queued)",
    ),
    (
        LimiterRejected("db", 12, 12),
        "limiter.rejected",
        logging.DEBUG,
        "limiter 'db' rejected a call (12 in flight, limit 12)",
    ),
    (
        LimitChanged("db", 20, 10, "dropped"),
        "limiter.limit_changed",
        logging.INFO,
        "limiter 'db' limit 20 -> 10 (dropped)",
    ),
    (
        LimitChanged("db", 10, 11, "latency held"),
        "limiter.limit_changed",
        logging.DEBUG,
        "limiter 'db' limit 10 -> 11 (latency held)",
    ),
]


@pytest.mark.parametrize(("event", "name", "level", "message"), EXAMPLES)
def test_each_event_says_its_name_level_and_message(
    event: Event, name: str, level: int, message: str
) -> None:
    """Every event gives its dotted name, its logging level and its one-line message."""
    assert event.event_name == name
    assert event.level == level
    assert event.describe() == message


@pytest.mark.parametrize(("event", "name", "level", "message"), EXAMPLES)
def test_fields_start_with_the_event_name_and_are_logged_as_they_are(
    event: Event, name: str, level: int, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An event's fields begin with its name, and log_event logs exactly them and its message."""
    assert next(iter(event.fields().items())) == ("event", name)
    caplog.set_level(logging.DEBUG, logger="resilience")
    log_event(event)
    (record,) = caplog.records
    assert (record.levelno, record.getMessage()) == (level, message)
    assert record.__dict__["resilience"] == event.fields()


def test_fields_are_a_new_dict_each_time() -> None:
    """A listener may change the fields it was given without changing the next reader's."""
    event = EXAMPLES[0][0]
    event.fields()["remote"] = "changed"
    assert event.fields()["remote"] == "s3"


def test_every_event_type_is_exported_by_resilience_events() -> None:
    """resilience.events exports each event type, sorted, the same objects as resilience."""
    names = resilience.events.__all__
    assert names == sorted(names)
    for event, *_ in EXAMPLES:
        name = type(event).__name__
        assert name in names
        assert getattr(resilience.events, name) is getattr(resilience, name)
        assert isinstance(event, resilience.events.Event)
    for name in ("Event", "Listener", "CircuitState", "Outcome"):
        assert getattr(resilience.events, name) is getattr(resilience, name)


def test_a_feature_gate_can_log_its_switches(
    caplog: pytest.LogCaptureFixture, fake_clock: FakeClock
) -> None:
    """log_event attached to a FeatureGate logs a feature switched off at WARNING."""
    caplog.set_level(logging.INFO, logger="resilience")
    up = True
    health = HealthRegistry(clock=fake_clock)
    health.register("elastic", lambda: up)
    gate = FeatureGate(health, listeners=[log_event])
    health.run()
    gate.feature("search", requires=["elastic"])
    up = False
    health.run()
    logged = [(r.levelno, r.__dict__["resilience"]["event"]) for r in caplog.records]
    assert (logging.WARNING, "feature.disabled") in logged


def _imports(path: Path) -> list[str]:
    """Every module ``path`` imports, at any depth (functions, TYPE_CHECKING blocks too)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and not node.level:
            found.append(node.module)
    return found


def test_core_imports_nothing_of_the_rest_of_the_library() -> None:
    """Modules of resilience._core import only resilience._core (and the version)."""
    allowed = ("resilience._core", "resilience._version")
    for path in (SRC / "_core").glob("*.py"):
        for module in _imports(path):
            if module == "resilience" or module.startswith("resilience."):
                assert module.startswith(allowed), f"{path.name} imports {module}"


def test_nothing_in_the_library_imports_resilience_events() -> None:
    """resilience.events is the top of the layers: no module of the library imports it."""
    for path in SRC.rglob("*.py"):
        if path != SRC / "events.py":
            assert "resilience.events" not in _imports(path), path
