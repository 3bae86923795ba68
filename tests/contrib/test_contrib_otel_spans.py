"""OpenTelemetry spans per attempt: one span per call, one child span per attempt, real SDK."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode, get_current_span

from resilience import BreakerConfig, CircuitBreaker, CircuitOpenError, Pipeline, RetryPolicy
from resilience.contrib.otel import OTelSpans
from resilience.testing import FakeClock


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    yield exporter
    exporter.shutdown()


@pytest.fixture
def spans(exporter: InMemorySpanExporter) -> OTelSpans:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return OTelSpans(tracer_provider=provider)


def finished(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return sorted(exporter.get_finished_spans(), key=lambda s: s.start_time or 0)


def flaky(failures: int) -> Callable[[], str]:
    left = [failures]

    def fetch() -> str:
        if left[0]:
            left[0] -= 1
            raise ConnectionResetError("reset by peer")
        return "ok"

    return fetch


def test_a_span_per_attempt_under_the_calls_span(
    spans: OTelSpans, exporter: InMemorySpanExporter, fake_clock: FakeClock
) -> None:
    """Two failures then a success: one call span, three attempt spans, the first two failed."""
    fetch = flaky(2)
    pipeline = Pipeline(
        spans.operation, RetryPolicy(attempts=3, clock=fake_clock), spans.attempt, clock=fake_clock
    )
    assert pipeline.call(fetch) == "ok"
    call, *attempts = finished(exporter)
    assert call.name.endswith("flaky.<locals>.fetch")
    assert call.attributes is not None
    assert call.attributes["resilience.attempts"] == 3
    assert call.attributes["code.function.name"] == call.name
    assert call.status.status_code is StatusCode.UNSET
    assert [a.name for a in attempts] == [f"{call.name} attempt"] * 3
    assert [dict(a.attributes or {})["resilience.attempt"] for a in attempts] == [1, 2, 3]
    assert all(a.parent is not None and a.parent.span_id == call.context.span_id for a in attempts)
    assert [a.status.status_code for a in attempts] == [
        StatusCode.ERROR,
        StatusCode.ERROR,
        StatusCode.UNSET,
    ]
    failed = attempts[0]
    assert dict(failed.attributes or {})["error.type"] == "ConnectionResetError"
    assert [e.name for e in failed.events] == ["exception"]


def test_the_attempt_span_is_current_during_the_call(
    spans: OTelSpans, exporter: InMemorySpanExporter, fake_clock: FakeClock
) -> None:
    """Inside the call the current span is the attempt's, so library spans nest under it."""
    seen: list[int] = []

    def work() -> None:
        seen.append(get_current_span().get_span_context().span_id)

    Pipeline(spans.operation, spans.attempt, clock=fake_clock).call(work)
    call, attempt = finished(exporter)
    assert seen == [attempt.context.span_id]
    assert attempt.parent is not None
    assert attempt.parent.span_id == call.context.span_id


def test_a_breaker_rejection_is_a_failed_attempt(
    spans: OTelSpans, exporter: InMemorySpanExporter, fake_clock: FakeClock
) -> None:
    """With the attempt span outside the breaker, a refused call shows as CircuitOpenError."""
    breaker = CircuitBreaker("db", BreakerConfig(failure_threshold=1), clock=fake_clock)
    breaker.force_open()
    pipeline = Pipeline(spans.operation, spans.attempt, breaker, clock=fake_clock)
    with pytest.raises(CircuitOpenError):
        pipeline.call(lambda: "never")
    call, attempt = finished(exporter)
    assert (
        dict(attempt.attributes or {})["error.type"]
        == "resilience._breaker.errors.CircuitOpenError"
    )
    assert call.status.status_code is StatusCode.ERROR
    assert dict(call.attributes or {})["resilience.attempts"] == 1


def test_async_calls_and_a_given_name(
    exporter: InMemorySpanExporter, fake_clock: FakeClock
) -> None:
    """An async call gets the same spans; name= names them."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    spans = OTelSpans(tracer_provider=provider, name="payments.charge")
    left = [1]

    @Pipeline(spans.operation, RetryPolicy(attempts=2, clock=fake_clock), spans.attempt)
    async def charge() -> str:
        if left[0]:
            left[0] -= 1
            raise TimeoutError
        return "charged"

    assert asyncio.run(charge()) == "charged"
    assert [s.name for s in finished(exporter)] == [
        "payments.charge",
        "payments.charge attempt",
        "payments.charge attempt",
    ]
    assert "payments.charge" in repr(spans)


def test_attempt_spans_without_an_operation(
    spans: OTelSpans, exporter: InMemorySpanExporter, fake_clock: FakeClock
) -> None:
    """Alone, the attempt strategy spans each attempt as attempt 1 of its own, with no parent."""
    Pipeline(spans.attempt, clock=fake_clock).call(lambda: None)
    [attempt] = finished(exporter)
    assert dict(attempt.attributes or {})["resilience.attempt"] == 1
    assert attempt.parent is None
