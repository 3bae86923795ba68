"""Events on the ``resilience`` logger: levels, messages, and the structured fields."""

from __future__ import annotations

import json
import logging

import pytest

from resilience import (
    BatchProcessor,
    BreakerConfig,
    BreakerRegistry,
    CircuitBreaker,
    CircuitOpenError,
    HealthRegistry,
    RetryPolicy,
    log_event,
)
from resilience.testing import FakeClock


def fields(record: logging.LogRecord) -> dict[str, object]:
    data = record.__dict__["resilience"]
    assert isinstance(data, dict)
    return data


def events(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, str(fields(r)["event"])) for r in caplog.records if r.name == "resilience"]


def refused() -> None:
    raise ConnectionRefusedError("refused")


def test_transitions_are_logged_by_default(caplog: pytest.LogCaptureFixture) -> None:
    """Transitions are logged without a listener: WARNING when a circuit opens, else INFO."""
    caplog.set_level(logging.INFO, logger="resilience")
    clock = FakeClock()
    breaker = CircuitBreaker("s3", BreakerConfig(failure_threshold=2, open_for=10), clock=clock)
    for _ in range(2):
        with pytest.raises(ConnectionRefusedError):
            breaker.call(refused)
    with pytest.raises(CircuitOpenError):
        breaker.call(refused)  # a rejection is not logged by default
    clock.advance(10)
    breaker.call(lambda: None)
    assert events(caplog) == [
        (logging.WARNING, "breaker.opened"),
        (logging.INFO, "breaker.half_opened"),
        (logging.INFO, "breaker.closed"),
    ]
    opened = caplog.records[0]
    assert opened.getMessage().startswith("circuit 's3' CLOSED -> OPEN: 2 consecutive failures")
    assert fields(opened) == {
        "event": "breaker.opened",
        "remote": "s3",
        "old_state": "CLOSED",
        "new_state": "OPEN",
        "reason": fields(opened)["reason"],
    }


def test_retries_are_logged_at_info_with_their_reason(caplog: pytest.LogCaptureFixture) -> None:
    """Each scheduled retry is one INFO record with its attempt, error type and reason."""
    caplog.set_level(logging.INFO, logger="resilience")
    calls = 0

    def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionResetError("reset")
        return "ok"

    assert RetryPolicy(attempts=3, clock=FakeClock()).call(flaky) == "ok"
    assert events(caplog) == [(logging.INFO, "retry.scheduled")] * 2
    first = fields(caplog.records[0])
    assert first["attempt"] == 1
    assert first["error"] == "ConnectionResetError"
    assert "retrying in" in caplog.records[0].getMessage()


def test_nothing_is_built_when_info_is_off(caplog: pytest.LogCaptureFixture) -> None:
    """With INFO disabled, a retry produces no record at all."""
    caplog.set_level(logging.WARNING, logger="resilience")
    calls = 0

    def flaky() -> None:
        nonlocal calls
        calls += 1
        if calls < 2:
            raise ConnectionResetError("reset")

    RetryPolicy(attempts=2, clock=FakeClock()).call(flaky)
    assert caplog.records == []


def test_health_changes_and_finished_batches(caplog: pytest.LogCaptureFixture) -> None:
    """Health changes and finished batches are logged, at WARNING when they went wrong."""
    caplog.set_level(logging.INFO, logger="resilience")
    health = HealthRegistry()
    up = True
    health.register("db", lambda: up)
    health.run()
    up = False
    health.run()
    BatchProcessor("nightly", lambda _item: None).run(range(3))

    def broken(item: int) -> None:
        raise ValueError(f"bad item {item}")

    BatchProcessor("broken", broken).run(range(2))
    assert events(caplog) == [
        (logging.INFO, "health.changed"),
        (logging.WARNING, "health.changed"),
        (logging.INFO, "batch.finished"),
        (logging.WARNING, "batch.finished"),
    ]
    assert fields(caplog.records[1])["new_status"] == "ERROR"
    assert fields(caplog.records[3])["failed"] == 2


def test_every_call_when_attached_as_a_listener(caplog: pytest.LogCaptureFixture) -> None:
    """Attached as a listener, log_event logs every call and rejection at DEBUG."""
    caplog.set_level(logging.DEBUG, logger="resilience")
    registry = BreakerRegistry(BreakerConfig(failure_threshold=1), clock=FakeClock())
    registry.add_listener(log_event)
    breaker = registry.get("api")
    breaker.call(lambda: None)
    with pytest.raises(ConnectionRefusedError):
        breaker.call(refused)
    with pytest.raises(CircuitOpenError):
        breaker.call(refused)
    assert [e for _, e in events(caplog)] == [
        "breaker.call", "breaker.call", "breaker.opened", "breaker.opened", "breaker.rejected"
    ]  # the transition twice: logged by default, and by the listener
    call = fields(caplog.records[1])
    assert call["outcome"] == "FAILURE"
    assert call["error"] == "ConnectionRefusedError"


def test_fields_serialise_as_json_for_log_shippers() -> None:
    """The structured fields of a record survive a round trip through JSON."""
    record_fields: list[dict[str, object]] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            record_fields.append(fields(record))

    logger = logging.getLogger("resilience")
    handler = Capture()
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        breaker = CircuitBreaker("db", BreakerConfig(failure_threshold=1), clock=FakeClock())
        with pytest.raises(ConnectionRefusedError):
            breaker.call(refused)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert json.loads(json.dumps(record_fields[0]))["remote"] == "db"


def test_other_objects_are_ignored(caplog: pytest.LogCaptureFixture) -> None:
    """Objects that are not events are not logged."""
    caplog.set_level(logging.DEBUG, logger="resilience")
    log_event("not an event")
    log_event(42)
    assert caplog.records == []
