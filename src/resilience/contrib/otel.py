"""OpenTelemetry metrics, span events, and a span per attempt, for resilience.

::

    metrics = OTelMetrics()                     # the global MeterProvider
    metrics.instrument(registry=breakers, health=health, budgets={"payments": budget})
    policy = RetryPolicy(on_retry=metrics.on_retry)

    spans = OTelSpans()                         # the global TracerProvider
    fetch = Pipeline(spans.operation, RetryPolicy(attempts=3), spans.attempt, breaker)

Calls, transitions and retries are counted as they happen; breaker states, budgets,
batches, health and the measurements of strategies (a bulkhead, a limiter: read
generically) are read when the SDK collects. Only the OpenTelemetry API is needed
(``pip install 'resilience-engine[otel]'``); the application
configures the SDK and its exporters. See ``docs/metrics.md`` for every metric.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Final

from resilience._core.extras import missing

try:
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.metrics import (
        CallbackOptions,
        Histogram,
        Meter,
        MeterProvider,
        Observation,
        get_meter,
    )
    from opentelemetry.trace import Span, Status, StatusCode, TracerProvider, get_current_span
except ImportError as exc:  # tested by hiding the library from sys.modules
    raise missing("otel", "the OpenTelemetry API") from exc

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

__all__ = ["OTelMetrics", "OTelSpans"]

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
        self._sources.add(self.listener, registry, breakers, health, batches, budgets, strategies)
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


# Semantic-convention attribute names (opentelemetry-semantic-conventions, stable ones);
# what the conventions have no name for is under resilience.*.
_ERROR_TYPE: Final = "error.type"
_CODE_FUNCTION: Final = "code.function.name"
_ATTEMPT: Final = "resilience.attempt"
_ATTEMPTS: Final = "resilience.attempts"


def _qualified(fn: Callable[..., Any] | None) -> str:
    if fn is None:
        return "block"
    module = getattr(fn, "__module__", None)
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{module}.{name}" if module else str(name)


def _error_type(error: BaseException) -> str:
    kind = type(error)
    return (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )


def _fail(span: Span, error: BaseException) -> None:
    span.set_attribute(_ERROR_TYPE, _error_type(error))
    span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, type(error).__name__))


class _Run:
    """One call's span and its attempts so far."""

    __slots__ = ("attempts", "fn_name", "span")

    def __init__(self, span: Span, fn_name: str) -> None:
        self.span = span
        self.fn_name = fn_name
        self.attempts = 0


_RUN: ContextVar[_Run | None] = ContextVar("resilience_otel_run", default=None)


class _Operation:
    """The strategy of :attr:`OTelSpans.operation`: one span around the whole call."""

    def __init__(self, spans: OTelSpans) -> None:
        self._spans = spans

    def before(
        self, fn: Callable[..., Any] | None, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> object:
        name = _qualified(fn)
        span = self._spans.tracer.start_span(
            self._spans.name or name, attributes={_CODE_FUNCTION: name}
        )
        run = _Run(span, name)
        context_token = otel_context.attach(trace.set_span_in_context(span))
        return run, context_token, _RUN.set(run)

    def after(self, token: Any, value: object, error: BaseException | None) -> None:  # noqa: ANN401
        run, context_token, run_token = token
        _RUN.reset(run_token)
        otel_context.detach(context_token)
        span = run.span
        span.set_attribute(_ATTEMPTS, run.attempts)
        if error is not None:
            _fail(span, error)
        span.end()


class _Attempt:
    """The strategy of :attr:`OTelSpans.attempt`: one span per attempt, child of the call's."""

    def __init__(self, spans: OTelSpans) -> None:
        self._spans = spans

    def before(
        self, fn: Callable[..., Any] | None, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> object:
        run = _RUN.get()
        if run is None:  # no operation span outside: each attempt is a call of its own
            name, number = _qualified(fn), 1
        else:
            run.attempts += 1
            name, number = run.fn_name, run.attempts
        span = self._spans.tracer.start_span(
            f"{self._spans.name or name} attempt",
            attributes={_CODE_FUNCTION: name, _ATTEMPT: number},
        )
        return span, otel_context.attach(trace.set_span_in_context(span))

    def after(self, token: Any, value: object, error: BaseException | None) -> None:  # noqa: ANN401
        span, context_token = token
        otel_context.detach(context_token)
        if error is not None:
            _fail(span, error)
        span.end()


class OTelSpans:
    """Trace spans for calls and their attempts, as two strategies of a pipeline.

    ``Pipeline(spans.operation, retry, spans.attempt, breaker)``: :attr:`operation`
    (outermost) opens one span for the whole call, waits between attempts included;
    :attr:`attempt` (inside the retry) one child span per attempt, current while the
    attempt runs, so that the client library's own spans nest under it. A failed span
    has the status ERROR, the exception recorded as an event, and ``error.type``; each
    has ``code.function.name`` and the attempt's ``resilience.attempt`` (from 1), the
    call's ``resilience.attempts``. Put :attr:`attempt` outside the breaker to see its
    rejections as failed attempts.

    Args:
        tracer_provider: Where the tracer comes from; the global provider by default.
        name: The span name (attempts: ``"<name> attempt"``); the function's by default.
    """

    def __init__(
        self, *, tracer_provider: TracerProvider | None = None, name: str | None = None
    ) -> None:
        self.tracer = trace.get_tracer("resilience", __version__, tracer_provider=tracer_provider)
        self.name = name
        self.operation = _Operation(self)
        """The strategy that spans the whole call: put it outermost."""
        self.attempt = _Attempt(self)
        """The strategy that spans each attempt: put it inside the retry."""

    def __repr__(self) -> str:
        return f"OTelSpans(name={self.name!r})"
