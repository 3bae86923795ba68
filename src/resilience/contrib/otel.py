"""OpenTelemetry metrics and span events: breakers, retries, budgets, health, strategies.

::

    metrics = OTelMetrics()                     # the global MeterProvider
    metrics.instrument(registry=breakers, health=health, budgets={"payments": budget})
    policy = RetryPolicy(on_retry=metrics.on_retry)

Calls, transitions and retries are counted as they happen; breaker states, budgets,
batches, health and the measurements of strategies (a bulkhead, a limiter: read
generically) are read when the SDK collects. Only the
OpenTelemetry API is needed (``pip install 'resilience[otel]'``); the application
configures the SDK and its exporters. See ``docs/metrics.md`` for every metric.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final

try:
    from opentelemetry.metrics import (
        CallbackOptions,
        Histogram,
        Meter,
        MeterProvider,
        Observation,
        get_meter,
    )
    from opentelemetry.trace import get_current_span
except ImportError as exc:  # tested by hiding the library from sys.modules
    raise ImportError(
        "resilience.contrib.otel needs the OpenTelemetry API: pip install 'resilience[otel]'"
    ) from exc

from resilience._breaker.breaker import CircuitBreaker
from resilience._breaker.events import TRANSITION_NAMES
from resilience._breaker.registry import BreakerRegistry
from resilience._core.events import Event
from resilience._core.measure import Measured
from resilience._retry.budget import RetryBudget
from resilience._retry.events import RetryScheduled
from resilience._version import __version__
from resilience.batch import BatchProcessor
from resilience.contrib._counts import COUNTED, Counts
from resilience.contrib._failures import report_failure
from resilience.contrib._metrics import (
    CALL_DURATION,
    DURATION_BUCKETS,
    EVENT_METRICS,
    METRICS,
    Kind,
    MetricSpec,
)
from resilience.contrib._sources import Sources
from resilience.health import HealthRegistry

__all__ = ["OTelMetrics"]

_CACHED: Final = 4096  # attribute sets kept for reuse; cleared when full


@dataclass(frozen=True, slots=True)
class _SpanEvent:
    """The span event an event becomes: its counter's labels, and some of its fields."""

    name: str
    details: tuple[str, ...]
    """Fields of the event, each an attribute ``resilience.<field>``."""


_TRANSITION: Final = _SpanEvent("resilience.breaker.transition", ("reason",))
# By event name; the labels of its counter (in COUNTED) are attributes of the span event.
_SPAN_EVENTS: Final = dict.fromkeys(TRANSITION_NAMES.values(), _TRANSITION) | {
    "retry.scheduled": _SpanEvent("resilience.retry", ("attempt", "delay", "elapsed", "reason")),
}


class OTelMetrics:
    """Reports resilience metrics through an OpenTelemetry ``MeterProvider``.

    Attach it with :meth:`instrument` (registries, breakers, health, batches, budgets),
    pass :meth:`on_retry` to each :class:`~resilience.RetryPolicy`, and add
    :meth:`listener` to a breaker that is in no instrumented registry. Instruments are
    created once, here; :meth:`instrument` may be called again to add sources.

    Calls, transitions and retries are counted in this object (a lock and a dict
    update) and reported through observable counters when the SDK collects: a
    synchronous counter costs several microseconds per call in the SDK. The duration
    histogram is synchronous (OpenTelemetry has no observable histogram), so that its
    exemplars can point at the current trace; ``durations=False`` leaves it out.

    A breaker transition and a scheduled retry also become an event on the current
    span, when one is recording: ``resilience.breaker.transition`` and
    ``resilience.retry``.

    Args:
        meter_provider: Where the instruments come from; the global provider by default.
        durations: Record ``resilience.call.duration`` for every call.
        span_events: Add span events to the current span (it is taken from the context,
            so no tracer provider is needed).
    """

    __slots__ = (
        "__weakref__",
        "_attributes",
        "_counts",
        "_discovering",
        "_duration",
        "_lock",
        "_measured",
        "_meter",
        "_sources",
        "_span_events",
    )

    def __init__(
        self,
        *,
        meter_provider: MeterProvider | None = None,
        durations: bool = True,
        span_events: bool = True,
    ) -> None:
        meter = get_meter("resilience", __version__, meter_provider=meter_provider)
        self._counts = Counts(durations=False)  # the SDK's histogram keeps the durations
        self._sources = Sources()
        self._span_events = span_events
        self._attributes: dict[tuple[str, ...], dict[str, str]] = {}
        self._duration = _histogram(meter, CALL_DURATION) if durations else None
        self._meter = meter
        self._lock = threading.Lock()  # held while creating instruments, never in a callback
        self._measured: set[MetricSpec] = set()  # the strategies' metrics with an instrument
        self._discovering = False
        for metric in METRICS:
            if metric.kind is Kind.GAUGE:
                meter.create_observable_gauge(
                    metric.name, [self._callback(metric)], metric.unit, metric.description
                )
            elif metric.kind is not Kind.HISTOGRAM:
                meter.create_observable_counter(
                    metric.name, [self._callback(metric)], metric.unit, metric.description
                )

    def __repr__(self) -> str:
        return "OTelMetrics()"

    def instrument(
        self,
        *,
        registry: BreakerRegistry | None = None,
        breakers: Iterable[CircuitBreaker] = (),
        health: HealthRegistry | None = None,
        batches: Iterable[BatchProcessor] = (),
        budgets: Mapping[str, RetryBudget] | None = None,
        strategies: Iterable[Measured] = (),
    ) -> None:
        """Observe these sources from now on; each is attached once, however often given.

        Args:
            registry: Its breakers' calls and transitions are counted (a listener is
                added to every breaker, existing or later) and their states read.
            breakers: The same, for breakers that are in no registry.
            health: The last known status of each component is read (no check is run).
            batches: The progress of each job's current or last run is read.
            budgets: Retry budgets by the name to report them under.
            strategies: Strategies that show measurements (:class:`~resilience.Measured`:
                a bulkhead, a limiter, a ``Remotes`` registry of them): each gauge of a
                measurement of kind ``<kind>`` is the gauge ``resilience.<kind>.<gauge>``,
                each total the counter ``resilience.<kind>.<total>``, and
                ``resilience.<kind>.healthy`` is 1 or 0, with the attribute
                ``resilience.name``. A metric is created when it is first seen: here, or
                at a collection, and then it is reported from the next collection on.
        """
        for target in self._sources.add(
            registry=registry,
            breakers=breakers,
            health=health,
            batches=batches,
            budgets=budgets,
            strategies=strategies,
        ):
            target.add_listener(self.listener)
        self._discover()

    def listener(self, event: Event) -> None:
        """A breaker listener: counts calls, rejections and transitions."""
        name = event.event_name
        counted = COUNTED.get(name)
        if counted is None:
            return
        labels = self._counts.add(counted, event)
        if counted.duration is not None and self._duration is not None:
            self._duration.record(counted.duration(event), self._call_attributes(labels))
        if self._span_events:
            shown = _SPAN_EVENTS.get(name)
            if shown is not None:
                span = get_current_span()
                if span.is_recording():
                    attributes = dict(zip(counted.metric.attributes, labels, strict=True))
                    fields = event.fields()
                    for field in shown.details:
                        attributes[f"resilience.{field}"] = fields[field]  # type: ignore[assignment]
                    span.add_event(shown.name, attributes)

    def on_retry(self, event: RetryScheduled) -> None:
        """Count a scheduled retry; pass as ``RetryPolicy(on_retry=metrics.on_retry)``."""
        try:
            self.listener(event)
        except Exception as exc:
            # A retry policy does not guard its on_retry: never break the retrying.
            report_failure(self, "on_retry", exc)

    def _call_attributes(self, labels: tuple[str, ...]) -> dict[str, str]:
        # One dict per (remote, outcome), made once and never changed, so it is shared.
        cache = self._attributes
        attributes = cache.get(labels)
        if attributes is None:
            if len(cache) >= _CACHED:
                cache.clear()
            attributes = cache[labels] = dict(zip(CALL_DURATION.attributes, labels, strict=True))
        return attributes

    def _discover(self) -> None:
        # Never called from a callback: the SDK holds its lock while it collects, and
        # creating an instrument takes it.
        with self._lock:
            for metric in self._sources.measured.read():
                if metric in self._measured:
                    continue
                self._measured.add(metric)
                callback = [self._measured_callback(metric)]
                if metric.kind is Kind.GAUGE:
                    self._meter.create_observable_gauge(
                        metric.name, callback, metric.unit, metric.description
                    )
                else:
                    self._meter.create_observable_counter(
                        metric.name, callback, metric.unit, metric.description
                    )
        self._discovering = False

    def _measured_callback(
        self, metric: MetricSpec
    ) -> Callable[[CallbackOptions], list[Observation]]:
        names = metric.attributes

        def observe(_options: CallbackOptions) -> list[Observation]:
            readings = self._sources.measured.read()
            if not self._discovering and any(m not in self._measured for m in readings):
                # A kind or field first seen now: its instrument is made once the SDK
                # has collected (it holds its lock), and read from the next collection.
                self._discovering = True
                threading.Thread(
                    target=self._discover, name="resilience-otel-instruments", daemon=True
                ).start()
            return [
                Observation(value, dict(zip(names, labels, strict=True)))
                for labels, value in readings.get(metric, ())
            ]

        observe.__qualname__ = f"OTelMetrics.observe[{metric.name}]"
        return observe

    def _callback(self, metric: MetricSpec) -> Callable[[CallbackOptions], list[Observation]]:
        read = self._counts.read if metric in EVENT_METRICS else self._sources.read
        names = metric.attributes

        def observe(_options: CallbackOptions) -> list[Observation]:
            return [
                Observation(value, dict(zip(names, labels, strict=True)))
                for labels, value in read(metric)
            ]

        observe.__qualname__ = f"OTelMetrics.observe[{metric.name}]"
        return observe


def _histogram(meter: Meter, metric: MetricSpec) -> Histogram:
    try:
        return meter.create_histogram(
            metric.name,
            metric.unit,
            metric.description,
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
    except TypeError:  # opentelemetry-api < 1.23 takes no advice: the SDK's buckets
        return meter.create_histogram(metric.name, metric.unit, metric.description)
