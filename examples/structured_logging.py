"""Events as structured logs: JSON lines with the stdlib, and structlog, fields on top.

First the ``resilience`` logger's records go through ``JSONFormatter`` to stdout; then a
``StructlogListener`` logs the same kind of events through structlog's JSON renderer.
Each line has the event's name and fields as top-level keys, ready for a log pipeline.
"""

from __future__ import annotations

import contextlib
import logging
import sys

import structlog

from resilience import BreakerConfig, BreakerRegistry, HealthRegistry, RetryPolicy
from resilience.contrib.logging import JSONFormatter
from resilience.contrib.structlog import StructlogListener
from resilience.testing import FakeClock


def refused() -> None:
    raise ConnectionRefusedError("billing refused the connection")


def stdlib_json() -> None:
    print("-- stdlib logging, JSONFormatter")
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JSONFormatter())
    log = logging.getLogger("resilience")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    clock = FakeClock()
    breakers = BreakerRegistry(BreakerConfig(failure_threshold=2), clock=clock)
    for _ in range(2):
        with contextlib.suppress(ConnectionRefusedError):
            breakers.get("billing").call(refused)
    health = HealthRegistry(default_timeout=2)
    health.register("database", lambda: False)
    health.run()  # a health change: its own message is written as resilience_message
    health.close()
    log.removeHandler(handler)


def with_structlog() -> None:
    print("-- structlog, StructlogListener")
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
    )
    listener = StructlogListener(min_level=logging.INFO)
    clock = FakeClock()
    breakers = BreakerRegistry(clock=clock)
    breakers.add_listener(listener)
    breakers.get("search").force_open()
    attempts = iter([ConnectionResetError("reset"), None])

    def flaky() -> str:
        error = next(attempts)
        if error is not None:
            raise error
        return "ok"

    RetryPolicy(attempts=2, clock=clock, on_retry=listener).call(flaky)


if __name__ == "__main__":
    stdlib_json()
    with_structlog()
