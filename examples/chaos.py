"""A failure drill: faults injected into a payment client, and the pipeline around it at work.

The client is guarded by a retry and a circuit breaker, as in production. A drill turns
a ``ChaosSwitch`` on: 30% of attempts fail with a reset connection (the retry should
hide most of them), then every attempt fails (the breaker should open, and the
fallback answer politely). The dice are seeded, so the drill replays exactly; the clock
is a FakeClock, so the backoff and the injected latency take no real time.

    python examples/chaos.py
"""

from __future__ import annotations

import logging

from resilience import (
    Backoff,
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    Resilient,
    RetryPolicy,
    resilient,
)
from resilience.chaos import ChaosSwitch, InjectFault, InjectLatency
from resilience.testing import FakeClock

logging.basicConfig(level=logging.WARNING, format="  log %(levelname)s: %(message)s")

clock = FakeClock()
drill = ChaosSwitch("payments drill")
breaker = CircuitBreaker("payments", clock=clock)


def charge(order: int) -> str:
    """The real call: in this example it always works."""
    return f"order {order}: charged"


def check(holds: bool, what: str) -> None:
    if not holds:
        raise SystemExit(f"the drill did not go as planned: {what}")


def build(fault: InjectFault) -> Resilient:
    return resilient(
        retry=RetryPolicy(attempts=3, backoff=Backoff(initial=0.2, jitter="none"), clock=clock),
        breaker=breaker,
        chaos=fault,
        fallback=lambda exc, order: f"order {order}: payments unavailable ({type(exc).__name__})",
    )


def run(label: str, pay: Resilient, orders: range) -> list[str]:
    results = [pay.call(charge, order) for order in orders]
    failed = sum("unavailable" in r for r in results)
    print(f"{label}: {len(results) - failed} charged, {failed} fell back", end="; ")
    print(f"breaker {breaker.state.name}")
    return results


flaky = InjectFault(ConnectionResetError, rate=0.3, switch=drill, seed=2024, name="reset 30%")
pay = build(flaky)
run("before the drill", pay, range(20))
check(flaky.injected == 0, "nothing is injected while off")

drill.enable()  # a WARNING in the log says so
first = run("30% of attempts reset", pay, range(20, 220))
print(f"  {flaky.injected} faults injected into {flaky.rolled} attempts; the retry hid most")
check(breaker.state is CircuitState.CLOSED, "the retry hides a 30% fault rate")

replay = InjectFault(ConnectionResetError, rate=0.3, switch=drill, seed=2024, name="replay")
again = run("the same drill, replayed", build(replay), range(20, 220))
check(again == first, "the seed replays the drill exactly")
check(replay.injected == flaky.injected, "the same faults, the same count")

outage = InjectFault(ConnectionResetError, rate=1.0, switch=drill, name="outage")
results = run("every attempt resets", build(outage), range(5))
check(breaker.state is CircuitState.OPEN, "an outage opens the breaker")
print(f"  last answer: {results[-1]}")
check(CircuitOpenError.__name__ in results[-1], "an open circuit falls back at once")

slow = InjectLatency(1.5, rate=1.0, switch=drill, clock=clock)
before = clock.monotonic()
check(slow.call(charge, 1) == "order 1: charged", "latency delays, and the call still answers")
print(f"injected latency: the call took {clock.monotonic() - before:.1f} s on the FakeClock")

drill.disable()
print(f"drill over: switch {drill!r}, chaos healthy again: {outage.measurements()[0].healthy}")
