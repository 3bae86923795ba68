"""RedisRateStore on a private redis-server: one limit for every process, outages absorbed.

Two stores on one server stand for two processes. The limiters' own clocks are fake
(their waits are slept there); admissions are decided on the server's clock, so the
rates here are slow enough that the real milliseconds a test takes do not count.
"""

from __future__ import annotations

import threading
import time

import pydantic
import pytest
import redis

from resilience import (
    ComponentStatus,
    Event,
    RateLimitedError,
    RateLimiter,
    StoreDegraded,
    StoreRecovered,
)
from resilience.stores import RedisRateStore
from resilience.testing import FakeClock
from servers import RedisServer


def scripts_run(server: RedisServer) -> int:
    """How many times the server ran a script (EVALSHA and EVAL)."""
    stats = redis.Redis.from_url(server.url).info("commandstats")
    return sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("evalsha", "eval"))


def shared(store: RedisRateStore, **options: object) -> RateLimiter:
    settings: dict[str, object] = {"rate": 1, "burst": 5, "clock": FakeClock(), **options}
    return RateLimiter("api", store=store, **settings)  # type: ignore[arg-type]


def test_two_processes_share_one_burst(redis_server: RedisServer) -> None:
    """Limiters of one name in two stores share one bucket: 5 in all, then refusals."""
    with RedisRateStore(redis_server.url) as one, RedisRateStore(redis_server.url) as two:
        a, b = shared(one), shared(two)
        assert [a.try_acquire() for _ in range(3)] == [True] * 3
        assert [b.try_acquire() for _ in range(3)] == [True, True, False]
        assert not a.try_acquire()
        with pytest.raises(RateLimitedError) as caught:
            a.acquire()
        assert caught.value.retry_after == pytest.approx(1.0, abs=0.1)
        other = RateLimiter("other", rate=1, burst=1, store=one)
        assert other.try_acquire()  # another name, another bucket


def test_a_known_refusal_never_asks_redis(redis_server: RedisServer) -> None:
    """Once the fleet's state is seen to refuse, refusals are decided locally; admissions ask."""
    with RedisRateStore(redis_server.url) as store:
        limiter = shared(store, burst=2)
        assert limiter.try_acquire(2)
        before = scripts_run(redis_server)
        assert not limiter.try_acquire()  # the state seen says: not before ~1 s
        assert not limiter.try_acquire()
        with pytest.raises(RateLimitedError):
            limiter.acquire(max_wait=0.5)
        assert scripts_run(redis_server) == before
        assert limiter.measurements()[0].totals == {"admitted": 1, "delayed": 0, "rejected": 3}


def test_a_wait_is_reserved_for_the_fleet(redis_server: RedisServer) -> None:
    """A turn reserved by one process is not given to another."""
    with RedisRateStore(redis_server.url) as one, RedisRateStore(redis_server.url) as two:
        a = shared(one, rate=10, burst=1, max_wait=1)
        b = shared(two, rate=10, burst=1, max_wait=1)
        assert a.acquire() == 0.0
        first = b.acquire()
        second = a.acquire()
        assert first == pytest.approx(0.1, abs=0.02)
        assert second == pytest.approx(0.2, abs=0.02)
        assert a.tokens == pytest.approx(0.0, abs=1e-6)


def test_the_key_expires_once_the_bucket_is_full(redis_server: RedisServer) -> None:
    """The limiter's key holds its state only while it has any to hold."""
    with RedisRateStore(redis_server.url, namespace="t") as store:
        shared(store, rate=100, burst=1).acquire()
        client = redis.Redis.from_url(redis_server.url)
        assert 0 < client.pttl("t:rate:{api}") <= 1010


@pytest.mark.parametrize(
    ("on_error", "admitted"),
    [("local", [True, True, False]), ("closed", [True, True, True]), ("open", [])],
)
def test_an_outage_follows_on_error(
    redis_server: RedisServer, on_error: str, admitted: list[bool]
) -> None:
    """With Redis gone, no storage error reaches a call: each mode decides as documented."""
    events: list[Event] = []
    store = RedisRateStore(
        redis_server.url, on_error=on_error, retry_interval=60, listeners=[events.append]  # type: ignore[arg-type]
    )
    limiter = shared(store, burst=2)
    redis_server.kill()
    if on_error == "open":
        with pytest.raises(RateLimitedError, match="unreachable") as caught:
            limiter.acquire()
        assert caught.value.retry_after is None
    else:
        assert [limiter.try_acquire() for _ in range(3)] == admitted
    (degraded,) = events
    assert isinstance(degraded, StoreDegraded)
    assert degraded.on_error == on_error
    assert store.check().status is ComponentStatus.WARNING
    store.close()


def test_the_store_shares_again_once_redis_is_back(redis_server: RedisServer) -> None:
    """After a restart, the next probe reaches Redis: StoreRecovered, and the fleet's limit."""
    events: list[Event] = []
    store = RedisRateStore(redis_server.url, retry_interval=0.05, listeners=[events.append])
    limiter = shared(store, burst=2)
    redis_server.kill()
    assert limiter.try_acquire()  # local
    redis_server.start()
    deadline = time.monotonic() + 5
    while store.check().status is not ComponentStatus.OK and time.monotonic() < deadline:
        limiter.try_acquire()
        time.sleep(0.02)
    assert [type(e) for e in events] == [StoreDegraded, StoreRecovered]
    assert store.check().status is ComponentStatus.OK
    store.close()


def test_redis_killed_mid_run_reaches_no_call(redis_server: RedisServer) -> None:
    """Four threads calling through a shared limiter as Redis dies: admissions and refusals only."""
    store = RedisRateStore(redis_server.url, retry_interval=0.1)
    limiter = RateLimiter("api", rate=500, burst=10, max_wait=0.01, store=store)
    errors: list[BaseException] = []
    outcomes = {"admitted": 0, "refused": 0}
    lock = threading.Lock()
    stop = time.monotonic() + 1.2

    @limiter
    def call() -> None:
        pass

    def body() -> None:
        while time.monotonic() < stop:
            try:
                call()
                key = "admitted"
            except RateLimitedError:
                key = "refused"
            except BaseException as exc:
                errors.append(exc)
                return
            with lock:
                outcomes[key] += 1

    threads = [threading.Thread(target=body) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.4)
    redis_server.kill()
    for thread in threads:
        thread.join(timeout=10)
    assert errors == []
    assert outcomes["admitted"] > 300  # shared before, local after
    assert store.degraded
    store.close()


def test_bad_options_name_the_field(redis_server: RedisServer) -> None:
    """Bad store options and a limiter name the key cannot hold each say which."""
    with pytest.raises(pydantic.ValidationError, match="namespace"):
        RedisRateStore(redis_server.url, namespace="a{b}")
    with pytest.raises(pydantic.ValidationError, match="on_error"):
        RedisRateStore(redis_server.url, on_error="maybe")  # type: ignore[arg-type]
    with pytest.raises(pydantic.ValidationError, match="retry_interval"):
        RedisRateStore(redis_server.url, retry_interval=0)
    with RedisRateStore(redis_server.url) as store:
        with pytest.raises(ValueError, match="name must not contain braces"):
            RateLimiter("a{b}", rate=1, store=store)
        assert "RedisRateStore('redis://127.0.0.1" in repr(store)


def test_an_outage_is_told_once_in_the_stores_own_words() -> None:
    """The repr, the health check and the events of an outage say what they always said."""
    events: list[Event] = []
    store = RedisRateStore("redis://127.0.0.1:1/0", timeout=0.05, listeners=[events.append])
    assert repr(store) == (
        "RedisRateStore('redis://127.0.0.1:1/0', namespace='resilience', on_error='local')"
    )
    limiter = shared(store)
    assert store.check().message == "sharing 1 rate limiters"
    limiter.try_acquire()
    limiter.try_acquire()  # within retry_interval: Redis is not asked again
    assert store.degraded
    result = store.check()
    assert result.status is ComponentStatus.WARNING
    assert result.message.startswith("Redis unreachable (ConnectionError: ")
    assert result.message.endswith("); rate limiters follow on_error='local' until it is back")
    assert [type(e) for e in events] == [StoreDegraded]
    degraded = events[0]
    assert isinstance(degraded, StoreDegraded)
    assert (degraded.store, degraded.on_error) == (repr(store), "local")
    store.close()


def test_a_client_of_the_callers_is_shown_by_its_type_and_left_open(
    redis_server: RedisServer,
) -> None:
    """A client passed in is shown as such, and closing the store leaves it usable."""
    client = redis.Redis.from_url(redis_server.url)
    with RedisRateStore(client, namespace="ns", on_error="open") as store:
        assert (
            repr(store) == "RedisRateStore('<redis.Redis client>', namespace='ns', on_error='open')"
        )
    assert client.ping()
    client.close()
