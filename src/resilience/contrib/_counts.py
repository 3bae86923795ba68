"""Events counted as they happen: which metric each event updates, and the running totals.

:data:`COUNTED` maps an event's name to the counter it adds one to and how its labels
are read from it; :class:`Counts` keeps the totals (a lock and a dict update: much
cheaper than a synchronous OpenTelemetry instrument) until an exporter collects them.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Final

from resilience._breaker.events import TRANSITION_NAMES, CallRejected
from resilience._retry.events import RetryScheduled
from resilience.contrib._metrics import (
    CALLS,
    DURATION_BUCKETS,
    REJECTED,
    RETRIES,
    TRANSITIONS,
    MetricSpec,
    Sample,
)

__all__ = ["COUNTED", "Counted", "Counts", "error_type", "retry_labels"]


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


def _rejected_labels(event: CallRejected) -> tuple[str, str]:
    return event.name, REJECTED


@dataclass(frozen=True, slots=True)
class Counted:
    """The counter an event adds one to, and how to read its labels from the event.

    Labels are read from the event's attributes, not from its logged fields: a metric
    labels states and outcomes by value (``"half_open"``) and errors by qualified type.
    """

    metric: MetricSpec
    labels: Callable[[Any], tuple[str, ...]]
    """The label values, in the order of the metric's labels."""
    duration: Callable[[Any], float] | None = None
    """For a call: how long it took, recorded in ``CALL_DURATION`` under the same labels."""


# Labels and durations are read by attrgetter where they can be: C code, once per call.
_TRANSITION: Final = Counted(TRANSITIONS, attrgetter("name", "old.value", "new.value"))
COUNTED: Final[Mapping[str, Counted]] = dict.fromkeys(TRANSITION_NAMES.values(), _TRANSITION) | {
    "breaker.call": Counted(CALLS, attrgetter("name", "outcome.value"), attrgetter("duration")),
    "breaker.rejected": Counted(CALLS, _rejected_labels),
    "retry.scheduled": Counted(RETRIES, retry_labels),
}
"""By event name: what the event counts in; events not named here are not counted."""


class Counts:
    """Calls, rejections, transitions, retries (and call durations) counted as they happen.

    Thread-safe; the totals are kept for the life of the exporter, per label set.

    Args:
        durations: Also keep a histogram of call durations per remote and outcome.
    """

    __slots__ = ("_counters", "_durations", "_histograms", "_lock")

    def __init__(self, *, durations: bool) -> None:
        self._lock = threading.Lock()
        self._durations = durations
        # By the metric's name: a str caches its hash, a MetricSpec (a dataclass) hashes
        # its fields every time, and this is looked up on every call.
        self._counters: dict[str, dict[tuple[str, ...], int]] = {
            counted.metric.name: {} for counted in COUNTED.values()
        }
        self._histograms: dict[tuple[str, ...], _Histogram] = {}

    def add(self, counted: Counted, event: object) -> tuple[str, ...]:
        """Count ``event`` as ``counted`` says (and keep its duration); return its labels."""
        labels = counted.labels(event)
        counts = self._counters[counted.metric.name]
        duration = counted.duration
        with self._lock:
            counts[labels] = counts.get(labels, 0) + 1
            if duration is not None and self._durations:
                seconds = duration(event)
                histogram = self._histograms.get(labels)
                if histogram is None:
                    histogram = self._histograms[labels] = _Histogram()
                histogram.counts[bisect_left(DURATION_BUCKETS, seconds)] += 1
                histogram.total += seconds
        return labels

    def read(self, metric: MetricSpec) -> list[Sample]:
        """The totals of one counter of :data:`COUNTED` (``CALLS``, ``TRANSITIONS``, ...)."""
        counts = self._counters.get(metric.name)
        if counts is None:
            raise ValueError(f"{metric.name} is not counted from events")
        with self._lock:
            return [(labels, float(n)) for labels, n in counts.items()]

    def histograms(self) -> list[tuple[tuple[str, ...], list[int], float]]:
        """Per remote and outcome: cumulative counts per bucket, and the durations' sum.

        The buckets are ``DURATION_BUCKETS``, then +Inf.
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
