"""Fleet stores after a stall or a restart of their server: they recover by themselves.

A stall is a real one: the test's own redis-server paused with SIGSTOP (its sockets stay
open, so nothing errs) or busy in ``DEBUG SLEEP``. Waits are real but bounded: each
polls with a deadline.
"""

from __future__ import annotations

import logging
import threading
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
from resilience.stores.redis._breaker import RedisBreakerStore
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
        # Nothing public says that a store has nothing left to send: its flusher's list.
        wait_for(lambda: not any(store._hub.active for store in self.stores))  # noqa: SLF001
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


# ------------------------------------------------------------ retry budgets


def shares_again(caplog: pytest.LogCaptureFixture) -> Callable[[], bool]:
    """Whether a retry budget has logged that it reached Redis again (and so shares)."""
    return lambda: any("retry budget is shared" in r.getMessage() for r in caplog.records)


def test_a_retry_budget_stalled_by_a_paused_server_shares_again_and_keeps_its_calls(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """While Redis is paused the budget decides locally; once it answers, its calls are sent."""
    from resilience.stores.redis._budget import RedisRetryBudget  # noqa: PLC0415

    caplog.set_level(logging.INFO, logger="resilience")
    kwargs = {"name": "api", "ratio": 0.5, "min_per_second": 0.0, "window": 30.0}
    stalled = RedisRetryBudget(redis_server.url, **kwargs)  # type: ignore[arg-type]
    other = RedisRetryBudget(redis_server.url, **kwargs)  # type: ignore[arg-type]
    for _ in range(4):
        stalled.record_call()
    wait_for(lambda: other.snapshot().calls == 4)  # sent by the flusher
    redis_server.pause()
    started = time.monotonic()
    assert stalled.try_retry() is True  # this process's own budget: 4 calls, 2 retries
    assert time.monotonic() - started < 2, "a retry decision waits on a stalled server"
    for _ in range(6):
        stalled.record_call()
    time.sleep(0.3)  # the flusher's sends time out meanwhile
    redis_server.resume()
    answered = time.monotonic()
    # The calls counted during the stall reach the fleet (a send that timed out may have
    # run once the server resumed, and is counted then: at least, never fewer).
    wait_for(lambda: other.snapshot().calls >= 10, timeout=10)
    assert time.monotonic() - answered <= RECOVERY_BOUND
    wait_for(shares_again(caplog))
    assert stalled.snapshot().calls == other.snapshot().calls
    stalled.close()
    other.close()


def test_a_retry_budget_shares_again_after_one_slow_command(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A retry that timed out behind DEBUG SLEEP falls back once, then the fleet decides again."""
    from resilience.stores.redis._budget import RedisRetryBudget  # noqa: PLC0415

    caplog.set_level(logging.INFO, logger="resilience")
    kwargs = {"name": "api", "ratio": 0.5, "min_per_second": 0.0, "window": 30.0}
    budget = RedisRetryBudget(redis_server.url, **kwargs)  # type: ignore[arg-type]
    other = RedisRetryBudget(redis_server.url, **kwargs)  # type: ignore[arg-type]
    for _ in range(4):
        other.record_call()
    assert other.snapshot().calls == 4
    sleeper = redis_server.debug_sleep(1.0)
    time.sleep(0.05)
    assert budget.try_retry() is False  # its own budget: no calls of its own yet
    sleeper.join(timeout=10)
    answered = time.monotonic()
    wait_for(shares_again(caplog), timeout=10)
    assert time.monotonic() - answered <= RECOVERY_BOUND
    assert budget.try_retry() is True  # the fleet's 4 calls allow 2 retries
    budget.close()
    other.close()


# ------------------------------------------------------ checkpoint stores


def test_a_redis_checkpoint_store_works_again_after_a_stall(redis_server: RedisServer) -> None:
    """A commit made while the server is paused completes once it resumes; nothing is lost."""
    from resilience import ItemRecord  # noqa: PLC0415
    from resilience.stores.redis._checkpoint import RedisCheckpointStore  # noqa: PLC0415

    store = RedisCheckpointStore(redis_server.url)
    token = store.acquire("job", owner="w", ttl=30)
    store.commit_leased("job", [ItemRecord(1, "done")], token=token, ttl=30)
    redis_server.pause()
    errors: list[BaseException] = []

    def commit() -> None:
        try:
            store.commit_leased("job", [ItemRecord(2, "done")], token=token, ttl=30)
        except BaseException as exc:  # reported below
            errors.append(exc)

    committer = threading.Thread(target=commit)
    committer.start()
    committer.join(0.5)
    assert committer.is_alive(), "the commit waits on the paused server"
    redis_server.resume()
    committer.join(10)
    assert not committer.is_alive()
    assert errors == []
    assert set(store.load("job")) == {1, 2}
    store.release("job", token)
    store.close()


def test_a_batch_on_a_redis_restarted_midway_runs_again_without_losing_an_item(
    redis_server: RedisServer,
) -> None:
    """The run that lost its server (and lease) ends aborted; the next run does every item."""
    from resilience import BatchProcessor  # noqa: PLC0415
    from resilience.stores.redis._checkpoint import RedisCheckpointStore  # noqa: PLC0415

    store = RedisCheckpointStore(redis_server.url)
    seen: list[int] = []

    def handle(item: int) -> None:
        if item == 50 and not seen.count(50):
            redis_server.restart()  # it kept nothing: the first 50 are forgotten
        seen.append(item)

    processor = BatchProcessor("copy", handle, store=store, checkpoint_every=10, lease=5)
    lost = processor.run(range(100))
    assert lost.aborted
    assert "expired or was released" in (lost.reason or "")
    result = processor.run(range(100))
    assert result.succeeded == 100
    assert set(store.load("copy")) == set(range(100))
    assert set(seen) == set(range(100))
    store.close()
