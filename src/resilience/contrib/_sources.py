"""What an exporter reads at collection time: breakers, budgets, batches, health, strategies.

:class:`Sources` holds the objects an exporter was given and reads their snapshots
when it collects, as ``(label values, value)`` readings of the metrics they provide.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Final

from resilience._breaker.breaker import BreakerSnapshot, CircuitBreaker
from resilience._breaker.events import CircuitState, Listener
from resilience._breaker.registry import BreakerRegistry
from resilience._core.measure import Measured, check_measured
from resilience._retry.budget import RetryBudget
from resilience.batch import BatchProcessor
from resilience.contrib._measured import MeasuredSources
from resilience.contrib._metrics import (
    BATCH_ITEMS,
    BATCH_METRICS,
    BATCH_RUNNING,
    BREAKER_METRICS,
    BREAKER_STATE,
    BUDGET_ALLOWED,
    BUDGET_CALLS,
    BUDGET_METRICS,
    BUDGET_REJECTED,
    BUDGET_RETRIES,
    CONSECUTIVE,
    FAILURE_RATE,
    HEALTH,
    HEALTH_METRICS,
    MetricSpec,
    Sample,
)
from resilience.health import ComponentStatus, HealthRegistry

__all__ = ["HEALTH_CODES", "Sources"]

HEALTH_CODES: Final = {
    ComponentStatus.OK: 0,
    ComponentStatus.WARNING: 1,
    ComponentStatus.ERROR: 2,
    ComponentStatus.UNKNOWN: 3,
}
"""The value of ``HEALTH`` for each status."""
_STATES: Final = tuple((state, state.value) for state in CircuitState)
_BATCH_STATUSES: Final = ("succeeded", "failed", "deferred", "skipped")


class Sources:
    """What an exporter reads at collection time; sources are added, never removed."""

    __slots__ = (
        "_batches",
        "_breakers",
        "_budgets",
        "_health",
        "_lock",
        "_registries",
        "measured",
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._registries: tuple[BreakerRegistry, ...] = ()
        self._breakers: tuple[CircuitBreaker, ...] = ()
        self._health: tuple[HealthRegistry, ...] = ()
        self._batches: tuple[BatchProcessor, ...] = ()
        self._budgets: dict[str, RetryBudget] = {}
        self.measured = MeasuredSources()
        """The strategies that show measurements, read generically."""

    def add(  # noqa: PLR0917 - an exporter's own arguments, passed on in their order
        self,
        listener: Listener,
        registry: BreakerRegistry | None,
        breakers: Iterable[CircuitBreaker],
        health: HealthRegistry | None,
        batches: Iterable[BatchProcessor],
        budgets: Mapping[str, RetryBudget] | None,
        strategies: Iterable[Measured],
        /,
    ) -> None:
        """Add sources (each once); ``listener`` goes to each registry and breaker new here.

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
        measured = check_measured(strategies)
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
        self.measured.add(measured)
        for target in new:
            target.add_listener(listener)

    def metrics(self) -> list[MetricSpec]:
        """The metrics read from snapshots that the sources so far provide."""
        found: list[MetricSpec] = []
        if self._registries or self._breakers:
            found.extend(BREAKER_METRICS)
        if self._budgets:
            found.extend(BUDGET_METRICS)
        if self._batches:
            found.extend(BATCH_METRICS)
        if self._health:
            found.extend(HEALTH_METRICS)
        if self.measured:
            found.extend(self.measured.read())  # the strategies' metrics shown so far
        return found

    def read(self, metric: MetricSpec) -> list[Sample]:
        """The current readings of one metric read from snapshots."""
        if metric in BREAKER_METRICS:
            return self._read_breakers()[metric]
        if metric in BUDGET_METRICS:
            return self._read_budgets()[metric]
        if metric in BATCH_METRICS:
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
        if self.measured:
            readings.update(self.measured.read())
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
