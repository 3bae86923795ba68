"""Retry strategies keyed by failure type, with a budget and escalation (scenario 2).

- The database: 3 attempts, waits of 5 s growing per attempt.
- An external service: 5 attempts, then cached data.
- Every policy draws on one retry budget, so an outage cannot multiply the load.
- When every attempt fails, the failure is escalated with the full attempt history.

Time is a FakeClock, so the waits take no real time.
"""

from __future__ import annotations

from resilience import (
    Backoff,
    RetryBudget,
    RetryPolicy,
    RetryScheduled,
    resilient,
)
from resilience.testing import FakeClock

clock = FakeClock()
budget = RetryBudget(ratio=0.2, min_per_second=1.0, window=60, clock=clock)


def log_retry(event: RetryScheduled) -> None:
    print(
        f"  [{clock.monotonic():6.1f} s] attempt {event.attempt} failed "
        f"({event.classification.reason}); retrying in {event.delay:.1f} s"
    )


database = RetryPolicy(
    attempts=3,
    backoff=Backoff(initial=5, multiplier=2, max=60, jitter="none"),
    budget=budget,
    clock=clock,
    on_retry=log_retry,
)
external = RetryPolicy(
    attempts=5,
    backoff=Backoff(initial=1, multiplier=2, max=30),
    deadline=60,
    budget=budget,
    clock=clock,
    on_retry=log_retry,
)


class Database:
    def __init__(self, failures: int) -> None:
        self.failures = failures

    def query(self, table: str) -> list[tuple[int, str]]:
        if self.failures:
            self.failures -= 1
            raise ConnectionRefusedError(111, "Connection refused")
        return [(1, f"{table}: alice"), (2, f"{table}: bob")]


class RateLimitedError(Exception):
    """What an HTTP client raises for a 429 (duck-typed: status_code and headers)."""

    def __init__(self) -> None:
        super().__init__("429 Too Many Requests")
        self.status_code = 429
        self.headers = {"Retry-After": "4"}


cache = {"rates": {"EUR": 1.0, "USD": 1.08}}


def fetch_rates() -> dict[str, float]:
    raise RateLimitedError


rates = resilient(
    retry=external,
    fallback=lambda _exc: {**cache["rates"], "stale": True},
)(fetch_rates)


def escalate(component: str, exc: BaseException) -> None:
    history = "\n".join(getattr(exc, "__notes__", []))
    print(f"  CRITICAL alert: {component} is failing: {exc!r}\n  incident record:\n{history}")


def main() -> None:
    print("Database flaps twice, then answers:")
    db = Database(failures=2)
    print(f"  rows: {database.call(db.query, 'users')}")

    print("\nThe external service rate-limits us; after 5 attempts we use cached data:")
    print(f"  rates: {rates()}")

    print("\nThe database stays down: every attempt fails and we escalate:")
    try:
        database.call(Database(failures=10).query, "users")
    except ConnectionRefusedError as exc:
        escalate("database", exc)

    snap = budget.snapshot()
    print(
        f"\nRetry budget: {snap.retries} retries for {snap.calls} calls "
        f"(allowed {snap.allowed:.0f})"
    )


if __name__ == "__main__":
    main()
