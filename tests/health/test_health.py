"""Health checks: results, caching, aggregation, timeouts, breakers, gates, monitor."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from resilience import (
    BreakerConfig,
    BreakerRegistry,
    CheckResult,
    ComponentChanged,
    ComponentHealth,
    ComponentStatus,
    FeatureChanged,
    FeatureGate,
    HealthRegistry,
    HealthReport,
    HealthStatus,
    SystemClock,
)
from resilience.health import aggregate
from resilience.testing import FakeClock

OK, WARNING = ComponentStatus.OK, ComponentStatus.WARNING
ERROR, UNKNOWN = ComponentStatus.ERROR, ComponentStatus.UNKNOWN


@pytest.fixture
def health(fake_clock: FakeClock) -> Iterator[HealthRegistry]:
    registry = HealthRegistry(clock=fake_clock, default_timeout=5)
    yield registry
    registry.close()


# ------------------------------------------------------------------ results


def test_what_a_check_returns_becomes_the_components_status(health: HealthRegistry) -> None:
    """None/True are OK, False is ERROR, CheckResult is itself, an exception is ERROR."""
    health.register("none", lambda: None)
    health.register("true", lambda: True)
    health.register("false", lambda: False, critical=False)
    health.register(
        "warn", lambda: CheckResult(WARNING, "disk 91% full", {"free_gb": 3}), critical=False
    )

    def refused() -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    def odd() -> object:
        return "yes"

    health.register("backend", refused, critical=False)
    health.register("odd", odd, critical=False)
    report = health.run()
    c = report.components
    assert [c[n].status for n in ("none", "true", "false", "warn", "backend", "odd")] == [
        OK,
        OK,
        ERROR,
        WARNING,
        ERROR,
        ERROR,
    ]
    assert c["warn"].details == {"free_gb": 3}
    assert c["backend"].auto_recoverable
    assert "ConnectionRefusedError" in c["backend"].message
    assert "RETRYABLE" in c["backend"].message
    assert not c["false"].auto_recoverable
    assert "returned 'yes'" in c["odd"].message
    assert report.status is HealthStatus.DEGRADED
    assert report.http_status == 200


async def test_async_checks_and_arun(health: HealthRegistry) -> None:
    """Async checks run as tasks in arun, and on their own loop in run."""

    async def database() -> CheckResult:
        await asyncio.sleep(0)
        return CheckResult(OK, "3 connections")

    health.register("database", database)
    health.register("cache", lambda: True)
    report = await health.arun()
    assert report.components["database"].message == "3 connections"
    assert report.status is HealthStatus.HEALTHY
    assert (await asyncio.to_thread(health.run)).status is HealthStatus.HEALTHY


def test_groups_select_checks(health: HealthRegistry) -> None:
    """run(group) runs only that group's checks; readiness is the default group."""
    health.register("db", lambda: True)
    health.register("report-export", lambda: True, groups=("nightly",))
    assert set(health.run("readiness").components) == {"db"}
    assert set(health.run("nightly").components) == {"report-export"}
    assert set(health.run().components) == {"db", "report-export"}
    assert health.names("nightly") == ["report-export"]


# ------------------------------------------------------------------- caching


def test_ttls_cache_successes_and_failures_separately(
    health: HealthRegistry, fake_clock: FakeClock
) -> None:
    """A result is reused until its TTL passes: ttl for OK, failure_ttl for ERROR."""
    answers = iter([True, False, False, True])
    calls = 0

    def flaky() -> bool:
        nonlocal calls
        calls += 1
        return next(answers)

    health.register("api", flaky, ttl=30, failure_ttl=5)
    assert health.run().components["api"].status is OK
    fake_clock.advance(29)
    cached = health.run().components["api"]
    assert (cached.status, cached.cached, calls) == (OK, True, 1)
    fake_clock.advance(1)
    assert health.run().components["api"].status is ERROR
    fake_clock.advance(4.9)
    assert health.run().components["api"].cached
    fake_clock.advance(0.1)
    assert health.run().components["api"].status is ERROR
    assert calls == 3


def test_without_ttl_every_run_checks(health: HealthRegistry) -> None:
    """No TTL: each run calls the check."""
    calls = []
    health.register("x", lambda: calls.append(1))
    for _ in range(3):
        health.run()
    assert len(calls) == 3


# --------------------------------------------------------------- aggregation

statuses = st.sampled_from(list(ComponentStatus))


@given(st.lists(st.tuples(statuses, st.booleans()), max_size=12))
def test_aggregation_rules(components: list[tuple[ComponentStatus, bool]]) -> None:
    """CRITICAL iff a critical component is ERROR/UNKNOWN; else DEGRADED iff any not OK."""
    healths = [
        ComponentHealth(f"c{i}", status, "", critical, 0.0, 0.0, auto_recoverable=False)
        for i, (status, critical) in enumerate(components)
    ]
    if any(c and s in (ERROR, UNKNOWN) for s, c in components):
        expected = HealthStatus.CRITICAL
    elif any(s is not OK for s, _ in components):
        expected = HealthStatus.DEGRADED
    else:
        expected = HealthStatus.HEALTHY
    assert aggregate(healths) is expected
    report = HealthReport(expected, {h.name: h for h in healths})
    assert report.http_status == (503 if expected is HealthStatus.CRITICAL else 200)
    assert report.to_dict()["status"] == {"HEALTHY": "pass", "DEGRADED": "warn"}.get(
        expected.name, "fail"
    )


def test_ietf_shape_and_text_rendering(health: HealthRegistry) -> None:
    """to_dict follows the IETF draft; details can be left out; render reads well."""
    health.register("database", lambda: False)
    health.register("cache", lambda: CheckResult(WARNING, "slow"), critical=False)
    report = health.run()
    body = report.to_dict()
    assert body["status"] == "fail"
    (db,) = body["checks"]["database"]
    assert (db["componentId"], db["status"], db["critical"]) == ("database", "fail", True)
    assert "time" in db
    assert db["output"] == "the check returned False"
    bare = report.to_dict(details=False)
    assert "output" not in bare["checks"]["database"][0]
    text = str(report)
    assert text.startswith("health: CRITICAL (2 components)")
    assert "database  ERROR" in text
    assert "slow" in text


# ------------------------------------------------------------------ timeouts


def test_hanging_sync_and_async_checks_time_out_while_others_report() -> None:
    """A check that hangs is UNKNOWN at its timeout; the others still answer."""
    health = HealthRegistry(clock=SystemClock(), default_timeout=5)
    release = threading.Event()

    async def hangs_async() -> None:
        await asyncio.Event().wait()

    health.register("hangs-sync", lambda: release.wait(30), timeout=0.2)
    health.register("hangs-async", hangs_async, timeout=0.2, timeout_status=ERROR)
    health.register("fine", lambda: True)
    clock = SystemClock()
    try:
        start = clock.monotonic()
        report = health.run()
        took = clock.monotonic() - start
        assert took < 1.0, f"the report waited {took:.2f} s for checks with 0.2 s timeouts"
        c = report.components
        assert (c["hangs-sync"].status, c["hangs-async"].status) == (UNKNOWN, ERROR)
        assert "within its timeout of 0.2 s" in c["hangs-sync"].message
        assert c["fine"].status is OK
        # The hung sync check is not started again while it still runs.
        again = health.run().components["hangs-sync"]
        assert "has not finished yet" in again.message

        start = clock.monotonic()
        areport = asyncio.run(health.arun())
        assert clock.monotonic() - start < 1.0
        assert areport.components["hangs-async"].status is ERROR
        assert areport.components["fine"].status is OK
    finally:
        release.set()
        health.close()


# ---------------------------------------------------------------- bad input


def test_bad_registrations_are_refused(health: HealthRegistry) -> None:
    """Duplicate names, non-positive timeouts and non-callables fail at registration."""
    health.register("db", lambda: True)
    with pytest.raises(ValueError, match="already registered"):
        health.register("db", lambda: True)
    with pytest.raises(ValidationError) as info:
        health.register("slow", lambda: True, timeout=0)
    assert info.value.errors()[0]["loc"] == ("timeout",)
    with pytest.raises(ValidationError, match="failure_ttl"):
        health.register("x", lambda: True, failure_ttl=-1)
    with pytest.raises(TypeError, match="must be callable"):
        health.register("y", "not a function")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="default_timeout"):
        HealthRegistry(default_timeout=0)


def test_a_check_that_raises_anything_never_breaks_run(health: HealthRegistry) -> None:
    """Even an exception whose str() raises becomes a clear ERROR component."""

    class WeirdError(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    def weird() -> None:
        raise WeirdError

    health.register("weird", weird)
    component = health.run().components["weird"]
    assert component.status is ERROR
    assert component.message.startswith("WeirdError")


# Breakers as components, and status-change events.


def refused() -> None:
    raise ConnectionRefusedError


def test_each_breaker_is_a_component_named_after_its_remote(
    health: HealthRegistry, fake_clock: FakeClock
) -> None:
    """add_breakers() reports one component per breaker, ``breaker:<remote>``."""
    breakers = BreakerRegistry(BreakerConfig(failure_threshold=1, open_for=60), clock=fake_clock)
    breakers.get("s3-eu")
    breakers.get("gdrive")
    health.add_breakers(breakers)
    report = health.run()
    assert list(report.components) == ["breaker:s3-eu", "breaker:gdrive"]
    assert report.status is HealthStatus.HEALTHY
    with pytest.raises(ConnectionRefusedError):
        breakers.get("s3-eu").call(refused)
    report = health.run()
    s3 = report.components["breaker:s3-eu"]
    assert s3.status is ERROR
    assert s3.message.startswith("OPEN (")
    assert "trial in 60 s" in s3.message
    assert s3.details == {"state": "open"}
    assert not s3.critical
    assert report.components["breaker:gdrive"].status is OK
    assert report.status is HealthStatus.DEGRADED
    fake_clock.advance(60)
    with breakers.get("s3-eu"):
        assert health.run().components["breaker:s3-eu"].status is WARNING


def test_breakers_created_later_appear_and_evicted_ones_disappear(
    health: HealthRegistry, fake_clock: FakeClock
) -> None:
    """The breaker components follow the registry: new breakers join, evicted ones leave."""
    breakers = BreakerRegistry(BreakerConfig(), clock=fake_clock, max_breakers=2)
    health.add_breakers(breakers)
    assert health.run().components == {}
    breakers.get("a")
    breakers.get("b")
    assert health.names() == ["breaker:a", "breaker:b"]
    assert list(health.run().components) == ["breaker:a", "breaker:b"]
    breakers.get("c")  # full: the least recently used CLOSED breaker, a, is evicted
    assert "a" not in breakers
    assert list(health.run().components) == ["breaker:b", "breaker:c"]
    assert set(health.latest()) == {"breaker:b", "breaker:c"}
    assert health.recheck("breaker:c").status is OK


def test_critical_applies_to_each_breaker_component(fake_clock: FakeClock) -> None:
    """With critical=True, one OPEN breaker makes the whole report CRITICAL."""
    breakers = BreakerRegistry(BreakerConfig(failure_threshold=1), clock=fake_clock)
    health = HealthRegistry(clock=fake_clock, default_timeout=2)
    try:
        health.add_breakers(breakers, critical=True)
        with pytest.raises(ConnectionRefusedError):
            breakers.get("db").call(refused)
        report = health.run()
        assert report.components["breaker:db"].critical
        assert report.status is HealthStatus.CRITICAL
    finally:
        health.close()


def test_a_breaker_registry_is_added_once(health: HealthRegistry, fake_clock: FakeClock) -> None:
    """Adding the same registry twice is a ValueError; a hand-registered check wins."""
    breakers = BreakerRegistry(clock=fake_clock)
    health.register("breaker:api", lambda: CheckResult(WARNING, "by hand"))
    breakers.get("api")
    health.add_breakers(breakers)
    with pytest.raises(ValueError, match="already added"):
        health.add_breakers(breakers)
    assert health.run().components["breaker:api"].message == "by hand"


def test_status_changes_are_reported_to_listeners(health: HealthRegistry) -> None:
    """A ComponentChanged event is emitted when a component's status changes."""
    events: list[ComponentChanged] = []
    health.add_listener(events.append)
    up = [True]
    health.register("api", lambda: up[0])
    health.run()
    health.run()
    up[0] = False
    health.run()
    assert [(e.name, e.old, e.new) for e in events] == [("api", None, OK), ("api", OK, ERROR)]
    assert health.latest()["api"].status is ERROR


# --------------------------------------------------------------- degradation


def test_feature_gate_switches_to_the_fallback_while_a_component_is_down(
    health: HealthRegistry,
) -> None:
    """A feature needs its components OK; the decorator falls back otherwise."""
    changes: list[FeatureChanged] = []
    gate = FeatureGate(health, listeners=[changes.append])
    backend_up = [True]
    health.register("backend", lambda: backend_up[0])
    gate.feature("sync", requires=["backend"])
    assert not gate.enabled("sync")
    assert "backend not checked yet" in gate.reason("sync")

    @gate.requires("backend", fallback=lambda path: f"offline copy of {path}")
    def open_file(path: str) -> str:
        return f"live {path}"

    health.run()
    assert gate.enabled("sync")
    assert open_file("a.txt") == "live a.txt"
    backend_up[0] = False
    health.run()
    assert not gate.enabled("sync")
    assert open_file("a.txt") == "offline copy of a.txt"
    assert changes == [
        FeatureChanged("sync", enabled=True, reason=""),
        FeatureChanged("sync", enabled=False, reason="backend ERROR: the check returned False"),
    ]
    with pytest.raises(KeyError, match="declare it"):
        gate.enabled("nope")
    with pytest.raises(ValueError, match="at least one component"):
        gate.feature("empty", requires=[])


async def test_feature_gate_async_fallback(health: HealthRegistry) -> None:
    """An async function's fallback may be async too."""
    gate = FeatureGate(health)
    health.register("backend", lambda: False)

    async def offline() -> str:
        return "offline"

    @gate.requires("backend", fallback=offline)
    async def fetch() -> str:
        return "online"

    await health.arun()
    assert await fetch() == "offline"


# ------------------------------------------------------------------- monitor


def test_monitor_on_a_thread_runs_rounds_and_stops(health: HealthRegistry) -> None:
    """The monitor thread runs rounds on the clock and stops when the block ends."""
    enough = threading.Event()
    calls = 0

    def check() -> bool:
        nonlocal calls
        calls += 1
        if calls >= 3:
            enough.set()
        return True

    health.register("db", check)
    monitor = health.monitor(interval=30)
    with monitor:
        assert enough.wait(10)
    rounds = monitor.rounds
    assert rounds >= 3
    assert monitor.busy >= 0
    assert calls == rounds  # stopped: no more rounds after the block


def test_monitor_critical_interval_runs_critical_checks_in_between(
    health: HealthRegistry, fake_clock: FakeClock
) -> None:
    """With critical_interval, critical checks run more often than the others."""
    calls = {"critical": 0, "other": 0}
    health.register("critical", lambda: calls.__setitem__("critical", calls["critical"] + 1))
    health.register("other", lambda: calls.__setitem__("other", calls["other"] + 1), critical=False)
    monitor = health.monitor(interval=120, critical_interval=30)
    for _ in range(8):  # 4 minutes, a tick every 30 s
        monitor.tick()
        fake_clock.advance(30)
    assert calls == {"critical": 8, "other": 2}
    with pytest.raises(ValueError, match="interval"):
        health.monitor(interval=0)


async def test_monitor_as_an_asyncio_task(health: HealthRegistry) -> None:
    """async with monitor runs rounds as a task and cancels it on exit."""
    calls = 0

    async def check() -> None:
        nonlocal calls
        calls += 1

    health.register("db", check)
    monitor = health.monitor(interval=5)
    async with monitor:
        for _ in range(1000):  # the fake clock's waits only yield to the loop
            if monitor.rounds >= 3:
                break
            await asyncio.sleep(0)
    assert monitor.rounds >= 3
    assert monitor.rounds <= calls <= monitor.rounds + 1  # exit may cancel a round


# ------------------------------------------------------------------- durations


def test_durations_accept_a_timedelta(fake_clock: FakeClock) -> None:
    """The timeout, TTLs, default timeout and monitor intervals take a timedelta too."""
    health = HealthRegistry(clock=fake_clock, default_timeout=timedelta(seconds=5))
    answers = iter([True, False, False])
    health.register(
        "api",
        lambda: next(answers),
        timeout=timedelta(seconds=2),
        ttl=timedelta(seconds=30),
        failure_ttl=timedelta(seconds=5),
    )
    assert health.run().components["api"].status is OK
    fake_clock.advance(29)
    assert health.run().components["api"].cached
    fake_clock.advance(1)
    assert health.run().components["api"].status is ERROR
    fake_clock.advance(4.9)
    assert health.run().components["api"].cached
    calls = {"critical": 0, "other": 0}
    monitored = HealthRegistry(clock=fake_clock)
    monitored.register("critical", lambda: calls.__setitem__("critical", calls["critical"] + 1))
    monitored.register(
        "other", lambda: calls.__setitem__("other", calls["other"] + 1), critical=False
    )
    monitor = monitored.monitor(
        interval=timedelta(minutes=2), critical_interval=timedelta(seconds=30)
    )
    for _ in range(8):  # 4 minutes, a tick every 30 s
        monitor.tick()
        fake_clock.advance(30)
    assert calls == {"critical": 8, "other": 2}
    with pytest.raises(ValueError, match="default_timeout"):
        HealthRegistry(default_timeout=timedelta(0))
    with pytest.raises(ValidationError, match="timeout"):
        health.register("never", lambda: None, timeout=timedelta(seconds=-1))
    health.close()
    monitored.close()
