"""A Prometheus collector for breakers, retries, budgets, batches, health and strategies.

::

    collector = PrometheusCollector(registry=breakers, health=health)
    prometheus_client.REGISTRY.register(collector)
    policy = RetryPolicy(on_retry=collector.on_retry)

Calls, transitions and retries are counted in the collector as they happen (it adds
its own listener to the breakers); breaker states, budgets, batches and health are read
from their snapshots at scrape time. Needs ``pip install 'resilience-engine[prometheus]'``.
See ``docs/metrics.md`` for every metric.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Final

from resilience._core.extras import missing

try:
    from prometheus_client.metrics_core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
        Metric,
    )
except ImportError as exc:  # tested by hiding the library from sys.modules
    raise missing("prometheus", "prometheus-client") from exc

from resilience._breaker.breaker import CircuitBreaker
from resilience._breaker.registry import BreakerRegistry
from resilience._core.events import Event
from resilience._core.measure import Measured
from resilience._retry.budget import RetryBudget
from resilience._retry.events import RetryScheduled
from resilience.batch import BatchProcessor
from resilience.contrib._counts import COUNTED, Counts
from resilience.contrib._failures import report_failure
from resilience.contrib._metrics import (
    CALL_DURATION,
    CALLS,
    DURATION_BUCKETS,
    EVENT_METRICS,
    RETRIES,
    TRANSITIONS,
    Kind,
    MetricSpec,
    Sample,
)
from resilience.contrib._sources import Sources
from resilience.health import HealthRegistry

__all__ = ["PrometheusCollector"]

_NAMESPACE: Final = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_BOUNDS: Final = (*(repr(float(b)) for b in DURATION_BUCKETS), "+Inf")  # as "le" labels


class PrometheusCollector:
    """A prometheus-client collector of resilience metrics.

    Register it with ``prometheus_client.REGISTRY.register(collector)`` (or with a
    ``CollectorRegistry`` of your own), pass :meth:`on_retry` to each
    :class:`~resilience.RetryPolicy`, and add :meth:`listener` to a breaker that is in
    neither ``registry`` nor ``breakers``. Register a collector once: each registry it
    is registered with reports the same counts.

    Args:
        registry: Its breakers' calls and transitions are counted (a listener is added
            to every breaker, existing or later) and their states read at scrape time.
        breakers: The same, for breakers that are in no registry.
        health: The last known status of each component is read (no check is run).
        batches: The progress of each job's current or last run is read.
        budgets: Retry budgets by the name to report them under.
        strategies: Strategies that show measurements (:class:`~resilience.Measured`:
            a bulkhead, a limiter, a ``Remotes`` registry of them), read at scrape time:
            each gauge ``<gauge>`` of a measurement of kind ``<kind>`` is the gauge
            ``resilience_<kind>_<gauge>``, each total the counter
            ``resilience_<kind>_<total>_total``, and ``resilience_<kind>_healthy`` is 1
            or 0, all labelled ``name``.
        namespace: The prefix of every metric name (``resilience_calls_total``); ""
            for none.
        durations: Keep the histogram of call durations (17 series per remote and
            outcome); without it, ``resilience_call_duration_seconds`` has no samples.
    """

    __slots__ = ("__weakref__", "_counts", "_prefix", "_sources")

    def __init__(
        self,
        *,
        registry: BreakerRegistry | None = None,
        breakers: Iterable[CircuitBreaker] = (),
        health: HealthRegistry | None = None,
        batches: Iterable[BatchProcessor] = (),
        budgets: Mapping[str, RetryBudget] | None = None,
        strategies: Iterable[Measured] = (),
        namespace: str = "resilience",
        durations: bool = True,
    ) -> None:
        if not isinstance(namespace, str) or (namespace and not _NAMESPACE.fullmatch(namespace)):
            raise ValueError(
                f"namespace must be a Prometheus name prefix (letters, digits, _ and :, "
                f"not starting with a digit) or '', got {namespace!r}"
            )
        self._prefix = f"{namespace}_" if namespace else ""
        self._counts = Counts(durations=durations)
        self._sources = Sources()
        self._sources.add(self.listener, registry, breakers, health, batches, budgets, strategies)

    def __repr__(self) -> str:
        return f"PrometheusCollector(namespace={self._prefix[:-1]!r})"

    # ------------------------------------------------------------------ events

    def listener(self, event: Event) -> None:
        """A breaker listener: counts calls, rejections and transitions."""
        counted = COUNTED.get(event.event_name)
        if counted is not None:
            self._counts.add(counted, event)

    def on_retry(self, event: RetryScheduled) -> None:
        """Count a scheduled retry; pass as ``RetryPolicy(on_retry=collector.on_retry)``."""
        try:
            self.listener(event)
        except Exception as exc:
            # A retry policy does not guard its on_retry: never break the retrying.
            report_failure(self, "on_retry", exc)

    # -------------------------------------------------------- the Collector protocol

    def collect(self) -> Iterator[Metric]:
        """Every metric: the counts so far, and the snapshots read now."""
        counts = self._counts
        yield self._family(CALLS, counts.read(CALLS))
        histogram = self._histogram()
        for labels, cumulative, total in counts.histograms():
            buckets = [(le, float(n)) for le, n in zip(_BOUNDS, cumulative, strict=True)]
            histogram.add_metric(labels, buckets, total)
        yield histogram
        yield self._family(TRANSITIONS, counts.read(TRANSITIONS))
        yield self._family(RETRIES, counts.read(RETRIES))
        for metric, samples in self._sources.read_all().items():
            yield self._family(metric, samples)

    def describe(self) -> list[Metric]:
        """The metrics :meth:`collect` yields, without samples (for duplicate checks)."""
        families: list[Metric] = []
        for metric in (*EVENT_METRICS, *self._sources.metrics()):
            is_histogram = metric.kind is Kind.HISTOGRAM
            families.append(self._histogram() if is_histogram else self._family(metric, []))
        return families

    def _family(self, metric: MetricSpec, samples: list[Sample]) -> Metric:
        name, doc, labels = self._prefix + metric.prometheus, metric.description, metric.labels
        family: GaugeMetricFamily | CounterMetricFamily
        if metric.kind is Kind.GAUGE:
            family = GaugeMetricFamily(name, doc, labels=labels, unit=metric.prometheus_unit)
        else:
            family = CounterMetricFamily(name, doc, labels=labels, unit=metric.prometheus_unit)
        for values, value in samples:
            family.add_metric(values, value)
        return family

    def _histogram(self) -> HistogramMetricFamily:
        metric = CALL_DURATION
        return HistogramMetricFamily(
            self._prefix + metric.prometheus,
            metric.description,
            labels=metric.labels,
            unit=metric.prometheus_unit,
        )
