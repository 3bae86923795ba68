"""RedisBreakerStore on a real redis-server: several stores in one test act as processes.

Each store has its own process id, connections and threads, as a process would; the
tests with real processes are in test_redis_breaker_fleet.py. Waits are real but
bounded, as the server is.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
import redis

from resilience import (
    BreakerConfig,
    BreakerRegistry,
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    ComponentStatus,
    HealthRegistry,
    HealthStatus,
    StateChanged,
    StoreDegraded,
    StoreRecovered,
)
from resilience.stores.redis._breaker import RedisBreakerStore
from servers import RedisServer

OPEN, CLOSED, HALF_OPEN = CircuitState.OPEN, CircuitState.CLOSED, CircuitState.HALF_OPEN


def wait_for(condition: Callable[[], bool], timeout: float = 3.0) -> float:
    """Seconds until ``condition()`` held; fails after ``timeout``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.002)
    return time.monotonic() - start


def boom() -> None:
    raise ConnectionError("remote down")


def ok() -> str:
    return "ok"


def fail(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(ConnectionError):
            breaker.call(boom)


class Fleet:
    """Registries that share one Redis, each through its own store, as processes do."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stores: list[RedisBreakerStore] = []
        self.events: list[object] = []

    def registry(
        self, config: BreakerConfig | None = None, **store_options: object
    ) -> BreakerRegistry:
        store = RedisBreakerStore(
            self.url, retry_interval=0.1, listeners=[self.events.append], **store_options  # type: ignore[arg-type]
        )
        self.stores.append(store)
        config = config or BreakerConfig(failure_threshold=5)
        return BreakerRegistry(config, store=store, listeners=[self.events.append])

    def close(self) -> None:
        for store in self.stores:
            store.close()


@pytest.fixture
def fleet(redis_server: RedisServer) -> Iterator[Fleet]:
    group = Fleet(redis_server.url)
    yield group
    group.close()


def test_a_trip_in_one_process_opens_the_breaker_in_every_other(fleet: Fleet) -> None:
    """A trip in one process opens the remote's breaker in every other, with the same reason."""
    a, b, c = (fleet.registry().get("api") for _ in range(3))
    fail(a, 5)
    assert a.state is OPEN
    wait_for(lambda: b.state is OPEN and c.state is OPEN)
    with pytest.raises(CircuitOpenError, match="5 consecutive failures"):
        b.call(ok)
    retry_after = c.snapshot().retry_after
    assert retry_after is not None
    assert 29 < retry_after <= 30


def test_failures_spread_over_processes_count_together(fleet: Fleet) -> None:
    """Consecutive failures in different processes add up to one fleet-wide run."""
    a, b = fleet.registry().get("api"), fleet.registry().get("api")
    fail(a, 3)
    fail(b, 2)  # neither reached 5 on its own
    wait_for(lambda: a.state is OPEN and b.state is OPEN)
    assert "5 consecutive failures across the fleet" in (a.snapshot().reason or "")


def test_a_success_ends_only_its_own_processes_run(fleet: Fleet) -> None:
    """A success resets only its own process's run; the others' failures still count."""
    a, b = fleet.registry().get("api"), fleet.registry().get("api")
    fail(a, 4)
    wait_for(lambda: fleet_runs(fleet, "api") == 4)
    assert b.call(ok) == "ok"  # b's run was 0 and stays 0: a's run still counts
    fail(b)
    wait_for(lambda: a.state is OPEN and b.state is OPEN)


def fleet_runs(fleet: Fleet, name: str) -> int:
    client = redis.Redis.from_url(fleet.url, decode_responses=True)
    counts = client.hgetall(f"resilience:breaker:{{{name}}}:counts")
    return sum(int(value) for key, value in counts.items() if str(key).startswith("r:"))


def test_a_rate_over_a_count_window_is_judged_on_the_fleets_outcomes(fleet: Fleet) -> None:
    """A failure rate over a count window is judged on the outcomes of the whole fleet."""
    config = BreakerConfig(failure_rate=0.5, window=20, minimum_calls=10)
    a, b = fleet.registry(config).get("api"), fleet.registry(config).get("api")
    for breaker in (a, b):
        for _ in range(3):
            breaker.call(ok)
        fail(breaker, 2)  # 5 calls, 2 failures each: under minimum_calls locally
    wait_for(lambda: a.state is CLOSED and fleet_calls(fleet, "api") == 10)
    for breaker in (a, b):
        fail(breaker, 1)  # the fleet: 12 calls, 6 failures, 50 %
    wait_for(lambda: a.state is OPEN and b.state is OPEN)
    assert "fleet failure rate 50% over 12 calls" in (b.snapshot().reason or "")


def fleet_calls(fleet: Fleet, name: str) -> int:
    client = redis.Redis.from_url(fleet.url)
    return int(client.hget(f"resilience:breaker:{{{name}}}:counts", "calls") or 0)


def test_a_rate_over_a_time_window_is_judged_on_the_fleets_outcomes(fleet: Fleet) -> None:
    """A failure rate over a time window is judged on the outcomes of the whole fleet."""
    config = BreakerConfig(failure_rate=0.5, window_seconds=10, minimum_calls=6)
    a, b = fleet.registry(config).get("api"), fleet.registry(config).get("api")
    a.call(ok)
    fail(a, 2)
    b.call(ok)
    fail(b, 2)
    wait_for(lambda: a.state is OPEN and b.state is OPEN)
    assert "fleet failure rate 66% over 6 calls" in (a.snapshot().reason or "")


def test_trial_permits_are_fleet_wide_and_a_trial_success_closes_everywhere(
    fleet: Fleet,
) -> None:
    """Trial permits are counted across the fleet, and a trial success closes everywhere."""
    config = BreakerConfig(failure_threshold=1, open_for=0.2, half_open_max_calls=2)
    breakers = [fleet.registry(config).get("api") for _ in range(4)]
    fail(breakers[0])
    wait_for(lambda: all(b.state is OPEN for b in breakers))
    time.sleep(0.25)  # the open period passes, in the server's time too

    entered: list[CircuitBreaker] = []
    refused = 0
    for breaker in breakers:  # each process tries one trial call, all at once
        try:
            breaker.__enter__()
            entered.append(breaker)
        except CircuitOpenError:
            refused += 1
    assert len(entered) == 2
    assert refused == 2
    for breaker in entered:
        breaker.__exit__(None, None, None)
    wait_for(lambda: all(b.state is CLOSED for b in breakers))
    assert "trial calls succeeded across the fleet" in str(
        [e.reason for e in fleet.events if isinstance(e, StateChanged) and e.new is CLOSED]
    )


def test_a_trial_failure_reopens_everywhere_for_a_doubled_period(fleet: Fleet) -> None:
    """A failed trial in one process re-opens every process's breaker for a doubled period."""
    config = BreakerConfig(failure_threshold=1, open_for=0.2, open_for_max=10)
    a, b = fleet.registry(config).get("api"), fleet.registry(config).get("api")
    fail(a)
    wait_for(lambda: b.state is OPEN)
    time.sleep(0.25)
    fail(b)  # b's trial call fails
    wait_for(lambda: a.state is OPEN and (a.snapshot().retry_after or 0) > 0.25)
    assert a.snapshot().retry_after <= 0.4  # type: ignore[operator]
    assert "trial call failed" in (a.snapshot().reason or "")


def test_a_trial_lost_with_its_process_is_given_up_after_the_open_period(
    fleet: Fleet,
) -> None:
    """A trial lost with its process is given up after the open period; another gets through."""
    config = BreakerConfig(failure_threshold=1, open_for=0.2)
    a, b = fleet.registry(config).get("api"), fleet.registry(config).get("api")
    fail(a)
    wait_for(lambda: b.state is OPEN)
    time.sleep(0.25)
    a.__enter__()  # a takes the permit, then its process "dies": never reports
    with pytest.raises(CircuitOpenError):
        b.call(ok)
    time.sleep(0.45)  # the permit's half-open period passes, then the re-open period
    assert wait_for(lambda: try_call(b) == "ok", timeout=2) < 2


def try_call(breaker: CircuitBreaker) -> str | None:
    try:
        return breaker.call(ok)
    except CircuitOpenError:
        return None


def test_manual_states_stay_local(fleet: Fleet) -> None:
    """Manual states stay in their own process: the fleet's trip does not change them."""
    a, b = fleet.registry().get("api"), fleet.registry().get("api")
    a.force_open()
    b.disable()
    fail(fleet.registry().get("api"), 5)
    wait_for(lambda: fleet_state(fleet, "api") == b"open")
    time.sleep(0.05)
    assert a.state is CircuitState.FORCED_OPEN
    assert b.state is CircuitState.DISABLED


def fleet_state(fleet: Fleet, name: str) -> bytes | None:
    client = redis.Redis.from_url(fleet.url)
    return client.hget(f"resilience:breaker:{{{name}}}", "state")  # type: ignore[return-value]


def test_a_new_process_takes_on_the_fleets_open_state(fleet: Fleet) -> None:
    """A process that joins later takes on the fleet's open state."""
    fail(fleet.registry().get("api"), 5)
    wait_for(lambda: fleet_state(fleet, "api") == b"open")
    late = fleet.registry().get("api")
    wait_for(lambda: late.state is OPEN)


def test_keys_are_namespaced_and_expire(fleet: Fleet, redis_server: RedisServer) -> None:
    """The store's keys live under its namespace and expire after its ttl."""
    breaker = fleet.registry(namespace="billing", ttl=60).get("api")
    fail(breaker, 5)
    wait_for(lambda: breaker.state is OPEN)
    client = redis.Redis.from_url(redis_server.url)
    wait_for(lambda: client.exists("billing:breaker:{api}") == 1)
    assert 0 < client.pttl("billing:breaker:{api}") <= 60_000
    assert client.keys("resilience:*") == []


def test_local_mode_carries_on_without_redis_and_resynchronises(
    fleet: Fleet, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """With on_error='local', breakers carry on alone while Redis is away, then share again."""
    health = HealthRegistry()
    a_registry, b_registry = fleet.registry(), fleet.registry()
    a, b = a_registry.get("api"), b_registry.get("api")
    store = fleet.stores[0]
    health.register("breaker-store", store.check, critical=False)
    assert health.run().status is HealthStatus.HEALTHY
    caplog.set_level(logging.INFO, logger="resilience")

    redis_server.kill()
    wait_for(lambda: store.degraded and fleet.stores[1].degraded)
    report = health.run()
    assert report.status is HealthStatus.DEGRADED
    assert report.components["breaker-store"].status is ComponentStatus.WARNING
    degraded = [e for e in fleet.events if isinstance(e, StoreDegraded)]
    assert len(degraded) == 2
    assert all(e.on_error == "local" for e in degraded)
    degraded_logs = [r for r in caplog.records if "cannot reach its server" in r.message]
    assert len(degraded_logs) == 2  # one per store
    assert degraded_logs[0].__dict__["resilience"]["event"] == "store.degraded"

    # No storage error reaches a call: a's breaker works on alone, b knows nothing of it.
    assert a.call(ok) == "ok"
    fail(a, 5)
    assert a.state is OPEN
    assert b.state is CLOSED
    with pytest.raises(CircuitOpenError):
        a.call(ok)
    assert b.call(ok) == "ok"

    redis_server.start()
    wait_for(lambda: not store.degraded and not fleet.stores[1].degraded, timeout=5)
    assert any(isinstance(e, StoreRecovered) for e in fleet.events)
    assert health.run().status is HealthStatus.HEALTHY
    # Sharing resumes: a's trip, made while Redis was away and still standing, reaches
    # b and a fresh process; nothing of it reaches a call.
    c = fleet.registry().get("api")
    wait_for(lambda: b.state is OPEN and c.state is OPEN)
    assert a.state is OPEN
    assert "5 consecutive failures" in (c.snapshot().reason or "")


def test_a_trip_closed_again_while_redis_was_away_is_not_sent(
    fleet: Fleet, redis_server: RedisServer
) -> None:
    """A trip that closed again while Redis was away is not sent when it comes back."""
    config = BreakerConfig(failure_threshold=2, open_for=0.1)
    a, b = fleet.registry(config).get("api"), fleet.registry(config).get("api")
    redis_server.kill()
    wait_for(lambda: fleet.stores[0].degraded)
    fail(a, 2)
    assert a.state is OPEN
    time.sleep(0.15)  # a's own open period passes; its trial call succeeds
    assert a.call(ok) == "ok"
    assert a.state is CLOSED
    redis_server.start()
    wait_for(lambda: not fleet.stores[0].degraded and not fleet.stores[1].degraded, timeout=5)
    time.sleep(0.2)  # several flush intervals: a stale trip would have been sent by now
    assert fleet_state(fleet, "api") in (None, b"closed")
    assert a.state is CLOSED
    assert b.state is CLOSED


def test_closed_mode_lets_every_call_through_while_redis_is_away(
    fleet: Fleet, redis_server: RedisServer
) -> None:
    """With on_error='closed', every call is let through while Redis is away."""
    a = fleet.registry(BreakerConfig(failure_threshold=2), on_error="closed").get("api")
    fail(a, 2)
    wait_for(lambda: fleet_state(fleet, "api") == b"open")
    redis_server.kill()
    wait_for(lambda: fleet.stores[0].degraded)
    assert a.call(ok) == "ok"  # the breaker is OPEN, but the store is down: permitted
    fail(a, 3)  # failures reach the caller; nothing is rejected
    assert a.call(ok) == "ok"


def test_open_mode_rejects_every_call_while_redis_is_away(
    fleet: Fleet, redis_server: RedisServer
) -> None:
    """With on_error='open', every call is rejected while Redis is away, new breakers too."""
    registry = fleet.registry(on_error="open")
    a = registry.get("api")
    assert a.call(ok) == "ok"
    redis_server.kill()
    wait_for(lambda: fleet.stores[0].degraded)
    with pytest.raises(CircuitOpenError, match="on_error='open'"):
        a.call(ok)
    with pytest.raises(CircuitOpenError, match="unreachable"):
        registry.get("created-during-the-outage").call(ok)
    redis_server.start()
    wait_for(lambda: a.state is CLOSED, timeout=5)
    assert a.call(ok) == "ok"


def test_a_restarted_empty_server_is_taken_as_the_fleets_state(
    fleet: Fleet, redis_server: RedisServer
) -> None:
    """A server restarted empty is the fleet's state: its breakers close again."""
    a, b = fleet.registry().get("api"), fleet.registry().get("api")
    fail(a, 5)
    wait_for(lambda: b.state is OPEN)
    redis_server.kill()
    redis_server.start()  # it kept nothing: the fleet's breaker is CLOSED again
    wait_for(lambda: a.state is CLOSED and b.state is CLOSED, timeout=5)
    fail(a, 5)
    wait_for(lambda: b.state is OPEN)


def test_eviction_unlinks_and_close_detaches(fleet: Fleet) -> None:
    """An evicted breaker is unlinked from the store, and closing the store detaches the rest."""
    store = RedisBreakerStore(fleet.url)
    fleet.stores.append(store)
    registry = BreakerRegistry(max_breakers=1, store=store)
    first = registry.get("first")
    registry.get("second")  # evicts first
    assert first.link is None
    assert store.check().message == "sharing 1 breakers"  # second's alone
    store.close()
    assert registry.get("second").link is None
    with pytest.raises(RuntimeError, match="closed"):
        registry.get("third")


def test_configuration_is_validated_with_the_field_named() -> None:
    """Bad store settings and a store that is not a BreakerStore are refused, naming the field."""
    with pytest.raises(ValueError, match="on_error"):
        RedisBreakerStore("redis://127.0.0.1:1/0", on_error="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="namespace"):
        RedisBreakerStore("redis://127.0.0.1:1/0", namespace="a{b}")
    with pytest.raises(ValueError, match="batch_size"):
        RedisBreakerStore("redis://127.0.0.1:1/0", batch_size=0)
    with pytest.raises(TypeError, match=r"redis:// URL or a redis\.Redis client"):
        RedisBreakerStore(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="BreakerStore"):
        BreakerRegistry(store="redis://localhost")  # type: ignore[arg-type]


def test_repr_hides_the_password() -> None:
    """The store's repr hides the password of its URL."""
    store = RedisBreakerStore("redis://user:s3cret@127.0.0.1:1/0")
    assert "s3cret" not in repr(store)
    assert "***" in repr(store)


def test_an_outage_is_told_once_in_the_stores_own_words() -> None:
    """The repr, the health check and the events of an outage say what they always said."""
    events: list[object] = []
    store = RedisBreakerStore("redis://127.0.0.1:1/0", on_error="closed", listeners=[events.append])
    assert repr(store) == (
        "RedisBreakerStore('redis://127.0.0.1:1/0', namespace='resilience', on_error='closed')"
    )
    store._degrade(redis.ConnectionError("refused"))  # noqa: SLF001 - as the flusher does
    store._degrade(redis.ConnectionError("again"))  # noqa: SLF001 - the same outage
    result = store.check()
    assert result.status is ComponentStatus.WARNING
    assert result.message == (
        "Redis unreachable (ConnectionError: refused); breakers follow on_error='closed' "
        "until it is back"
    )
    store._recovered()  # noqa: SLF001 - as the subscriber does once it resynced
    store._recovered()  # noqa: SLF001 - nothing more to tell
    assert not store.degraded
    assert [type(e) for e in events] == [StoreDegraded, StoreRecovered]
    degraded = events[0]
    assert isinstance(degraded, StoreDegraded)
    assert (degraded.store, degraded.on_error) == (repr(store), "closed")
    assert store.check().message == "sharing 0 breakers"
    store.close()


def test_a_stale_closed_reply_cannot_undo_a_trip_not_yet_sent() -> None:
    """The fleet's CLOSED, read before this process tripped, arrives after the trip."""
    from resilience.stores.redis._link import Hub, Link  # noqa: PLC0415 - the link alone, no threads

    store = RedisBreakerStore("redis://127.0.0.1:1/0")
    breaker = CircuitBreaker("api", BreakerConfig(failure_threshold=2))
    hub = Hub(store.config, request_permit=lambda _link: [], degrade=lambda _exc: None)
    link = Link(hub, breaker)
    breaker.link = link
    fail(breaker, 2)
    assert breaker.state is OPEN
    link.apply([b"closed", 0, 0, 0, b""])  # the reply to a flush sent before the trip
    assert breaker.state is OPEN
    trials, counts = link.take()  # the trip goes out; the fleet opens
    assert trials == []
    assert counts is not None
    assert counts[-1].startswith("2 consecutive failures")
    link.apply([b"open", 7, 30_000, 30_000, b"2 consecutive failures"])
    assert breaker.state is OPEN


@pytest.mark.parametrize("field", ["open_for", "open_for_max", "half_open_timeout"])
@pytest.mark.parametrize("value", [math.inf, math.nan])
def test_a_breaker_with_a_non_finite_period_is_refused_when_linked(
    field: str, value: float
) -> None:
    """The store cannot carry an infinite or NaN period: linking names the field."""
    # model_copy skips validation: whatever BreakerConfig itself accepts, the store checks.
    config = BreakerConfig(failure_threshold=5).model_copy(update={field: value})
    store = RedisBreakerStore("redis://127.0.0.1:1/0")
    registry = BreakerRegistry(config, store=store)
    with pytest.raises(ValueError, match=rf"breaker 'api': its {field} is {value!r}.*finite"):
        registry.get("api")
    assert store.check().message == "sharing 0 breakers"
    store.close()


def event(*, state: str = '"open"', gen: str = '"9999999999999"', left: str = "0") -> bytes:
    """A breaker event as the scripts publish it, with raw JSON for some of its fields."""
    return (
        f'{{"name":"api","state":{state},"gen":{gen},"left":{left},'
        f'"period":30000,"reason":"x"}}'
    ).encode()


@pytest.mark.parametrize(
    "event",
    [
        event(left="Infinity"),
        event(left="NaN"),
        event(left="-Infinity"),
        event(left="1e999"),
        event(state='"bogus"'),
        event(gen="7"),
        b"[" * 100_000,
    ],
)
def test_a_hostile_event_is_ignored_with_a_warning_and_sharing_carries_on(
    fleet: Fleet, redis_server: RedisServer, caplog: pytest.LogCaptureFixture, event: bytes
) -> None:
    """NaN, Infinity or a wrong field on the channel is a warning, never a subscriber error."""
    caplog.set_level(logging.WARNING, logger="resilience")
    a, b = fleet.registry().get("api"), fleet.registry().get("api")
    client = redis.Redis.from_url(redis_server.url)
    wait_for(lambda: client.pubsub_numsub("resilience:breaker-events")[0][1] == 2)
    client.publish("resilience:breaker-events", event)
    wait_for(lambda: any("malformed breaker event" in r.message for r in caplog.records))
    assert b.state is CLOSED
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    fail(a, 5)  # the subscriber still applies the fleet's events
    wait_for(lambda: b.state is OPEN)
    client.close()


class HostileError(ConnectionError):
    """A failure whose repr and str raise, as a badly written client's might."""

    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")

    def __str__(self) -> str:
        raise RuntimeError("str exploded")


def test_a_hostile_trial_failure_through_a_shared_breaker_reaches_the_caller(
    fleet: Fleet,
) -> None:
    """A half-open trial raising an error whose repr raises: the caller gets that error."""
    breaker = fleet.registry(BreakerConfig(failure_threshold=1, open_for=0.2)).get("api")
    fail(breaker)
    assert breaker.state is OPEN

    def hostile() -> None:
        raise HostileError

    def trial_made() -> bool:
        try:
            breaker.call(hostile)
        except CircuitOpenError:
            return False  # the fleet's open period has not passed yet
        except HostileError:
            return True
        return False

    wait_for(trial_made)  # the period is the fleet's, in Redis' time: a bounded real wait
    assert breaker.state is OPEN


def test_the_store_durations_accept_a_timedelta() -> None:
    """flush_interval, timeout, retry_interval and ttl take a timedelta as well as seconds."""
    store = RedisBreakerStore(
        "redis://127.0.0.1:1/0",
        flush_interval=timedelta(milliseconds=20),
        timeout=timedelta(milliseconds=500),
        retry_interval=timedelta(seconds=2),
        ttl=timedelta(hours=1),
    )
    config = store.config
    assert (config.flush_interval, config.timeout) == (0.02, 0.5)
    assert (config.retry_interval, config.ttl) == (2.0, 3600.0)
    store.close()
