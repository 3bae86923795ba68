"""Metrics read from :class:`~resilience.Measured` strategies, whatever their kind.

A bulkhead, a rate limiter, an adaptive limiter, a registry of them per remote: each
shows :class:`~resilience.Measurement` values, and each gauge and total of one becomes
a metric named after its kind — ``resilience_<kind>_<gauge>`` (a gauge) and
``resilience_<kind>_<total>_total`` (a counter), labelled ``name`` — without the
exporters knowing the strategy's type.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Final

from resilience._core.measure import Measured, Measurement
from resilience.contrib._metrics import Kind, MetricSpec, Sample

__all__ = ["MeasuredSources", "metric_part"]

_UNSAFE: Final = re.compile(r"[^a-zA-Z0-9_]+")
_LABELS: Final = ("name",)
_HEALTHY: Final = "healthy"


def metric_part(word: str) -> str:
    """A kind or a field as a metric name part: lower case, ``_`` for anything else."""
    part = _UNSAFE.sub("_", word.strip()).strip("_").lower()
    return part or "unnamed"


class MeasuredSources:
    """The measured strategies an exporter reads; added, never removed. Thread-safe."""

    __slots__ = ("_lock", "_specs", "_strategies")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._strategies: tuple[Measured, ...] = ()
        # One spec per (kind, field, gauge or total), made once: the same object on
        # every read, so exporters can key their instruments by it.
        self._specs: dict[tuple[str, str, Kind], MetricSpec] = {}

    def add(self, strategies: Iterable[Measured]) -> None:
        """Read these too from now on (each once, however often given)."""
        with self._lock:
            for strategy in strategies:
                if not any(known is strategy for known in self._strategies):
                    self._strategies = (*self._strategies, strategy)

    def __bool__(self) -> bool:
        return bool(self._strategies)

    def measurements(self) -> list[Measurement]:
        """Every strategy's measurements; a (kind, name) shown twice is read once, first."""
        seen: set[tuple[str, str]] = set()
        found: list[Measurement] = []
        for strategy in self._strategies:
            for measurement in strategy.measurements():
                key = (measurement.kind, measurement.name)
                if key not in seen:
                    seen.add(key)
                    found.append(measurement)
        return found

    def read(self) -> dict[MetricSpec, list[Sample]]:
        """The readings of every metric the strategies show now, by metric."""
        readings: dict[MetricSpec, list[Sample]] = {}
        for measurement in self.measurements():
            kind = metric_part(measurement.kind)
            labels = (measurement.name,)
            for field, value in measurement.gauges.items():
                spec = self.spec(kind, metric_part(field), Kind.GAUGE)
                readings.setdefault(spec, []).append((labels, float(value)))
            spec = self.spec(kind, _HEALTHY, Kind.GAUGE)
            readings.setdefault(spec, []).append((labels, float(measurement.healthy)))
            for field, value in measurement.totals.items():
                spec = self.spec(kind, metric_part(field), Kind.OBSERVED_COUNTER)
                readings.setdefault(spec, []).append((labels, float(value)))
        return readings

    def spec(self, kind: str, field: str, measured: Kind) -> MetricSpec:
        """The metric of one field of one kind (name parts already made safe)."""
        key = (kind, field, measured)
        spec = self._specs.get(key)
        if spec is None:
            if field == _HEALTHY and measured is Kind.GAUGE:
                about = f"1 while the {kind} admits calls, 0 while it turns them away."
            elif measured is Kind.GAUGE:
                about = f"The {kind}'s {field}, read from its measurements."
            else:
                about = f"The {kind}'s {field} count since it was made, from its measurements."
            unit = "s" if field.endswith("_seconds") else "1"
            made = MetricSpec(f"resilience.{kind}.{field}", measured, unit, about, _LABELS)
            with self._lock:
                spec = self._specs.setdefault(key, made)
        return spec
