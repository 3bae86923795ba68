"""JSON logging with the stdlib and structlog: events' fields as top-level keys, real loggers."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from resilience import BreakerConfig, BreakerRegistry, CircuitBreaker, HealthRegistry, RetryPolicy
from resilience.contrib.logging import JSONFormatter
from resilience.contrib.structlog import StructlogListener, lift_event_fields
from resilience.testing import FakeClock


@pytest.fixture
def resilience_log() -> Iterator[io.StringIO]:
    """The ``resilience`` logger's records, as JSON lines, in a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter(extras=["request_id"]))
    log = logging.getLogger("resilience")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    yield stream
    log.removeHandler(handler)
    log.setLevel(logging.NOTSET)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def open_breaker(clock: FakeClock) -> CircuitBreaker:
    breaker = CircuitBreaker("billing", BreakerConfig(failure_threshold=1), clock=clock)

    def charge() -> None:
        raise ConnectionRefusedError("refused")

    with pytest.raises(ConnectionRefusedError):
        breaker.call(charge)
    return breaker


def test_json_formatter_puts_event_fields_on_top(
    resilience_log: io.StringIO, fake_clock: FakeClock
) -> None:
    """A transition is one JSON line with the event's fields as keys beside the message."""
    open_breaker(fake_clock)
    [record] = lines(resilience_log)
    assert record["level"] == "WARNING"
    assert record["logger"] == "resilience"
    assert record["message"].startswith("circuit 'billing' CLOSED -> OPEN")
    assert record["event"] == "breaker.opened"
    assert (record["remote"], record["old_state"], record["new_state"]) == (
        "billing",
        "CLOSED",
        "OPEN",
    )
    assert record["time"].endswith("+00:00")


def test_a_field_named_like_a_formatter_key_is_renamed(resilience_log: io.StringIO) -> None:
    """A health change's own message is resilience_message; the record's message stays."""
    health = HealthRegistry(default_timeout=2)
    health.register("db", lambda: False)
    health.run()
    health.close()
    [record] = lines(resilience_log)
    assert record["event"] == "health.changed"
    assert record["message"].startswith("health of 'db'")
    assert "resilience_message" in record


def test_other_records_extras_and_exceptions(resilience_log: io.StringIO) -> None:
    """Any record is formatted; named extras are kept; an exception is its traceback text."""
    log = logging.getLogger("resilience.app")
    try:
        raise ValueError("bad")
    except ValueError:
        log.exception("failed %s", "here", extra={"request_id": "r-1", "other": object()})
    [record] = lines(resilience_log)
    assert record["message"] == "failed here"
    assert record["request_id"] == "r-1"
    assert "other" not in record
    assert "ValueError: bad" in record["exception"]
    assert "event" not in record


def test_unserialisable_extras_are_written_as_repr(resilience_log: io.StringIO) -> None:
    """An extra that JSON cannot encode is written as its repr, never dropping the record."""
    logging.getLogger("resilience").info("hello", extra={"request_id": {1, 2}})
    [record] = lines(resilience_log)
    assert record["request_id"] == "{1, 2}"


def test_structlog_listener_logs_fields_as_keys(fake_clock: FakeClock) -> None:
    """Through structlog, event is the event's name, message the description, fields on top."""
    registry = BreakerRegistry(BreakerConfig(failure_threshold=1), clock=fake_clock)
    listener = StructlogListener(structlog.get_logger("resilience"), min_level=logging.INFO)
    registry.add_listener(listener)
    with capture_logs() as captured:
        registry.get("s3").call(lambda: "ok")  # a DEBUG call event: below min_level
        registry.get("s3").force_open()
    assert captured == [
        {
            "event": "breaker.forced_open",
            "message": "circuit 's3' CLOSED -> FORCED_OPEN: forced open by force_open()",
            "remote": "s3",
            "old_state": "CLOSED",
            "new_state": "FORCED_OPEN",
            "reason": "forced open by force_open()",
            "log_level": "warning",
        }
    ]
    assert "INFO" in repr(listener)


def test_structlog_listener_as_on_retry(fake_clock: FakeClock) -> None:
    """As a retry policy's on_retry, each scheduled retry is logged with attempt and delay."""
    listener = StructlogListener()
    left = [1]

    def flaky() -> str:
        if left[0]:
            left[0] -= 1
            raise ConnectionResetError("reset")
        return "ok"

    policy = RetryPolicy(attempts=2, clock=fake_clock, on_retry=listener)
    with capture_logs() as captured:
        assert policy.call(flaky) == "ok"
    [entry] = captured
    assert entry["event"] == "retry.scheduled"
    assert entry["attempt"] == 1
    assert entry["log_level"] == "info"
    listener("not an event")  # ignored, as log_event ignores it


def test_processor_formatter_lifts_stdlib_records(fake_clock: FakeClock) -> None:
    """Stdlib records rendered by structlog's ProcessorFormatter get the fields on top."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_log_level, lift_event_fields],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    log = logging.getLogger("resilience")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        open_breaker(fake_clock)
        logging.getLogger("resilience").info("plain")
    finally:
        log.removeHandler(handler)
        log.setLevel(logging.NOTSET)
    opened, plain = (json.loads(line) for line in stream.getvalue().splitlines())
    assert opened["event"] == "breaker.opened"
    assert opened["remote"] == "billing"
    assert opened["message"].startswith("circuit 'billing' CLOSED -> OPEN")
    assert opened["level"] == "warning"
    assert plain == {"event": "plain", "level": "info"}


def test_processor_reads_the_key_extra_adder_made() -> None:
    """After ExtraAdder(allow=['resilience']), the processor lifts that key's fields."""
    event_dict: dict[str, Any] = {
        "event": "circuit 'a' ...",
        "resilience": {"event": "breaker.opened", "remote": "a", "message": "m"},
    }
    assert lift_event_fields(None, "info", event_dict) == {
        "event": "breaker.opened",
        "message": "circuit 'a' ...",
        "remote": "a",
        "resilience_message": "m",
    }
