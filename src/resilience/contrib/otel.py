"""OpenTelemetry metrics and span events for breakers, retries, budgets, batches and health.

::

    metrics = OTelMetrics()                     # the global MeterProvider
    metrics.instrument(registry=breakers, health=health, budgets={"payments": budget})
    policy = RetryPolicy(on_retry=metrics.on_retry)

Calls, transitions and retries are counted as they happen; breaker states, budgets,
batches and health are read from their snapshots when the SDK collects. Only the
OpenTelemetry API is needed (``pip install 'resilience[otel]'``); the application
configures the SDK and its exporters. See ``docs/metrics.md`` for every metric.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
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
from resilience._breaker.registry import BreakerRegistry
from resilience._core.events import CallRecorded, CallRejected, Event, RetryScheduled, StateChanged
from resilience._retry.budget import RetryBudget
from resilience._version import __version__
from resilience.batch import BatchProcessor
from resilience.contrib._observe import (
    ATTRIBUTES,
    CALL_DURATION,
    DURATION_BUCKETS,
    EVENT_METRICS,
    METRICS,
    REJECTED,
    Counts,
    Kind,
    MetricSpec,
    Sources,
    report_failure,
    retry_labels,
)
from resilience.health import HealthRegistry

__all__ = ["OTelMetrics"]

_REMOTE: Final = ATTRIBUTES["remote"]
_OUTCOME: Final = ATTRIBUTES["outcome"]
_FROM: Final = ATTRIBUTES["from"]
_TO: Final = ATTRIBUTES["to"]
_KIND: Final = ATTRIBUTES["kind"]
_ERROR_TYPE: Final = ATTRIBUTES["error_type"]
_CACHED: Final = 4096  # attribute sets kept for reuse; cleared when full


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

    __slots__ = ("__weakref__", "_attributes", "_counts", "_duration", "_sources", "_span_events")

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
        self._attributes: dict[tuple[str, str], dict[str, str]] = {}
        self._duration = _histogram(meter, CALL_DURATION) if durations else None
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
    ) -> None:
        """Observe these sources from now on; each is attached once, however often given.

        Args:
            registry: Its breakers' calls and transitions are counted (a listener is
                added to every breaker, existing or later) and their states read.
            breakers: The same, for breakers that are in no registry.
            health: The last known status of each component is read (no check is run).
            batches: The progress of each job's current or last run is read.
            budgets: Retry budgets by the name to report them under.
        """
        for target in self._sources.add(
            registry=registry, breakers=breakers, health=health, batches=batches, budgets=budgets
        ):
            target.add_listener(self.listener)

    def listener(self, event: Event) -> None:
        """A breaker listener: counts calls, rejections and transitions."""
        if isinstance(event, CallRecorded):
            outcome = event.outcome.value
            self._counts.call(event.name, outcome, None)
            if self._duration is not None:
                self._duration.record(event.duration, self._call_attributes(event.name, outcome))
        elif isinstance(event, CallRejected):
            self._counts.call(event.name, REJECTED, None)
        elif isinstance(event, StateChanged):
            old, new = event.old.value, event.new.value
            self._counts.transition(event.name, old, new)
            if self._span_events:
                span = get_current_span()
                if span.is_recording():
                    span.add_event(
                        "resilience.breaker.transition",
                        {
                            _REMOTE: event.name,
                            _FROM: old,
                            _TO: new,
                            "resilience.reason": event.reason,
                        },
                    )

    def on_retry(self, event: RetryScheduled) -> None:
        """Count a scheduled retry; pass as ``RetryPolicy(on_retry=metrics.on_retry)``."""
        try:
            self._counts.retry(event)
            if self._span_events:
                span = get_current_span()
                if span.is_recording():
                    kind, error = retry_labels(event)
                    span.add_event(
                        "resilience.retry",
                        {
                            "resilience.attempt": event.attempt,
                            "resilience.delay": event.delay,
                            "resilience.elapsed": event.elapsed,
                            "resilience.reason": event.classification.reason,
                            _KIND: kind,
                            _ERROR_TYPE: error,
                        },
                    )
        except Exception as exc:
            # A retry policy does not guard its on_retry: never break the retrying.
            report_failure(self, "on_retry", exc)

    def _call_attributes(self, remote: str, outcome: str) -> dict[str, str]:
        # One dict per (remote, outcome), made once and never changed, so it is shared.
        cache = self._attributes
        attributes = cache.get((remote, outcome))
        if attributes is None:
            if len(cache) >= _CACHED:
                cache.clear()
            attributes = cache[remote, outcome] = {_REMOTE: remote, _OUTCOME: outcome}
        return attributes

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
