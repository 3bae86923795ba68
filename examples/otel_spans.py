"""OpenTelemetry spans per attempt: a call span, and a child span for each attempt.

A flaky lookup fails twice, then answers; the SDK's console exporter is replaced by a
short summary of the finished spans: names, parents, attempt numbers, error types.
"""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from resilience import BreakerConfig, CircuitBreaker, Pipeline, RetryPolicy
from resilience.contrib.otel import OTelSpans
from resilience.testing import FakeClock

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
spans = OTelSpans(tracer_provider=provider, name="inventory.lookup")
clock = FakeClock()  # the retries' waits are not slept for real here

failures = [TimeoutError("no answer in 2 s"), ConnectionResetError("reset by peer")]


def lookup(sku: str) -> int:
    if failures:
        raise failures.pop()
    return len(sku)


breaker = CircuitBreaker("inventory", BreakerConfig(failure_threshold=5), clock=clock)
traced = Pipeline(
    spans.operation,
    RetryPolicy(attempts=3, clock=clock),
    spans.attempt,  # outside the breaker: a rejection would be a failed attempt
    breaker,
)
print(f"lookup -> {traced.call(lookup, 'sku-123')}")
finished = sorted(exporter.get_finished_spans(), key=lambda s: s.start_time or 0)
call = finished[0]
for span in finished:
    attributes = dict(span.attributes or {})
    parent = "call" if span.parent and span.parent.span_id == call.context.span_id else "-"
    print(
        f"  {span.name:<26} parent={parent:<4} status={span.status.status_code.name:<5} "
        f"attempt={attributes.get('resilience.attempt', '-')} "
        f"error.type={attributes.get('error.type', '-')}"
    )
if len(finished) != 4:
    raise SystemExit(f"expected a call span and 3 attempt spans, got {len(finished)}")
