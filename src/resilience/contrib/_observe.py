"""What the OpenTelemetry and Prometheus exporters share: the metrics, and how to read them.

Each metric is described once (:class:`MetricSpec`): its OpenTelemetry name and unit,
its Prometheus name, and its labels. Calls, transitions and retries are counted as they
happen by :class:`Counts` (a lock and a dict update: much cheaper than a synchronous
OpenTelemetry instrument); breaker, budget, batch and health snapshots are read at
collection time by :class:`Sources`. Both answer in ``(label values, value)`` pairs, in
the order of the metric's labels, which each exporter dresses in its own types. Neither
OpenTelemetry nor prometheus-client is imported here.
"""

from __future__ import annotations

import enum
import logging
import threading
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, TypeAlias

from resilience._breaker.breaker import BreakerSnapshot, CircuitBreaker
from resilience._breaker.registry import BreakerRegistry
from resilience._core.events import CircuitState, RetryScheduled
from resilience._retry.budget import RetryBudget
from resilience.batch import BatchProcessor
from resilience.health import ComponentStatus, HealthRegistry

__all__ = [
    "ATTRIBUTES",
    "DURATION_BUCKETS",
    "EVENT_METRICS",
    "HEALTH_CODES",
    "METRICS",
    "REJECTED",
    "Counts",
    "Kind",
    "MetricSpec",
    "Sample",
    "Sources",
    "error_type",
    "report_failure",
    "retry_labels",
]

logger = logging.getLogger("resilience")


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
    prometheus: str
    """The Prometheus name, after the namespace and before ``_total``."""
    prometheus_unit: str = ""

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
    ("remote", "outcome"), "calls",
)  # fmt: skip
CALL_DURATION: Final = MetricSpec(
    "resilience.call.duration", _H, "s",
    "Duration of the calls a circuit breaker let through, by outcome.",
    ("remote", "outcome"), "call_duration_seconds", "seconds",
)  # fmt: skip
TRANSITIONS: Final = MetricSpec(
    "resilience.breaker.transitions", _C, "{transition}",
    "State changes of circuit breakers.",
    ("remote", "from", "to"), "breaker_transitions",
)  # fmt: skip
RETRIES: Final = MetricSpec(
    "resilience.retries", _C, "{retry}",
    "Retries scheduled by retry policies, by failure kind and error type.",
    ("kind", "error_type"), "retries",
)  # fmt: skip
BREAKER_STATE: Final = MetricSpec(
    "resilience.breaker.state", _G, "1",
    "1 for the state a circuit breaker is in, 0 for the other states.",
    ("remote", "state"), "breaker_state",
)  # fmt: skip
FAILURE_RATE: Final = MetricSpec(
    "resilience.breaker.failure_rate", _G, "1",
    "Share of failed calls in a breaker's window (absent while the window is empty).",
    ("remote",), "breaker_failure_rate",
)  # fmt: skip
CONSECUTIVE: Final = MetricSpec(
    "resilience.breaker.consecutive_failures", _G, "{failure}",
    "Failures in a row a circuit breaker has counted.",
    ("remote",), "breaker_consecutive_failures",
)  # fmt: skip
BUDGET_REJECTED: Final = MetricSpec(
    "resilience.retry_budget.rejected", _OC, "{retry}",
    "Retries a retry budget refused, since it was created.",
    ("budget",), "retry_budget_rejected",
)  # fmt: skip
BUDGET_RETRIES: Final = MetricSpec(
    "resilience.retry_budget.retries", _G, "{retry}",
    "Retries taken from a retry budget within its window.",
    ("budget",), "retry_budget_retries",
)  # fmt: skip
BUDGET_CALLS: Final = MetricSpec(
    "resilience.retry_budget.calls", _G, "{call}",
    "First attempts counted by a retry budget within its window.",
    ("budget",), "retry_budget_calls",
)  # fmt: skip
BUDGET_ALLOWED: Final = MetricSpec(
    "resilience.retry_budget.allowed", _G, "{retry}",
    "Retries a retry budget allows within its window.",
    ("budget",), "retry_budget_allowed",
)  # fmt: skip
BATCH_ITEMS: Final = MetricSpec(
    "resilience.batch.items", _G, "{item}",
    "Items of a batch job's current or last run, by status.",
    ("job", "status"), "batch_items",
)  # fmt: skip
BATCH_RUNNING: Final = MetricSpec(
    "resilience.batch.running", _G, "1",
    "1 while a batch job runs, 0 once its run has ended.",
    ("job",), "batch_running",
)  # fmt: skip
HEALTH: Final = MetricSpec(
    "resilience.health.status", _G, "1",
    "Last known status of a component: 0 OK, 1 WARNING, 2 ERROR, 3 UNKNOWN.",
    ("component",), "health_status",
)  # fmt: skip

EVENT_METRICS: Final = (CALLS, CALL_DURATION, TRANSITIONS, RETRIES)
_BREAKER_METRICS: Final = (BREAKER_STATE, FAILURE_RATE, CONSECUTIVE)
_BUDGET_METRICS: Final = (BUDGET_REJECTED, BUDGET_RETRIES, BUDGET_CALLS, BUDGET_ALLOWED)
_BATCH_METRICS: Final = (BATCH_ITEMS, BATCH_RUNNING)
_HEALTH_METRICS: Final = (HEALTH,)
METRICS: Final = (
    *EVENT_METRICS,
    *_BREAKER_METRICS,
    *_BUDGET_METRICS,
    *_BATCH_METRICS,
    *_HEALTH_METRICS,
)
"""Every metric, in the order they are exported."""

# The boundaries OpenTelemetry's HTTP semantic conventions recommend for durations in
# seconds, which are also prometheus-client's default buckets.
DURATION_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip

REJECTED: Final = "rejected"
"""The outcome label of a call a breaker refused."""

HEALTH_CODES: Final = {
    ComponentStatus.OK: 0,
    ComponentStatus.WARNING: 1,
    ComponentStatus.ERROR: 2,
    ComponentStatus.UNKNOWN: 3,
}
_STATES: Final = tuple((state, state.value) for state in CircuitState)
_BATCH_STATUSES: Final = ("succeeded", "failed", "deferred", "skipped")


def error_type(error: BaseException) -> str:
    """The exception's type, qualified by its public module unless it is a builtin.

    The module path stops before its first private part: ``resilience.CircuitOpenError``,
    not ``resilience._breaker.errors.CircuitOpenError``.
    """
    cls = type(error)
    public: list[str] = []
    for part in cls.__module__.split("."):
        if part.startswith("_"):
            break
        public.append(part)
    if not public or public == ["builtins"]:
        return cls.__qualname__
    return f"{'.'.join(public)}.{cls.__qualname__}"


def retry_labels(event: RetryScheduled) -> tuple[str, str]:
    """The labels of a retry: the failure's kind and the error's type.

    The classification's reason is not a label: it is free text (``"HTTP 503
    (Retry-After 3 s)"``, ``"12 items failed"``), so as a label it could make a series
    per value; it goes in the span event instead.
    """
    return event.classification.kind.value, error_type(event.error)


class Counts:
    """Calls, rejections, transitions, retries (and call durations) counted as they happen.

    Thread-safe; the totals are kept for the life of the exporter, per label set.

    Args:
        durations: Also keep a histogram of call durations per remote and outcome.
    """

    __slots__ = ("_calls", "_durations", "_histograms", "_lock", "_retries", "_transitions")

    def __init__(self, *, durations: bool) -> None:
        self._lock = threading.Lock()
        self._durations = durations
        self._calls: dict[tuple[str, str], int] = {}
        self._histograms: dict[tuple[str, str], _Histogram] = {}
        self._transitions: dict[tuple[str, str, str], int] = {}
        self._retries: dict[tuple[str, str], int] = {}

    def call(self, remote: str, outcome: str, duration: float | None) -> None:
        """Count one call; ``duration`` is None for a rejected one."""
        key = (remote, outcome)
        with self._lock:
            self._calls[key] = self._calls.get(key, 0) + 1
            if duration is not None and self._durations:
                histogram = self._histograms.get(key)
                if histogram is None:
                    histogram = self._histograms[key] = _Histogram()
                histogram.counts[bisect_left(DURATION_BUCKETS, duration)] += 1
                histogram.total += duration

    def transition(self, remote: str, old: str, new: str) -> None:
        """Count one state change."""
        key = (remote, old, new)
        with self._lock:
            self._transitions[key] = self._transitions.get(key, 0) + 1

    def retry(self, event: RetryScheduled) -> None:
        """Count one scheduled retry."""
        key = retry_labels(event)
        with self._lock:
            self._retries[key] = self._retries.get(key, 0) + 1

    def read(self, metric: MetricSpec) -> list[Sample]:
        """The totals of :data:`CALLS`, :data:`TRANSITIONS` or :data:`RETRIES`."""
        counts: dict[tuple[str, str], int] | dict[tuple[str, str, str], int]
        if metric is CALLS:
            counts = self._calls
        elif metric is TRANSITIONS:
            counts = self._transitions
        elif metric is RETRIES:
            counts = self._retries
        else:
            raise ValueError(f"{metric.name} is not counted from events")
        with self._lock:
            return [(labels, float(n)) for labels, n in counts.items()]

    def histograms(self) -> list[tuple[tuple[str, str], list[int], float]]:
        """Per remote and outcome: cumulative counts per bucket, and the durations' sum.

        The buckets are :data:`DURATION_BUCKETS`, then +Inf.
        """
        with self._lock:
            found = [(k, list(h.counts), h.total) for k, h in self._histograms.items()]
        for _labels, counts, _total in found:
            for i in range(1, len(counts)):
                counts[i] += counts[i - 1]
        return found


class _Histogram:
    """Per-bucket (not cumulative) counts of one label set, and their sum."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(DURATION_BUCKETS) + 1)  # the last is +Inf
        self.total = 0.0


_reported: set[tuple[int, str]] = set()


def report_failure(owner: object, what: str, error: BaseException) -> None:
    """Log ``error``, raised by an exporter in ``what``, once per exporter and place."""
    key = (id(owner), what)
    if key not in _reported:
        _reported.add(key)
        logger.error(
            "%r failed in %s; the operation it observed is unaffected. Further errors "
            "here are not logged.",
            owner,
            what,
            exc_info=error,
        )


class Sources:
    """What an exporter reads at collection time; sources are added, never removed."""

    __slots__ = ("_batches", "_breakers", "_budgets", "_health", "_lock", "_registries")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._registries: tuple[BreakerRegistry, ...] = ()
        self._breakers: tuple[CircuitBreaker, ...] = ()
        self._health: tuple[HealthRegistry, ...] = ()
        self._batches: tuple[BatchProcessor, ...] = ()
        self._budgets: dict[str, RetryBudget] = {}

    def add(
        self,
        *,
        registry: BreakerRegistry | None = None,
        breakers: Iterable[CircuitBreaker] = (),
        health: HealthRegistry | None = None,
        batches: Iterable[BatchProcessor] = (),
        budgets: Mapping[str, RetryBudget] | None = None,
    ) -> list[BreakerRegistry | CircuitBreaker]:
        """Add sources (each once); the registries and breakers that need a listener now.

        Raises:
            TypeError: If a source is not of its type; nothing is added then.
            ValueError: If a budget's name is taken by another budget.
        """
        if registry is not None and not isinstance(registry, BreakerRegistry):
            raise TypeError(f"registry must be a BreakerRegistry, got {registry!r}")
        if health is not None and not isinstance(health, HealthRegistry):
            raise TypeError(f"health must be a HealthRegistry, got {health!r}")
        breakers = [breakers] if isinstance(breakers, CircuitBreaker) else list(breakers)
        for breaker in breakers:
            if not isinstance(breaker, CircuitBreaker):
                raise TypeError(f"breakers must be CircuitBreakers, got {breaker!r}")
        batches = [batches] if isinstance(batches, BatchProcessor) else list(batches)
        for batch in batches:
            if not isinstance(batch, BatchProcessor):
                raise TypeError(f"batches must be BatchProcessors, got {batch!r}")
        if budgets is not None and not isinstance(budgets, Mapping):
            raise TypeError(
                f"budgets must map a name to each RetryBudget, e.g. {{'payments': budget}}; "
                f"got {budgets!r}"
            )
        budgets = dict(budgets or {})
        for name, budget in budgets.items():
            if not isinstance(name, str) or not name:
                raise TypeError(f"a budget's name must be a non-empty str, got {name!r}")
            if not isinstance(budget, RetryBudget):
                raise TypeError(f"budgets[{name!r}] must be a RetryBudget, got {budget!r}")
        with self._lock:
            for name, budget in budgets.items():
                known = self._budgets.get(name)
                if known is not None and known is not budget:
                    raise ValueError(f"another retry budget is already named {name!r}")
            new: list[BreakerRegistry | CircuitBreaker] = []
            if registry is not None and not _holds(self._registries, registry):
                self._registries = (*self._registries, registry)
                new.append(registry)
            for breaker in breakers:
                if not _holds(self._breakers, breaker):
                    self._breakers = (*self._breakers, breaker)
                    new.append(breaker)
            if health is not None and not _holds(self._health, health):
                self._health = (*self._health, health)
            for batch in batches:
                if not _holds(self._batches, batch):
                    self._batches = (*self._batches, batch)
            self._budgets.update(budgets)
        return new

    def metrics(self) -> list[MetricSpec]:
        """The metrics read from snapshots that the sources so far provide."""
        found: list[MetricSpec] = []
        if self._registries or self._breakers:
            found.extend(_BREAKER_METRICS)
        if self._budgets:
            found.extend(_BUDGET_METRICS)
        if self._batches:
            found.extend(_BATCH_METRICS)
        if self._health:
            found.extend(_HEALTH_METRICS)
        return found

    def read(self, metric: MetricSpec) -> list[Sample]:
        """The current readings of one metric read from snapshots."""
        if metric in _BREAKER_METRICS:
            return self._read_breakers()[metric]
        if metric in _BUDGET_METRICS:
            return self._read_budgets()[metric]
        if metric in _BATCH_METRICS:
            return self._read_batches()[metric]
        if metric is HEALTH:
            return self._read_health()
        raise ValueError(f"{metric.name} is counted from events, not read from snapshots")

    def read_all(self) -> dict[MetricSpec, list[Sample]]:
        """The current readings of every metric in :meth:`metrics`, one snapshot each."""
        readings: dict[MetricSpec, list[Sample]] = {}
        if self._registries or self._breakers:
            readings.update(self._read_breakers())
        if self._budgets:
            readings.update(self._read_budgets())
        if self._batches:
            readings.update(self._read_batches())
        if self._health:
            readings[HEALTH] = self._read_health()
        return readings

    def _read_breakers(self) -> dict[MetricSpec, list[Sample]]:
        # A remote is read once: from the first registry that has it, else its breaker.
        snapshots: dict[str, BreakerSnapshot] = {}
        for registry in self._registries:
            for name, snapshot in registry.snapshot().items():
                snapshots.setdefault(name, snapshot)
        for breaker in self._breakers:
            if breaker.name not in snapshots:
                snapshots[breaker.name] = breaker.snapshot()
        states: list[Sample] = []
        rates: list[Sample] = []
        consecutive: list[Sample] = []
        for name, snapshot in snapshots.items():
            current = snapshot.state
            states.extend(((name, value), float(state is current)) for state, value in _STATES)
            if snapshot.failure_rate is not None:
                rates.append(((name,), snapshot.failure_rate))
            consecutive.append(((name,), float(snapshot.consecutive_failures)))
        return {BREAKER_STATE: states, FAILURE_RATE: rates, CONSECUTIVE: consecutive}

    def _read_budgets(self) -> dict[MetricSpec, list[Sample]]:
        rejected: list[Sample] = []
        retries: list[Sample] = []
        calls: list[Sample] = []
        allowed: list[Sample] = []
        for name, budget in list(self._budgets.items()):
            snapshot = budget.snapshot()
            rejected.append(((name,), float(snapshot.rejected)))
            retries.append(((name,), float(snapshot.retries)))
            calls.append(((name,), float(snapshot.calls)))
            allowed.append(((name,), float(snapshot.allowed)))
        return {
            BUDGET_REJECTED: rejected,
            BUDGET_RETRIES: retries,
            BUDGET_CALLS: calls,
            BUDGET_ALLOWED: allowed,
        }

    def _read_batches(self) -> dict[MetricSpec, list[Sample]]:
        items: list[Sample] = []
        running: list[Sample] = []
        seen: set[str] = set()
        for batch in self._batches:
            progress = batch.snapshot()
            if progress is None or progress.job in seen:
                continue  # not run yet, or a job another processor already reported
            seen.add(progress.job)
            counts = (progress.succeeded, progress.failed, progress.deferred, progress.skipped)
            items.extend(
                ((progress.job, status), float(count))
                for status, count in zip(_BATCH_STATUSES, counts, strict=True)
            )
            running.append(((progress.job,), float(progress.running)))
        return {BATCH_ITEMS: items, BATCH_RUNNING: running}

    def _read_health(self) -> list[Sample]:
        found: dict[str, float] = {}
        for health in self._health:
            for name, component in health.latest().items():
                found.setdefault(name, float(HEALTH_CODES[component.status]))
        return [((name,), code) for name, code in found.items()]


def _holds(sources: tuple[object, ...], source: object) -> bool:
    return any(known is source for known in sources)
