"""resilience.chaos: faults, latency and results injected at a rate, only while switched on."""

from __future__ import annotations

import asyncio
import logging
import random
import traceback

import pytest
from pydantic import ValidationError

from resilience import (
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    Pipeline,
    Remotes,
    RetryPolicy,
    Timeout,
    resilient,
)
from resilience.chaos import ChaosInjected, ChaosSwitch, InjectFault, InjectLatency, InjectResult
from resilience.testing import FakeClock


def outcomes(fn: object, calls: int) -> list[str]:
    """What each call gave: "ok", or the name of the exception it raised."""
    seen = []
    for _ in range(calls):
        try:
            fn()  # type: ignore[operator]
            seen.append("ok")
        except Exception as exc:
            seen.append(type(exc).__name__)
    return seen


def ping() -> str:
    return "pong"


def test_off_by_default_nothing_is_injected() -> None:
    """A chaos strategy without a switch turned on lets every call through, untouched."""
    fault = InjectFault(ConnectionError, rate=1.0)
    assert outcomes(fault(ping), 50) == ["ok"] * 50
    assert not fault.switch.enabled
    assert (fault.rolled, fault.injected) == (0, 0)
    (measurement,) = fault.measurements()
    assert measurement.kind == "chaos"
    assert measurement.state == "off"
    assert measurement.healthy
    assert repr(fault.switch) == "ChaosSwitch('chaos', off)"


def test_the_same_seed_injects_into_the_same_calls() -> None:
    """Two strategies with one seed fail the same calls; another seed fails others."""
    first = InjectFault(ConnectionError, rate=0.3, switch=True, seed=42)
    again = InjectFault(ConnectionError, rate=0.3, switch=True, seed=42)
    other = InjectFault(ConnectionError, rate=0.3, switch=True, seed=43)
    runs = [outcomes(s(ping), 200) for s in (first, again, other)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


@pytest.mark.parametrize("rate", [0.0, 0.05, 0.3, 1.0])
def test_the_rate_is_exact_with_a_seed_and_near_the_rate_over_many_calls(rate: float) -> None:
    """With a seed the count equals Random(seed)'s own; over 10,000 calls it is within 4 sigma."""
    calls = 10_000
    fault = InjectFault(ConnectionError, rate=rate, switch=True, seed=7)
    failed = outcomes(fault(ping), calls).count("ConnectionError")
    dice = random.Random(7)
    assert failed == sum(dice.random() < rate for _ in range(calls))
    sigma = (calls * rate * (1 - rate)) ** 0.5
    assert abs(failed - calls * rate) <= 4 * sigma
    assert (fault.rolled, fault.injected) == (calls, failed)


def test_switching_at_run_time_logs_a_warning_when_enabled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """enable() starts injecting, with one WARNING line; disable() stops it, at INFO."""
    drill = ChaosSwitch("checkout drill")
    fault = InjectFault(ConnectionError, rate=1.0, switch=drill)
    call = fault(ping)
    caplog.set_level(logging.INFO, logger="resilience")
    assert call() == "pong"
    drill.enable()
    drill.enable()  # already on: no second warning
    assert outcomes(call, 3) == ["ConnectionError"] * 3
    drill.disable()
    assert call() == "pong"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "chaos ENABLED by switch 'checkout drill'" in warnings[0].getMessage()
    assert warnings[0].resilience == {"event": "chaos.enabled", "switch": "checkout drill"}  # type: ignore[attr-defined]
    assert any("chaos disabled" in r.getMessage() for r in caplog.records)


def test_a_switch_built_on_is_logged_at_construction(caplog: pytest.LogCaptureFixture) -> None:
    """switch=True (or ChaosSwitch(enabled=True)) warns as it is built."""
    caplog.set_level(logging.WARNING, logger="resilience")
    InjectFault(ConnectionError, rate=0.1, switch=True, name="always")
    assert [
        r.resilience["event"]  # type: ignore[attr-defined]
        for r in caplog.records
    ] == ["chaos.enabled"]


def test_a_function_switch_is_asked_on_every_call(caplog: pytest.LogCaptureFixture) -> None:
    """switch=<function>: on while it says so, a WARNING each time it turns on."""
    flags = {"chaos": False}
    fault = InjectFault(TimeoutError, rate=1.0, switch=lambda: flags["chaos"])
    call = fault(ping)
    caplog.set_level(logging.WARNING, logger="resilience")
    assert call() == "pong"
    flags["chaos"] = True
    assert outcomes(call, 2) == ["TimeoutError"] * 2
    flags["chaos"] = False
    assert call() == "pong"
    flags["chaos"] = True
    assert outcomes(call, 1) == ["TimeoutError"]
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2
    with pytest.raises(TypeError, match="follows its when= function"):
        fault.switch.enable()


def test_one_switch_drives_several_strategies() -> None:
    """A shared switch turns a fault and a result injection on together."""
    drill = ChaosSwitch("drill")
    clock = FakeClock()
    pipeline = Pipeline(
        InjectLatency(2.0, rate=1.0, switch=drill, clock=clock),
        InjectResult([], rate=1.0, switch=drill),
    )
    assert pipeline.call(lambda: [1, 2]) == [1, 2]
    drill.enable()
    assert pipeline.call(lambda: [1, 2]) == []
    assert clock.monotonic() == 2.0


def test_latency_goes_through_the_clock_sync_and_async() -> None:
    """InjectLatency waits on its clock: a FakeClock moves, instantly, for injected calls only."""
    clock = FakeClock()
    slow = InjectLatency(0.5, rate=0.5, switch=True, seed=3, clock=clock)
    injected = slow.injected

    @slow
    def work() -> int:
        return 1

    @slow
    async def awork() -> int:
        return 2

    for _ in range(20):
        assert work() == 1
        assert asyncio.run(awork()) == 2
    assert slow.injected > injected
    assert clock.monotonic() == pytest.approx(0.5 * slow.injected)


async def test_injected_latency_is_cut_by_a_timeout_outside() -> None:
    """An async injected delay is a real wait that an outer Timeout cancels at its limit."""
    pipeline = Pipeline(Timeout(0.01), InjectLatency(30, rate=1.0, switch=True))

    async def fast() -> int:
        return 1

    with pytest.raises(TimeoutError):
        await pipeline.acall(fast)


def test_a_result_stands_in_for_the_call() -> None:
    """InjectResult returns its result without calling the function; factory=True makes each."""
    calls: list[int] = []

    def fetch() -> dict[str, int]:
        calls.append(1)
        return {"status": 200}

    stale = InjectResult({"status": 503}, rate=1.0, switch=True)
    assert stale.call(fetch) == {"status": 503}
    assert calls == []
    made = InjectResult(lambda: {"status": 503}, rate=1.0, factory=True, switch=True)
    first, second = made.call(fetch), made.call(fetch)
    assert first == second == {"status": 503}
    assert first is not second


async def test_async_functions_are_injected_too() -> None:
    """The lone decorator and acall() inject into coroutines as into sync calls."""
    fault = InjectFault(ConnectionResetError("reset by chaos"), rate=1.0, switch=True)

    @fault
    async def fetch() -> int:
        return 1

    with pytest.raises(ConnectionResetError, match="reset by chaos"):
        await fetch()
    fault.switch.disable()
    assert await fetch() == 1
    assert await InjectResult(5, rate=1.0, switch=True).acall(fetch) == 5


def test_faults_count_as_the_calls_own_failures_in_retry_and_breaker() -> None:
    """Innermost in resilient(), injected faults are retried and open the breaker."""
    clock = FakeClock()
    breaker = CircuitBreaker("payments", clock=clock)
    drill = ChaosSwitch("payments drill")
    fault = InjectFault(ConnectionError, rate=1.0, switch=drill, seed=1)
    policy = resilient(
        retry=RetryPolicy(attempts=3, clock=clock), breaker=breaker, chaos=fault, timeout=5
    )
    calls: list[int] = []

    @policy
    def pay() -> str:
        calls.append(1)
        return "paid"

    assert pay() == "paid"
    drill.enable()
    with pytest.raises(ConnectionError):
        pay()
    assert fault.injected == 3  # every attempt of the retry met the fault
    assert breaker.snapshot().consecutive_failures == 3
    for _ in range(3):
        with pytest.raises((ConnectionError, CircuitOpenError)):
            pay()
    assert breaker.state is CircuitState.OPEN
    assert calls == [1]  # the function itself ran only before the drill
    assert "chaos=InjectFault(" in repr(policy)


def test_a_partial_rate_is_rescued_by_the_retry() -> None:
    """At 30% injected faults a three-attempt retry succeeds nearly always, reproducibly."""
    clock = FakeClock()
    fault = InjectFault(ConnectionError, rate=0.3, switch=True, seed=11)
    policy = Pipeline(RetryPolicy(attempts=3, clock=clock), fault)
    results = outcomes(lambda: policy.call(ping), 200)
    dice = random.Random(11)
    expected = []
    for _ in range(200):  # the model: a call fails when all three attempts drew a fault
        draws = 0
        while draws < 3:
            draws += 1
            if dice.random() >= 0.3:
                break
        else:
            expected.append("ConnectionError")
            continue
        expected.append("ok")
    assert results == expected


def test_events_report_each_injection() -> None:
    """on_inject gets a ChaosInjected naming the strategy, the kind and the function."""
    seen: list[ChaosInjected] = []
    fault = InjectFault(ValueError, rate=1.0, switch=True, name="drill", on_inject=seen.append)
    with pytest.raises(ValueError, match="injected by chaos"):
        fault.call(ping)
    (event,) = seen
    assert event.fields() == {
        "event": "chaos.injected",
        "name": "drill",
        "kind": "fault",
        "what": "ValueError",
        "function": "'ping'",
    }
    assert event.describe() == "chaos 'drill' injected a fault (ValueError) into 'ping'"


def test_an_injection_is_logged_at_debug_with_its_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """log_event logs a ChaosInjected at DEBUG, its fields as record.resilience."""
    caplog.set_level(logging.DEBUG, logger="resilience")
    fault = InjectFault(KeyError, rate=1.0, switch=True, name="drill")
    caplog.clear()
    with pytest.raises(KeyError):
        fault.call(ping)
    (record,) = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert record.getMessage() == "chaos 'drill' injected a fault (KeyError) into 'ping'"
    assert record.resilience["event"] == "chaos.injected"  # type: ignore[attr-defined]


def test_an_exception_instance_is_raised_with_a_fresh_traceback_each_time() -> None:
    """The same instance raised again does not pile up traceback entries."""
    error = ConnectionError("injected")
    fault = InjectFault(error, rate=1.0, switch=True)
    depths = []
    for _ in range(3):
        with pytest.raises(ConnectionError) as caught:
            fault.call(ping)
        assert caught.value is error
        depths.append(len(traceback.extract_tb(caught.value.__traceback__)))
    assert depths[0] == depths[1] == depths[2]


def test_an_error_factory_that_returns_no_exception_is_a_type_error() -> None:
    """A factory returning something else is reported as a TypeError saying so."""
    fault = InjectFault(lambda: "oops", rate=1.0, switch=True)  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="not an exception"):
        fault.call(ping)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: InjectFault(ValueError, rate=1.5), "rate"),
        (lambda: InjectFault(ValueError, rate=-0.1), "rate"),
        (lambda: InjectFault(ValueError, rate=0.1, name=""), "name"),
        (lambda: InjectFault(ValueError, rate=0.1, seed="x"), "seed"),  # type: ignore[arg-type]
        (lambda: InjectLatency(0, rate=0.1), "latency"),
        (lambda: InjectLatency(-1, rate=0.1), "latency"),
        (lambda: InjectResult(1, rate=2), "rate"),
    ],
)
def test_bad_configuration_names_the_field(build: object, field: str) -> None:
    """Each invalid setting is refused at construction with the field named."""
    with pytest.raises(ValidationError, match=field):
        build()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("build", "words"),
    [
        (lambda: InjectFault(3, rate=0.1), "exception type"),  # type: ignore[arg-type]
        (lambda: InjectFault(ValueError, rate=0.1, switch="on"), "switch must be"),  # type: ignore[arg-type]
        (lambda: InjectFault(ValueError, rate=0.1, on_inject=1), "on_inject"),  # type: ignore[arg-type]
        (lambda: InjectResult(1, rate=0.1, factory=True), "factory=True"),
        (lambda: ChaosSwitch(""), "name"),
        (lambda: ChaosSwitch("x", enabled=1), "enabled"),  # type: ignore[arg-type]
        (lambda: ChaosSwitch("x", when=3), "when"),  # type: ignore[arg-type]
        (lambda: ChaosSwitch("x", enabled=True, when=lambda: True), "not both"),
        (lambda: resilient(chaos=Timeout(1)), "chaos=..."),  # type: ignore[arg-type]
    ],
)
def test_bad_arguments_are_type_errors_naming_them(build: object, words: str) -> None:
    """Arguments of the wrong kind are refused with a TypeError that names them."""
    with pytest.raises(TypeError, match=words):
        build()  # type: ignore[operator]


def test_generator_functions_go_through_the_engine() -> None:
    """A decorated generator function is failed before its first item when injected."""
    fault = InjectFault(ConnectionError, rate=1.0, switch=True)

    @fault
    def items() -> object:
        yield 1

    with pytest.raises(ConnectionError):
        list(items())  # type: ignore[call-overload]
    fault.switch.disable()
    assert list(items()) == [1]  # type: ignore[call-overload]


def test_repr_and_measurements_when_on() -> None:
    """repr shows the configuration; an enabled strategy shows as unhealthy, with its counts."""
    fault = InjectFault(ConnectionError, rate=0.25, switch=True, name="drill", seed=5)
    outcomes(fault(ping), 8)
    assert repr(fault).startswith("InjectFault(<class 'ConnectionError'>, rate=0.25, name='drill'")
    (measurement,) = fault.measurements()
    assert measurement.state == "on: fault in 25% of calls"
    assert not measurement.healthy
    assert measurement.totals == {"rolled": 8, "injected": fault.injected}
    assert measurement.gauges == {"enabled": 1.0, "rate": 0.25}
    latency = InjectLatency(0.1, rate=0.5)
    assert latency.latency == 0.1
    assert latency.rate == 0.5
    assert latency.name == "chaos"
    assert repr(latency).startswith("InjectLatency(0.1, rate=0.5")
    assert repr(InjectResult(None, rate=0.5)).startswith("InjectResult(None, rate=0.5")


def test_faults_per_remote_through_remotes() -> None:
    """A Remotes of InjectFault fails the calls to the drilled remote only."""
    drill = ChaosSwitch("s3 drill", enabled=True)
    faults = Remotes(
        lambda remote: InjectFault(ConnectionError, rate=0.0, switch=drill, name=remote),
        overrides={"s3-*": lambda r: InjectFault(ConnectionError, rate=1.0, switch=drill, name=r)},
    )
    pipeline = Pipeline(faults.protect(lambda remote: remote))

    def fetch(remote: str) -> str:
        return f"{remote}: ok"

    assert pipeline.call(fetch, "gcs") == "gcs: ok"
    with pytest.raises(ConnectionError):
        pipeline.call(fetch, "s3-eu")
    assert [m.totals["injected"] for m in faults.measurements()] == [0, 1]
