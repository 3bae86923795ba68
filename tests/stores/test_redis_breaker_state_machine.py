"""A fleet of breakers sharing one Redis, run beside a plain model; threads and tasks.

The model of the fleet's consecutive rule: each process has a run of failures that its
successes end; the fleet opens once the runs sum to ``failure_threshold`` (a process's
own run reaching it is the same event), and then every process rejects. After each step
the machine waits (bounded) for the flusher and the subscribers, then requires every
process and the server to agree with the model. Each example is a fresh namespace on
one private redis-server; examples are few, since each step waits on real threads.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable
from typing import cast

import pytest
import redis
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test
from test_redis_breaker import boom, ok, wait_for

from resilience import (
    BreakerConfig,
    BreakerRegistry,
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
)
from resilience.stores.redis._breaker import RedisBreakerStore
from servers import RedisServer

pytestmark = pytest.mark.slow  # a fleet of real processes beside a model

PROCESSES = 3
THRESHOLD = 4


class FleetMachine(RuleBasedStateMachine):
    url = ""

    def __init__(self) -> None:
        super().__init__()
        self.namespace = f"m{uuid.uuid4().hex[:8]}"
        self.client = redis.Redis.from_url(self.url, decode_responses=True)
        self.stores = [
            RedisBreakerStore(self.url, namespace=self.namespace, flush_interval=0.005)
            for _ in range(PROCESSES)
        ]
        config = BreakerConfig(failure_threshold=THRESHOLD, open_for=60)
        self.breakers: list[CircuitBreaker] = [
            BreakerRegistry(config, store=store).get("api") for store in self.stores
        ]
        self.runs = [0] * PROCESSES
        self.open = False

    def teardown(self) -> None:
        for store in self.stores:
            store.close()

    def call(self, process: int, fn: Callable[[], object]) -> None:
        breaker = self.breakers[process]
        if self.open:
            with pytest.raises(CircuitOpenError):
                breaker.call(fn)
            return
        try:
            breaker.call(fn)
        except ConnectionError:
            self.runs[process] += 1
        else:
            self.runs[process] = 0
        self.open = sum(self.runs) >= THRESHOLD

    @rule(process=st.integers(0, PROCESSES - 1))
    def failure(self, process: int) -> None:
        self.call(process, boom)
        self.agree()

    @rule(process=st.integers(0, PROCESSES - 1))
    def success(self, process: int) -> None:
        self.call(process, ok)
        self.agree()

    def agree(self) -> None:
        key = f"{self.namespace}:breaker:{{api}}"
        if self.open:
            wait_for(lambda: all(b.state is CircuitState.OPEN for b in self.breakers))
            assert self.client.hget(key, "state") == "open"
            return
        # Every run reached the server (the flushers are done), and nothing opened.
        wait_for(lambda: self.fleet_runs() == sum(self.runs))
        assert all(b.state is CircuitState.CLOSED for b in self.breakers)
        assert self.client.hget(key, "state") in (None, "closed")

    def fleet_runs(self) -> int:
        counts = self.client.hgetall(f"{self.namespace}:breaker:{{api}}:counts")
        return sum(int(value) for key, value in counts.items() if str(key).startswith("r:"))


def test_the_fleet_agrees_with_the_model(redis_server: RedisServer) -> None:
    """Breakers sharing state through Redis agree with the plain-Python model at every step."""
    FleetMachine.url = redis_server.url
    # Older hypothesis releases leave this function unannotated.
    run = cast("Callable[..., None]", run_state_machine_as_test)
    run(FleetMachine, settings=settings(max_examples=20, stateful_step_count=15))


def test_threads_hammering_a_shared_breaker_see_only_the_remotes_errors(
    redis_server: RedisServer,
) -> None:
    """Threads on breakers sharing one Redis state see only the remote's errors or rejections."""
    stores = [RedisBreakerStore(redis_server.url, flush_interval=0.005) for _ in range(2)]
    config = BreakerConfig(failure_threshold=50, open_for=60)
    breakers = [BreakerRegistry(config, store=store).get("api") for store in stores]
    unexpected: list[BaseException] = []
    outcomes = {"failed": 0, "rejected": 0}
    lock = threading.Lock()

    def worker(breaker: CircuitBreaker) -> None:
        for _ in range(500):
            try:
                breaker.call(boom)
            except ConnectionError:
                kind = "failed"
            except CircuitOpenError:
                kind = "rejected"
            except BaseException as exc:
                unexpected.append(exc)
                return
            with lock:
                outcomes[kind] += 1

    threads = [threading.Thread(target=worker, args=(breakers[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for store in stores:
        store.close()
    assert unexpected == []
    assert outcomes["failed"] + outcomes["rejected"] == 8 * 500
    assert outcomes["failed"] >= 50  # the threshold, reached across threads and stores
    assert [b.state for b in breakers] == [CircuitState.OPEN, CircuitState.OPEN]


def test_tasks_share_a_breaker_with_another_process(redis_server: RedisServer) -> None:
    """Many tasks trip a shared breaker, and the trip reaches another process's breaker."""
    store, other = (RedisBreakerStore(redis_server.url, flush_interval=0.005) for _ in "ab")
    config = BreakerConfig(failure_threshold=20, open_for=60)
    mine = BreakerRegistry(config, store=store).get("api")
    theirs = BreakerRegistry(config, store=other).get("api")

    async def fails() -> None:
        await asyncio.sleep(0)
        raise ConnectionError("remote down")

    async def task() -> str:
        for _ in range(100):
            try:
                await mine.acall(fails)
            except ConnectionError:
                continue
            except CircuitOpenError:
                return "rejected"
            await asyncio.sleep(0.001)
        return "never rejected"

    async def main() -> list[str]:
        return await asyncio.gather(*(task() for _ in range(50)))

    assert set(asyncio.run(main())) == {"rejected"}
    wait_for(lambda: theirs.state is CircuitState.OPEN)
    store.close()
    other.close()
