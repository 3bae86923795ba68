"""Fleet stores after a stall or a restart of their server: they recover by themselves.

A stall is a real one: the test's own redis-server paused with SIGSTOP (its sockets stay
open, so nothing errs) or busy in ``DEBUG SLEEP``. Waits are real but bounded: each
polls with a deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import redis

from resilience import (
    BreakerConfig,
    BreakerRegistry,
    CircuitBreaker,
    CircuitState,
    StoreDegraded,
    StoreRecovered,
)
from resilience._redis_breaker import RedisBreakerStore
from servers import RedisServer

OPEN, CLOSED = CircuitState.OPEN, CircuitState.CLOSED
RECOVERY_BOUND = 3.0
"""Seconds a store may take to share again once Redis answers (the target: 10)."""


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> float:
    """Seconds until ``condition()`` held; fails after ``timeout``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.005)
    return time.monotonic() - start


def boom() -> None:
    raise ConnectionError("remote down")


def fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        with pytest.raises(ConnectionError):
            breaker.call(boom)


class Workers:
    """Stores with the default timings on one server, each one standing for a process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stores: list[RedisBreakerStore] = []
        self.events: list[object] = []

    def breaker(self, config: BreakerConfig | None = None) -> CircuitBreaker:
        store = RedisBreakerStore(self.url, listeners=[self.events.append])
        self.stores.append(store)
        registry = BreakerRegistry(config or BreakerConfig(failure_threshold=5), store=store)
        return registry.get("api")

    def settle(self) -> None:
        """Wait until every store has subscribed, resynchronised and sent what it had."""
        client = redis.Redis.from_url(self.url)
        channel = "resilience:breaker-events"
        with client:
            subscribed = [(channel.encode(), len(self.stores))]
            wait_for(lambda: client.pubsub_numsub(channel) == subscribed)
        wait_for(lambda: not any(store._active for store in self.stores))
        time.sleep(0.1)  # two flush intervals: the last replies are in

    def all_sharing(self) -> bool:
        return not any(store.degraded for store in self.stores)

    def close(self) -> None:
        for store in self.stores:
            store.close()


@pytest.fixture
def workers(redis_server: RedisServer) -> Iterator[Workers]:
    made = Workers(redis_server.url)
    yield made
    made.close()


def test_a_breaker_store_degraded_by_one_slow_command_recovers_by_itself(
    workers: Workers, redis_server: RedisServer
) -> None:
    """A flush that timed out behind DEBUG SLEEP degrades the store only until Redis answers."""
    a, b = workers.breaker(), workers.breaker()
    workers.settle()
    sleeper = redis_server.debug_sleep(1.5)
    time.sleep(0.05)  # the server is inside the sleep before the trip is flushed
    fail(a, 5)
    wait_for(lambda: workers.stores[0].degraded)
    sleeper.join(timeout=10)
    answered = time.monotonic()
    wait_for(workers.all_sharing, timeout=10)
    assert time.monotonic() - answered <= RECOVERY_BOUND
    assert any(isinstance(e, StoreRecovered) for e in workers.events)
    wait_for(lambda: b.state is OPEN)  # the trip reached the other process
    assert a.state is OPEN


def test_a_paused_server_is_noticed_on_a_silent_subscription_and_recovered_from(
    workers: Workers, redis_server: RedisServer
) -> None:
    """SIGSTOP errs on no socket: an unanswered PING degrades the store; SIGCONT ends it."""
    a, b = workers.breaker(), workers.breaker()
    workers.settle()
    redis_server.pause()
    # Nothing is sent by either process: only the subscriptions can notice the stall.
    wait_for(lambda: not workers.all_sharing() and all(s.degraded for s in workers.stores))
    assert sum(isinstance(e, StoreDegraded) for e in workers.events) == 2
    fail(a, 5)  # local mode: a trips on its own
    assert a.state is OPEN
    assert b.state is CLOSED
    redis_server.resume()
    answered = time.monotonic()
    wait_for(workers.all_sharing, timeout=10)
    assert time.monotonic() - answered <= RECOVERY_BOUND
    wait_for(lambda: b.state is OPEN)  # the trip made meanwhile is sent
    assert "5 consecutive failures" in (b.snapshot().reason or "")


def test_a_trip_whose_flush_timed_out_is_sent_again_to_a_restarted_server(
    workers: Workers, redis_server: RedisServer
) -> None:
    """The trip taken by a flush lost with a paused, then killed, server still reaches the fleet."""
    a, b = workers.breaker(), workers.breaker()
    workers.settle()
    redis_server.pause()
    fail(a, 5)  # the flusher sends the trip at once; the paused server never answers
    wait_for(lambda: workers.stores[0].degraded)
    redis_server.restart()  # what the paused server had received is gone with it
    answered = time.monotonic()
    wait_for(workers.all_sharing, timeout=10)
    assert time.monotonic() - answered <= RECOVERY_BOUND
    wait_for(lambda: b.state is OPEN)
    assert a.state is OPEN


def test_a_trip_closed_again_by_its_own_trial_during_a_stall_is_not_sent(
    workers: Workers, redis_server: RedisServer
) -> None:
    """As after an outage: a trip closed again by the worker's own trial is stale, not sent."""
    config = BreakerConfig(failure_threshold=2, open_for=0.1)
    a, b = workers.breaker(config), workers.breaker(config)
    workers.settle()
    redis_server.pause()
    fail(a, 2)
    wait_for(lambda: workers.stores[0].degraded)
    time.sleep(0.15)  # a's own open period passes; its trial call succeeds
    assert a.call(lambda: "ok") == "ok"
    assert a.state is CLOSED
    redis_server.restart()
    wait_for(workers.all_sharing, timeout=10)
    time.sleep(0.3)  # several flush intervals: a stale trip would have been sent by now
    assert a.state is CLOSED
    assert b.state is CLOSED
