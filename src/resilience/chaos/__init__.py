"""Fault injection: failures, latency and substituted results, on purpose, when switched on.

For rehearsing failures in staging and in tests: each strategy injects at a ``rate``,
only while its :class:`ChaosSwitch` is on (off by default; a WARNING is logged whenever
one turns on), with its own seeded dice for reproducible runs. Put them innermost in a
pipeline, so that what they inject looks like the call's own doing to the retry and
breaker outside::

    from resilience import CircuitBreaker, Pipeline, RetryPolicy
    from resilience.chaos import ChaosSwitch, InjectFault

    drill = ChaosSwitch("payments drill")
    pipeline = Pipeline(
        RetryPolicy(attempts=3),
        CircuitBreaker("payments"),
        InjectFault(ConnectionError, rate=0.2, switch=drill, seed=1),
    )
"""

from __future__ import annotations

from resilience.chaos._events import ChaosInjected
from resilience.chaos._inject import InjectFault, InjectLatency, InjectResult
from resilience.chaos._switch import ChaosSwitch

__all__ = ["ChaosInjected", "ChaosSwitch", "InjectFault", "InjectLatency", "InjectResult"]
