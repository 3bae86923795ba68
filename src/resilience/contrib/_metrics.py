"""The metrics the OpenTelemetry and Prometheus exporters report, each described once.

A :class:`MetricSpec` gives a metric's OpenTelemetry name and unit, and its labels; its
Prometheus name follows from those. The exporters dress the same specs, and the same
``(label values, value)`` readings (:data:`Sample`), in their own types.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final, TypeAlias

__all__ = [
    "ATTRIBUTES",
    "BATCH_ITEMS",
    "BATCH_METRICS",
    "BATCH_RUNNING",
    "BREAKER_METRICS",
    "BREAKER_STATE",
    "BUDGET_ALLOWED",
    "BUDGET_CALLS",
    "BUDGET_METRICS",
    "BUDGET_REJECTED",
    "BUDGET_RETRIES",
    "CALLS",
    "CALL_DURATION",
    "CONSECUTIVE",
    "DURATION_BUCKETS",
    "EVENT_METRICS",
    "FAILURE_RATE",
    "HEALTH",
    "HEALTH_METRICS",
    "METRICS",
    "REJECTED",
    "RETRIES",
    "TRANSITIONS",
    "Kind",
    "MetricSpec",
    "Sample",
]


class Kind(enum.Enum):
    """How a metric is measured."""

    COUNTER = "counter"
    """Counted from events, as they happen."""
    HISTOGRAM = "histogram"
    """Recorded from events, as they happen."""
    OBSERVED_COUNTER = "observed_counter"
    """A monotonic total read from a snapshot at collection time."""
    GAUGE = "gauge"
    """A value read from a snapshot at collection time."""


# Labels (Prometheus) and the OpenTelemetry attributes they are.
ATTRIBUTES: Final = {
    "remote": "resilience.remote",
    "outcome": "resilience.outcome",
    "state": "resilience.state",
    "from": "resilience.from",
    "to": "resilience.to",
    "kind": "resilience.failure.kind",
    "error_type": "error.type",
    "budget": "resilience.budget",
    "job": "resilience.job",
    "status": "resilience.status",
    "component": "resilience.component",
    "name": "resilience.name",
}


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric, as both exporters name it."""

    name: str
    """The OpenTelemetry name (dotted)."""
    kind: Kind
    unit: str
    """The OpenTelemetry unit (UCUM)."""
    description: str
    labels: tuple[str, ...]
    """The Prometheus label names; :attr:`attributes` are their OpenTelemetry names."""

    @property
    def prometheus_unit(self) -> str:
        """The Prometheus unit: ``"seconds"`` for ``"s"``, none for a count or a ratio."""
        return "seconds" if self.unit == "s" else ""

    @property
    def prometheus(self) -> str:
        """The Prometheus name, after the namespace and before ``_total``.

        The OpenTelemetry name's words joined by ``_``, ending with the unit, as
        OpenTelemetry's Prometheus compatibility rules have it: ``resilience.call.duration``
        is ``call_duration_seconds``.
        """
        name = self.name.removeprefix("resilience.").replace(".", "_")
        unit = self.prometheus_unit
        return f"{name}_{unit}" if unit and not name.endswith(f"_{unit}") else name

    @property
    def attributes(self) -> tuple[str, ...]:
        """The OpenTelemetry attribute names, in the order of :attr:`labels`."""
        return tuple(ATTRIBUTES[label] for label in self.labels)


Sample: TypeAlias = tuple[tuple[str, ...], float]
"""One reading: the label values (in the metric's label order) and the value."""

_C, _H, _OC, _G = Kind.COUNTER, Kind.HISTOGRAM, Kind.OBSERVED_COUNTER, Kind.GAUGE

CALLS: Final = MetricSpec(
    "resilience.calls", _C, "{call}",
    "Calls through a circuit breaker, by outcome (rejected: refused without running).",
    ("remote", "outcome"),
)  # fmt: skip
CALL_DURATION: Final = MetricSpec(
    "resilience.call.duration", _H, "s",
    "Duration of the calls a circuit breaker let through, by outcome.",
    ("remote", "outcome"),
)  # fmt: skip
TRANSITIONS: Final = MetricSpec(
    "resilience.breaker.transitions", _C, "{transition}",
    "State changes of circuit breakers.",
    ("remote", "from", "to"),
)  # fmt: skip
RETRIES: Final = MetricSpec(
    "resilience.retries", _C, "{retry}",
    "Retries scheduled by retry policies, by failure kind and error type.",
    ("kind", "error_type"),
)  # fmt: skip
BREAKER_STATE: Final = MetricSpec(
    "resilience.breaker.state", _G, "1",
    "1 for the state a circuit breaker is in, 0 for the other states.",
    ("remote", "state"),
)  # fmt: skip
FAILURE_RATE: Final = MetricSpec(
    "resilience.breaker.failure_rate", _G, "1",
    "Share of failed calls in a breaker's window (absent while the window is empty).",
    ("remote",),
)  # fmt: skip
CONSECUTIVE: Final = MetricSpec(
    "resilience.breaker.consecutive_failures", _G, "{failure}",
    "Failures in a row a circuit breaker has counted.",
    ("remote",),
)  # fmt: skip
BUDGET_REJECTED: Final = MetricSpec(
    "resilience.retry_budget.rejected", _OC, "{retry}",
    "Retries a retry budget refused, since it was created.",
    ("budget",),
)  # fmt: skip
BUDGET_RETRIES: Final = MetricSpec(
    "resilience.retry_budget.retries", _G, "{retry}",
    "Retries taken from a retry budget within its window.",
    ("budget",),
)  # fmt: skip
BUDGET_CALLS: Final = MetricSpec(
    "resilience.retry_budget.calls", _G, "{call}",
    "First attempts counted by a retry budget within its window.",
    ("budget",),
)  # fmt: skip
BUDGET_ALLOWED: Final = MetricSpec(
    "resilience.retry_budget.allowed", _G, "{retry}",
    "Retries a retry budget allows within its window.",
    ("budget",),
)  # fmt: skip
BATCH_ITEMS: Final = MetricSpec(
    "resilience.batch.items", _G, "{item}",
    "Items of a batch job's current or last run, by status.",
    ("job", "status"),
)  # fmt: skip
BATCH_RUNNING: Final = MetricSpec(
    "resilience.batch.running", _G, "1",
    "1 while a batch job runs, 0 once its run has ended.",
    ("job",),
)  # fmt: skip
HEALTH: Final = MetricSpec(
    "resilience.health.status", _G, "1",
    "Last known status of a component: 0 OK, 1 WARNING, 2 ERROR, 3 UNKNOWN.",
    ("component",),
)  # fmt: skip

EVENT_METRICS: Final = (CALLS, CALL_DURATION, TRANSITIONS, RETRIES)
"""The metrics counted (or recorded) from events, as they happen."""
BREAKER_METRICS: Final = (BREAKER_STATE, FAILURE_RATE, CONSECUTIVE)
BUDGET_METRICS: Final = (BUDGET_REJECTED, BUDGET_RETRIES, BUDGET_CALLS, BUDGET_ALLOWED)
BATCH_METRICS: Final = (BATCH_ITEMS, BATCH_RUNNING)
HEALTH_METRICS: Final = (HEALTH,)
METRICS: Final = (
    *EVENT_METRICS,
    *BREAKER_METRICS,
    *BUDGET_METRICS,
    *BATCH_METRICS,
    *HEALTH_METRICS,
)
"""Every metric, in the order they are exported."""

# The boundaries OpenTelemetry's HTTP semantic conventions recommend for durations in
# seconds, which are also prometheus-client's default buckets.
DURATION_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip

REJECTED: Final = "rejected"
"""The outcome label of a call a breaker refused."""
