"""Benchmarks: resilience against its peers, interleaved in one process.

    python -m pip install -e '.[bench]' && python benchmarks/run.py [--quick] [--json PATH]
        [--only 12,13]

Each timed scenario measures the overhead a library adds above a bare call: every round
times the bare call and every contender in a rotating order, subtracts the round's bare
time, and the table shows the median over rounds. Peers that are not installed are
reported as such. ``--quick`` only proves that every scenario runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

from resilience import (
    AIMD,
    AdaptiveLimiter,
    Backoff,
    BatchProcessor,
    BreakerConfig,
    BreakerRegistry,
    Bulkhead,
    CachedFallback,
    CheckpointStore,
    CircuitBreaker,
    Fallback,
    Hedge,
    MemoryCheckpointStore,
    Pipeline,
    RateLimiter,
    RetryBudget,
    RetryPolicy,
    SQLiteCheckpointStore,
    resilient,
)
from resilience.chaos import ChaosSwitch, InjectFault
from resilience.testing import FakeClock

Op = Callable[[int], object]
AsyncOp = Callable[[int], Awaitable[object]]


def _optional(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError:
        return None


tenacity = _optional("tenacity")
pybreaker = _optional("pybreaker")
circuitbreaker = _optional("circuitbreaker")
aiobreaker = _optional("aiobreaker")
stamina = _optional("stamina")
backoff = _optional("backoff")
pyresilience = _optional("pyresilience")
aiolimiter = _optional("aiolimiter")
limits = _optional("limits")
pyrate_limiter = _optional("pyrate_limiter")


# --------------------------------------------------------------------- the work


def work(x: int) -> int:
    """The wrapped call: as cheap as a call can be, so that overhead is what shows."""
    return x


async def awork(x: int) -> int:
    return x


def flaky() -> Op:
    """A call that fails every other time: each retried call is one failure, then success."""
    failed = False

    def call(x: int) -> int:
        nonlocal failed
        if not failed:
            failed = True
            raise ConnectionResetError
        failed = False
        return x

    return call


# ------------------------------------------------------------ hand-written floors


class FloorBreaker:
    """The least a breaker can do: a state check, a try/except and a counter.

    Like any decorator for arbitrary functions, its wrapper takes ``*args, **kwargs``.
    """

    def __init__(self, threshold: int = 5) -> None:
        self.threshold = threshold
        self.failures = 0
        self.open = False

    def wrap(self, fn: Callable[..., object]) -> Callable[..., object]:
        def wrapper(*args: object, **kwargs: object) -> object:
            if self.open:
                raise RuntimeError("open")
            try:
                result = fn(*args, **kwargs)
            except Exception:
                self.failures += 1
                if self.failures >= self.threshold:
                    self.open = True
                raise
            self.failures = 0
            return result

        return wrapper


def floor_stack(fn: Callable[..., object], attempts: int = 3) -> Callable[..., object]:
    """Retry and breaker hand-fused into one wrapper: the floor for scenarios 3 and 4."""
    breaker = FloorBreaker()

    def wrapper(*args: object, **kwargs: object) -> object:
        for attempt in range(attempts):
            if breaker.open:
                raise RuntimeError("open")
            try:
                result = fn(*args, **kwargs)
            except ConnectionError:
                breaker.failures += 1
                if breaker.failures >= breaker.threshold:
                    breaker.open = True
                if attempt == attempts - 1:
                    raise
                continue
            breaker.failures = 0
            return result
        raise AssertionError

    return wrapper


def floor_retry(fn: Callable[..., object], attempts: int = 3) -> Callable[..., object]:
    def wrapper(*args: object, **kwargs: object) -> object:
        for attempt in range(attempts):
            try:
                return fn(*args, **kwargs)
            except ConnectionError:
                if attempt == attempts - 1:
                    raise
        raise AssertionError

    return wrapper


# -------------------------------------------------------------------- contenders


def _peer(module: Any, build: Callable[[], Any]) -> Callable[[], Any] | None:
    return build if module is not None else None


def ours_breaker() -> CircuitBreaker:
    return CircuitBreaker("bench", BreakerConfig(failure_threshold=5, open_for=30))


def ours_retry() -> RetryPolicy:
    return RetryPolicy(attempts=3)


def scenario_breaker() -> dict[str, Callable[[], Op] | None]:
    def pyres() -> Op:
        cfg = pyresilience.CircuitBreakerConfig(failure_threshold=5, recovery_timeout=30)
        return pyresilience.resilient(circuit_breaker=cfg)(work)  # type: ignore[no-any-return]

    return {
        "resilience": lambda: ours_breaker()(work),
        "hand-written floor": lambda: FloorBreaker().wrap(work),
        "circuitbreaker": _peer(
            circuitbreaker,
            lambda: circuitbreaker.circuit(failure_threshold=5, recovery_timeout=30)(work),
        ),
        "pybreaker": _peer(
            pybreaker, lambda: pybreaker.CircuitBreaker(fail_max=5, reset_timeout=30)(work)
        ),
        "pyresilience": _peer(pyresilience, pyres),
    }


def scenario_retry() -> dict[str, Callable[[], Op] | None]:
    def pyres() -> Op:
        cfg = pyresilience.RetryConfig(max_attempts=3, retry_on=(ConnectionError,))
        return pyresilience.resilient(retry=cfg)(work)  # type: ignore[no-any-return]

    return {
        "resilience": lambda: ours_retry()(work),
        "hand-written floor": lambda: floor_retry(work),
        "tenacity": _peer(
            tenacity,
            lambda: tenacity.retry(
                stop=tenacity.stop_after_attempt(3),
                wait=tenacity.wait_exponential_jitter(),
                retry=tenacity.retry_if_exception_type(ConnectionError),
                reraise=True,
            )(work),
        ),
        "stamina": _peer(stamina, lambda: stamina.retry(on=ConnectionError, attempts=3)(work)),
        "backoff": _peer(
            backoff,
            lambda: backoff.on_exception(backoff.expo, ConnectionError, max_tries=3)(work),
        ),
        "pyresilience": _peer(pyresilience, pyres),
    }


def scenario_stack() -> dict[str, Callable[[], Op] | None]:
    def tenacity_over_pybreaker() -> Op:
        breaker = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=30)
        return tenacity.retry(  # type: ignore[no-any-return]
            stop=tenacity.stop_after_attempt(3),
            wait=tenacity.wait_exponential_jitter(),
            retry=tenacity.retry_if_exception_type(ConnectionError),
            reraise=True,
        )(breaker(work))

    def stamina_over_circuitbreaker() -> Op:
        inner = circuitbreaker.circuit(failure_threshold=5, recovery_timeout=30)(work)
        return stamina.retry(on=ConnectionError, attempts=3)(inner)  # type: ignore[no-any-return]

    def pyres() -> Op:
        return pyresilience.resilient(  # type: ignore[no-any-return]
            retry=pyresilience.RetryConfig(max_attempts=3, retry_on=(ConnectionError,)),
            circuit_breaker=pyresilience.CircuitBreakerConfig(
                failure_threshold=5, recovery_timeout=30
            ),
        )(work)

    return {
        "resilience": lambda: resilient(retry=ours_retry(), breaker=ours_breaker())(work),
        "hand-written floor": lambda: floor_stack(work),
        "pyresilience": _peer(pyresilience, pyres),
        "tenacity over pybreaker": (
            tenacity_over_pybreaker if tenacity and pybreaker else None
        ),
        "stamina over circuitbreaker": (
            stamina_over_circuitbreaker if stamina and circuitbreaker else None
        ),
    }


def scenario_async_stack() -> dict[str, Callable[[], AsyncOp] | None]:
    def aiobreaker_only() -> AsyncOp:
        breaker = aiobreaker.CircuitBreaker(fail_max=5, timeout_duration=timedelta(seconds=30))
        return breaker(awork)  # type: ignore[no-any-return]

    def pyres() -> AsyncOp:
        return pyresilience.resilient(  # type: ignore[no-any-return]
            retry=pyresilience.RetryConfig(max_attempts=3, retry_on=(ConnectionError,)),
            circuit_breaker=pyresilience.CircuitBreakerConfig(
                failure_threshold=5, recovery_timeout=30
            ),
        )(awork)

    return {
        "resilience": lambda: resilient(retry=ours_retry(), breaker=ours_breaker())(awork),
        "aiobreaker (breaker only)": _peer(aiobreaker, aiobreaker_only),
        "pyresilience": _peer(pyresilience, pyres),
        "stamina (retry only)": _peer(
            stamina, lambda: stamina.retry(on=ConnectionError, attempts=3)(awork)
        ),
        "tenacity (retry only)": _peer(
            tenacity,
            lambda: tenacity.retry(
                stop=tenacity.stop_after_attempt(3),
                retry=tenacity.retry_if_exception_type(ConnectionError),
                reraise=True,
            )(awork),
        ),
    }


def scenario_fail_once() -> dict[str, Callable[[], Op] | None]:
    def ours() -> Op:
        policy = RetryPolicy(attempts=3, backoff=Backoff(initial=0, jitter="none"))
        return policy(flaky())

    def tenacity_no_sleep() -> Op:
        return tenacity.retry(  # type: ignore[no-any-return]
            stop=tenacity.stop_after_attempt(3),
            wait=tenacity.wait_none(),
            retry=tenacity.retry_if_exception_type(ConnectionError),
            sleep=lambda _seconds: None,  # fairness: no real sleep(0)
            reraise=True,
        )(flaky())

    def pyres() -> Op:
        cfg = pyresilience.RetryConfig(
            max_attempts=3, delay=0.0, jitter=False, retry_on=(ConnectionError,)
        )
        return pyresilience.resilient(retry=cfg)(flaky())  # type: ignore[no-any-return]

    return {
        "resilience": ours,
        "hand-written loop": lambda: floor_retry(flaky()),
        "tenacity (no-op sleep)": _peer(tenacity, tenacity_no_sleep),
        "stamina (waits 0)": _peer(
            stamina,
            lambda: stamina.retry(
                on=ConnectionError, attempts=3, wait_initial=0, wait_max=0, wait_jitter=0
            )(flaky()),
        ),
        "backoff (interval 0)": _peer(
            backoff,
            lambda: backoff.on_exception(
                backoff.constant, ConnectionError, max_tries=3, interval=0, jitter=None
            )(flaky()),
        ),
        "pyresilience (delay 0)": _peer(pyresilience, pyres),
    }


def scenario_registry() -> dict[str, Callable[[], Op] | None]:
    def get() -> Op:
        registry = BreakerRegistry()
        registry.get("s3-eu")
        lookup = registry.get

        def op(x: int) -> object:
            lookup("s3-eu")
            return x

        return op

    def protect() -> Op:
        registry = BreakerRegistry()
        names = ("s3-eu", "s3-us", "gdrive", "dropbox")

        @registry.protect(lambda x: names[x & 3])
        def call(x: int) -> int:
            return x

        return call

    def dict_floor() -> Op:
        breakers = {"s3-eu": object()}

        def op(x: int) -> object:
            breakers["s3-eu"]
            return x

        return op

    return {
        "resilience registry.get": get,
        "resilience protect(fn of args)": protect,
        "plain dict lookup": dict_floor,
    }


def _pyres_bulkhead() -> Any:
    return pyresilience.resilient(bulkhead=pyresilience.BulkheadConfig(max_concurrent=10))


def scenario_bulkhead() -> dict[str, Callable[[], Op] | None]:
    def floor() -> Op:
        slots = threading.BoundedSemaphore(10)

        def op(x: int) -> object:
            with slots:
                return work(x)

        return op

    return {
        "resilience": lambda: Bulkhead("bench", max_concurrent=10)(work),
        "threading.BoundedSemaphore (floor)": floor,
        "pyresilience": _peer(pyresilience, lambda: _pyres_bulkhead()(work)),
    }


def scenario_async_bulkhead() -> dict[str, Callable[[], AsyncOp] | None]:
    def floor() -> AsyncOp:
        slots = asyncio.Semaphore(10)

        async def op(x: int) -> object:
            async with slots:
                return await awork(x)

        return op

    return {
        "resilience": lambda: Bulkhead("bench", max_concurrent=10)(awork),
        "asyncio.Semaphore (floor)": floor,
        "pyresilience": _peer(pyresilience, lambda: _pyres_bulkhead()(awork)),
    }


def scenario_limiter() -> dict[str, Callable[[], Op] | None]:
    def floor() -> Op:
        # What any adaptive limit needs: a counter under a lock, and a clock reading on
        # each side of the call for its round trip.
        # The lock is taken by acquire() and release(), not `with`: half the cost on
        # CPython 3.11, as the library takes it.
        lock = threading.Lock()
        acquire, release = lock.acquire, lock.release
        state = {"in_flight": 0, "limit": 10}
        now = time.monotonic

        def op(x: int) -> object:
            acquire()
            if state["in_flight"] >= state["limit"]:
                release()
                raise RuntimeError("limit")
            state["in_flight"] += 1
            release()
            start = now()
            try:
                return work(x)
            finally:
                _ = now() - start  # the sample a limit would learn from
                acquire()
                state["in_flight"] -= 1
                release()

        return op

    return {
        "resilience (AIMD)": lambda: AdaptiveLimiter("bench", AIMD())(work),
        "lock + counter + clock (floor)": floor,
    }


# ----------------------------------------------------------------- measurement


@dataclass
class Result:
    title: str
    unit: str
    rounds: dict[str, list[float]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)

    def median(self, name: str) -> float:
        return statistics.median(self.rounds[name])


# A limit no run reaches: every call is admitted, so what shows is the cost of asking.
UNREACHED = 10**9


class FloorRate:
    """The least a thread-safe rate limiter can do: GCRA's arithmetic under a lock."""

    def __init__(self, rate: float, burst: int) -> None:
        self.interval = 1 / rate
        self.capacity = burst * self.interval
        self.tat = 0.0
        self.lock = threading.Lock()

    def wrap(self, fn: Callable[..., object]) -> Callable[..., object]:
        monotonic = time.monotonic

        acquire, release = self.lock.acquire, self.lock.release  # half the cost of `with`

        def wrapper(*args: object, **kwargs: object) -> object:
            acquire()
            now = monotonic()
            tat = max(self.tat, now) + self.interval
            if tat - now > self.capacity:
                release()
                raise RuntimeError("limited")
            self.tat = tat
            release()
            return fn(*args, **kwargs)

        return wrapper

    def awrap(self, fn: Callable[..., Awaitable[object]]) -> Callable[..., Awaitable[object]]:
        monotonic = time.monotonic

        async def wrapper(*args: object, **kwargs: object) -> object:
            now = monotonic()  # one event loop: no lock to take
            tat = max(self.tat, now) + self.interval
            if tat - now > self.capacity:
                raise RuntimeError("limited")
            self.tat = tat
            return await fn(*args, **kwargs)

        return wrapper


class FloorHedge:
    """The least a hedge does on a call that answers in time: arm a timer, disarm it."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    def wrap(self, fn: Callable[..., Awaitable[object]]) -> Callable[..., Awaitable[object]]:
        delay = self.delay

        async def wrapper(*args: object, **kwargs: object) -> object:
            handle = asyncio.get_running_loop().call_later(delay, _never)
            try:
                return await fn(*args, **kwargs)
            finally:
                handle.cancel()

        return wrapper


def ours_limiter() -> RateLimiter:
    return RateLimiter("bench", rate=1_000_000, burst=UNREACHED)


def scenario_rate() -> dict[str, Callable[[], Op] | None]:
    def limits_fixed() -> Op:
        strategy = limits.strategies.FixedWindowRateLimiter(limits.storage.MemoryStorage())
        item = limits.RateLimitItemPerSecond(UNREACHED)

        def op(x: int) -> object:
            if not strategy.hit(item):
                raise RuntimeError("limited")
            return work(x)

        return op

    def pyrate() -> Op:
        limiter = pyrate_limiter.Limiter(
            pyrate_limiter.Rate(UNREACHED, pyrate_limiter.Duration.SECOND)
        )

        def op(x: int) -> object:
            if not limiter.try_acquire("bench", blocking=False):
                raise RuntimeError("limited")
            return work(x)

        return op

    def try_acquire() -> Op:
        limiter = ours_limiter()

        def op(x: int) -> object:
            if not limiter.try_acquire():
                raise RuntimeError("limited")
            return work(x)

        return op

    return {
        "resilience": lambda: ours_limiter()(work),
        "resilience, try_acquire() by hand": try_acquire,
        "hand-written floor": lambda: FloorRate(1_000_000, UNREACHED).wrap(work),
        "limits (fixed window)": _peer(limits, limits_fixed),
        "pyrate-limiter": _peer(pyrate_limiter, pyrate),
    }


def scenario_async_rate() -> dict[str, Callable[[], AsyncOp] | None]:
    def aio() -> AsyncOp:
        limiter = aiolimiter.AsyncLimiter(UNREACHED, 1)

        async def op(x: int) -> object:
            async with limiter:
                return await awork(x)

        return op

    return {
        "resilience": lambda: ours_limiter()(awork),
        "hand-written floor": lambda: FloorRate(1_000_000, UNREACHED).awrap(awork),  # type: ignore[dict-item]
        "aiolimiter": _peer(aiolimiter, aio),
    }


def _never() -> None:
    raise AssertionError("the floor's timer never fires in the benchmark")


def scenario_hedge() -> dict[str, Callable[[], AsyncOp] | None]:
    return {
        "resilience Hedge": lambda: Hedge(delay=5.0)(awork),
        "resilience Pipeline(Hedge)": lambda: Pipeline(Hedge(delay=5.0))(awork),
        "hand-written floor (a loop timer)": lambda: FloorHedge(5.0).wrap(awork),
    }


class FloorFlag:
    """A plain attribute: the least a run-time switch can be."""

    on = False


def floor_chaos(fn: Callable[..., object], flag: FloorFlag) -> Callable[..., object]:
    """The least a fault injector does while switched off: one check of its flag."""

    def wrapper(*args: object, **kwargs: object) -> object:
        if flag.on:
            raise ConnectionError("injected")
        return fn(*args, **kwargs)

    return wrapper


def floor_cached(fn: Callable[..., object], max_entries: int = 1024) -> Callable[..., object]:
    """The least a last-good-result fallback can do: a key, a clock read, a bounded dict.

    Not thread-safe (ours takes a lock around its dict): the floor of scenario 12.
    """
    entries: OrderedDict[object, tuple[object, float]] = OrderedDict()
    now = time.monotonic

    def wrapper(*args: object, **kwargs: object) -> object:
        key = args if not kwargs else (args, tuple(sorted(kwargs.items())))
        try:
            value = fn(*args, **kwargs)
        except Exception:
            entry = entries.get(key)
            if entry is None:
                raise
            return entry[0]
        entries[key] = (value, now())
        entries.move_to_end(key)
        if len(entries) > max_entries:
            entries.popitem(last=False)
        return value

    return wrapper


def scenario_chaos() -> dict[str, Callable[[], Op] | None]:
    def off() -> InjectFault:
        return InjectFault(ConnectionError, rate=0.5, switch=ChaosSwitch("bench"))

    return {
        "resilience InjectFault, off": lambda: off()(work),
        "resilience Pipeline(InjectFault), off": lambda: Pipeline(off())(work),
        "hand-written floor (an if)": lambda: floor_chaos(work, FloorFlag()),
    }


def _repeating(fn: Op) -> Op:
    return lambda x: fn(x & 255)  # 256 keys, each stored again and again


def cached_fallback(n: int, rounds: int) -> Result:
    """A success through a CachedFallback (max_age=300), beside its floor and a plain Fallback.

    Two runs: every call a new key (each success stores one and drops the oldest of
    1,024), and 256 keys stored again and again; each against its own bare call.
    """
    result = Result("(19) cached fallback, sync, success", "ns/call")
    new = overhead("", {
        "resilience CachedFallback, every key new": lambda: CachedFallback(max_age=300)(work),
        "hand-written floor, every key new": lambda: floor_cached(work),
        "resilience Fallback (stores nothing)": lambda: Fallback(lambda _exc, x: x)(work),
        "resilient: retry + breaker": lambda: resilient(
            retry=ours_retry(), breaker=ours_breaker()
        )(work),
        "resilient: + CachedFallback, every key new": lambda: resilient(
            retry=ours_retry(), breaker=ours_breaker(), fallback=CachedFallback(max_age=300)
        )(work),
    }, lambda: work, n=n, rounds=rounds)
    again = overhead("", {
        "resilience CachedFallback, 256 keys": lambda: _repeating(
            CachedFallback(max_age=300)(work)
        ),
        "hand-written floor, 256 keys": lambda: _repeating(floor_cached(work)),
    }, lambda: _repeating(work), n=n, rounds=rounds)
    result.rounds.update(new.rounds)
    result.rounds.update(again.rounds)
    result.notes.append(
        "both store with the same OrderedDict steps; the floor is a closure, ours a "
        "strategy told of each success by the decorated function's wrapper"
    )
    return result


def _time_sync(op: Op, n: int) -> float:
    with _no_gc():
        start = time.perf_counter_ns()
        for i in range(n):
            op(i)
        return (time.perf_counter_ns() - start) / n


def _time_async(op: AsyncOp, n: int) -> float:
    async def loop() -> float:
        with _no_gc():
            start = time.perf_counter_ns()
            for i in range(n):
                await op(i)
            return (time.perf_counter_ns() - start) / n

    return asyncio.run(loop())


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    # Each timing starts clean and runs without collections, so that garbage left by
    # one contender is never charged to the next.
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def overhead(
    title: str,
    builders: dict[str, Callable[[], Any] | None],
    bare: Callable[[], Any],
    *,
    n: int,
    rounds: int,
    is_async: bool = False,
) -> Result:
    """Median per-call time above ``bare``, contenders interleaved round by round."""
    result = Result(title, "ns/call")
    timer = _time_async if is_async else _time_sync
    ops = {}
    for name, build in builders.items():
        if build is None:
            result.missing.append(name)
        else:
            ops[name] = build()
    names = list(ops)
    for name in names:
        result.rounds[name] = []
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            # A bare timing of its own, just before: a slow moment of the machine then
            # shifts both, not one contender's difference.
            base = timer(bare(), n)
            result.rounds[name].append(max(0.0, timer(ops[name], n) - base))
    return result


def memory_per_breaker(count: int) -> Result:
    """Bytes per breaker, through a registry of ``count`` remotes with 100-call windows."""
    result = Result(f"(6) memory per breaker, {count:,} remotes, 100-call window", "B/breaker")
    names = [f"remote-{i}" for i in range(count)]
    config = BreakerConfig(failure_rate=0.5, window=100)

    def ours() -> object:
        registry = BreakerRegistry(config, max_breakers=count)
        for name in names:
            registry.get(name)
        return registry

    def pyres() -> object:
        cfg = pyresilience.CircuitBreakerConfig(
            sliding_window_size=100, failure_rate_threshold=0.5
        )
        return {name: pyresilience.CircuitBreaker(cfg) for name in names}

    builders: dict[str, Callable[[], object] | None] = {
        "resilience (BreakerRegistry)": ours,
        "circuitbreaker (dict, no window)": _peer(
            circuitbreaker,
            lambda: {n: circuitbreaker.CircuitBreaker(failure_threshold=5) for n in names},
        ),
        "pybreaker (dict, no window)": _peer(
            pybreaker, lambda: {n: pybreaker.CircuitBreaker(fail_max=5) for n in names}
        ),
        "pyresilience (dict, 100-call window)": _peer(pyresilience, pyres),
    }
    for name, build in builders.items():
        if build is None:
            result.missing.append(name)
            continue
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        kept = build()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        del kept
        result.rounds[name] = [(after - before) / count]
    result.notes.append("tracemalloc: bytes allocated while building, divided by the count")
    return result


def batch(items: int, rounds: int, retry: Result | None) -> Result:
    """Per-item overhead of a batch of no-op items, checkpointed every 500 items."""
    result = Result(f"(8) batch per-item overhead, {items:,} no-op items", "ns/item")
    stores: dict[str, Callable[[Path], CheckpointStore]] = {
        "resilience, SQLite every 500 (durable)": lambda d: SQLiteCheckpointStore(d / "c.db"),
        "resilience, SQLite every 500 (durable=False)": lambda d: SQLiteCheckpointStore(
            d / "c.db", durable=False
        ),
        "resilience, in memory": lambda _d: MemoryCheckpointStore(),
    }
    for name in stores:
        result.rounds[name] = []
    bare = _time_sync(work, items)
    for _ in range(rounds):
        for name, make in stores.items():
            with tempfile.TemporaryDirectory() as folder:
                store = make(Path(folder))
                processor = BatchProcessor("bench", work, store=store, checkpoint_every=500)
                with _no_gc():
                    start = time.perf_counter_ns()
                    processor.run(range(items))
                    elapsed = (time.perf_counter_ns() - start) / items
                store.close()
            result.rounds[name].append(max(0.0, elapsed - bare))
    if retry is not None and "tenacity" in retry.rounds:
        result.rounds["one tenacity-decorated call (for scale)"] = retry.rounds["tenacity"]
    durable = result.median("resilience, SQLite every 500 (durable)") + bare
    result.figures["items_per_second"] = 1e9 / durable
    result.notes.append(f"durable SQLite: {1e9 / durable:,.0f} items per second")
    return result


def amplification(calls: int) -> Result:
    """Attempts per call when every call fails, 3 attempts each, with and without a budget."""
    result = Result(f"(9) retry amplification, {calls:,} calls to a dead remote", "attempts/call")
    for name, budget_ratio in (("resilience, no budget", None), ("resilience, budget 20%", 0.2)):
        clock = FakeClock()
        budget = RetryBudget(ratio=budget_ratio, clock=clock) if budget_ratio else None
        policy = RetryPolicy(
            attempts=3, backoff=Backoff(initial=0, jitter="none"), budget=budget, clock=clock
        )
        attempts = 0

        def dead() -> None:
            nonlocal attempts
            attempts += 1
            raise ConnectionRefusedError

        for _ in range(calls):
            with contextlib.suppress(ConnectionRefusedError):
                policy.call(dead)
        result.rounds[name] = [attempts / calls]
    result.notes.append("no peer has a retry budget; without one every library makes 3.0")
    return result


def threaded(calls: int, rounds: int) -> Result:
    """Throughput of 2 threads sharing one breaker."""
    result = Result("(10) 2 threads sharing one breaker", "calls/s")
    builders: dict[str, Callable[[], Op] | None] = {
        "resilience": lambda: ours_breaker()(work),
        "circuitbreaker": _peer(
            circuitbreaker,
            lambda: circuitbreaker.circuit(failure_threshold=5, recovery_timeout=30)(work),
        ),
        "pybreaker": _peer(
            pybreaker, lambda: pybreaker.CircuitBreaker(fail_max=5, reset_timeout=30)(work)
        ),
    }
    ops = {}
    for name, build in builders.items():
        if build is None:
            result.missing.append(name)
        else:
            ops[name] = build()
            result.rounds[name] = []
    for _ in range(rounds):
        for name, op in ops.items():
            barrier = threading.Barrier(3)

            def worker(op: Op = op, barrier: threading.Barrier = barrier) -> None:
                barrier.wait()
                for i in range(calls):
                    op(i)

            threads = [threading.Thread(target=worker) for _ in range(2)]
            for thread in threads:
                thread.start()
            barrier.wait()
            start = time.perf_counter()
            for thread in threads:
                thread.join()
            result.rounds[name].append(2 * calls / (time.perf_counter() - start))
    return result


def shared_registry(n: int, rounds: int) -> Result:
    """A registry whose breakers are shared through Redis, beside pybreaker's Redis storage."""
    title = "(11) breaker shared through Redis, sync, success"
    url = os.environ.get("RESILIENCE_BENCH_REDIS", "redis://127.0.0.1:6379/0")
    redis = _optional("redis")
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        client.ping()
    except Exception as exc:
        result = Result(title, "ns/call")
        result.notes.append(f"not measured: no Redis at {url} ({exc!r})")
        return result
    from resilience import RedisBreakerStore

    namespace = f"bench-{os.getpid()}"
    stores: list[RedisBreakerStore] = []

    def protect(store: RedisBreakerStore | None) -> Op:
        registry = BreakerRegistry(BreakerConfig(failure_threshold=5, open_for=30), store=store)
        registry.get("s3-eu")  # created (and linked) before the timing starts
        return registry.protect("s3-eu")(work)

    def ours_shared() -> Op:
        stores.append(RedisBreakerStore(client, namespace=namespace))
        return protect(stores[-1])

    def pybreaker_redis() -> Op:
        storage = pybreaker.CircuitRedisStorage(
            pybreaker.STATE_CLOSED, client, namespace=f"{namespace}-pybreaker"
        )
        return pybreaker.CircuitBreaker(fail_max=5, reset_timeout=30, state_storage=storage)(work)  # type: ignore[no-any-return]

    result = overhead(
        title,
        {
            "resilience, RedisBreakerStore": ours_shared,
            "resilience, in memory": lambda: protect(None),
            "pybreaker, CircuitRedisStorage": _peer(pybreaker, pybreaker_redis),
        },
        lambda: work,
        n=n,
        rounds=rounds,
    )
    for store in stores:
        store.close()
    for key in client.scan_iter(f"{namespace}*"):
        client.delete(key)
    result.notes.append(f"Redis at {url}, on this machine (loopback)")
    return result


# ------------------------------------------------------------------------ report


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for dist in ("resilience", "tenacity", "pybreaker", "circuitbreaker", "aiobreaker",
                 "stamina", "backoff", "pyresilience"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "versions": versions,
    }


def render(result: Result, reference: str | None, label: str = "ours") -> str:
    lines = [f"{result.title} [{result.unit}, median]"]
    base = result.median(reference) if reference in result.rounds else None
    for name in result.rounds:
        value = result.median(name)
        shown = f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
        ratio = f"  ({_times(value / base)} {label})" if base and name != reference else ""
        lines.append(f"  {name:46} {shown:>14}{ratio}")
    lines.extend(f"  {name:46} {'not installed':>14}" for name in result.missing)
    lines.extend(f"  note: {note}" for note in result.notes)
    return "\n".join(lines)


def _times(ratio: float) -> str:
    return f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.2f}x"


def targets(results: dict[str, Result]) -> list[str]:
    """The issue's targets, judged on this run's medians."""
    checks = []

    def ratio(key: str, ours: str, peer: str) -> float | None:
        r = results.get(key)
        if r is None:
            return None
        if ours not in r.rounds or peer not in r.rounds or not r.median(peer):
            return None
        return r.median(ours) / r.median(peer)

    for key, ours, peer, limit in (
        ("1", "resilience", "circuitbreaker", 0.8),
        ("2", "resilience", "tenacity", 0.05),
        ("3", "resilience", "pyresilience", 0.25),
        ("3", "resilience", "tenacity over pybreaker", 0.05),
        ("3", "resilience", "hand-written floor", 1.5),
        ("4", "resilience", "aiobreaker (breaker only)", 0.5),
        ("5", "resilience", "tenacity (no-op sleep)", 0.1),
        ("5", "resilience", "hand-written loop", 2.5),
        ("11", "resilience, RedisBreakerStore", "resilience, in memory", 2.0),
        ("12", "resilience", "threading.BoundedSemaphore (floor)", 1.5),
        ("13", "resilience", "asyncio.Semaphore (floor)", 1.5),
        ("14", "resilience (AIMD)", "lock + counter + clock (floor)", 1.5),
        ("15", "resilience", "hand-written floor", 1.5),
        ("16", "resilience", "hand-written floor", 1.5),
        ("17", "resilience Hedge", "hand-written floor (a loop timer)", 1.5),
        ("18", "resilience InjectFault, off", "hand-written floor (an if)", 1.5),
        ("19", "resilience CachedFallback, 256 keys", "hand-written floor, 256 keys", 1.5),
        ("19", "resilience CachedFallback, every key new", "hand-written floor, every key new",
         1.5),
    ):
        if key not in results:
            continue  # not run (--only)
        value = ratio(key, ours, peer)
        if value is None:
            checks.append(f"  ({key}) ours / {peer} <= {limit}: not measured ({peer} missing)")
        else:
            verdict = "met" if value <= limit else "MISSED"
            checks.append(f"  ({key}) ours / {peer} = {value:.3f} (target <= {limit}): {verdict}")
    for key in ("17", "18"):
        r = results.get(key)
        bare = r.figures.get("bare_ns") if r is not None else None
        if r is None or not bare:
            continue
        checks.extend(
            f"  ({key}) {name}: {(bare + r.median(name)) / bare:.2f}x a bare call's time "
            "(reported, no target: see docs/performance.md)"
            for name in r.rounds
        )
    batch8 = results.get("8")
    name8 = "resilience, SQLite every 500 (durable)"
    if batch8 is not None and name8 in batch8.rounds:
        per_item = batch8.median(name8)
        rate = batch8.figures["items_per_second"]
        verdict = "met" if rate >= 100_000 else "MISSED"
        checks.append(
            f"  (8) {rate:,.0f} items per second, SQLite every 500 (target >= 100,000): "
            f"{verdict}"
        )
        tenacity_call = results["2"].rounds.get("tenacity") if "2" in results else None
        if tenacity_call:
            ratio_8 = per_item / statistics.median(tenacity_call)
            verdict = "met" if ratio_8 <= 0.5 else "MISSED"
            checks.append(
                f"  (8) per-item overhead / one tenacity call = {ratio_8:.3f} "
                f"(target <= 0.5): {verdict}"
            )
    memory = results["6"].rounds.get("resilience (BreakerRegistry)") if "6" in results else None
    if memory:
        verdict = "met" if memory[0] <= 600 else "MISSED"
        checks.append(f"  (6) {memory[0]:.0f} B per breaker (target <= 600): {verdict}")
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts: prove it runs")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument(
        "--only", default="", help="run these scenarios only, by number: --only 12,13"
    )
    args = parser.parse_args(argv)
    only = {key.strip() for key in args.only.split(",") if key.strip()}
    quick = args.quick
    rounds = args.rounds or (1 if quick else 9)
    n = 200 if quick else 50_000
    n_async = 200 if quick else 20_000
    n_retry = 200 if quick else 10_000

    # stamina logs every retry by default; it still does (and that cost is measured), but
    # into a NullHandler instead of logging's last-resort handler on stderr. With
    # structlog installed it would log through structlog to stdout: keep it on the
    # standard library's logging, as on a machine without structlog.
    logging.getLogger("stamina").addHandler(logging.NullHandler())
    logging.getLogger("stamina").propagate = False
    if stamina is not None:
        stamina.instrumentation.set_on_retry_hooks(
            [stamina.instrumentation.LoggingOnRetryHook]
        )
    jobs: dict[str, Callable[[], Result]] = {
        "1": lambda: overhead("(1) breaker only, sync", scenario_breaker(), lambda: work,
                              n=n, rounds=rounds),
        "2": lambda: overhead("(2) retry only, sync, success", scenario_retry(),
                              lambda: work, n=n, rounds=rounds),
        "3": lambda: overhead("(3) retry + breaker, sync, success", scenario_stack(),
                              lambda: work, n=n, rounds=rounds),
        "4": lambda: overhead("(4) retry + breaker, async, success", scenario_async_stack(),
                              lambda: awork, n=n_async, rounds=rounds, is_async=True),
        "5": lambda: overhead("(5) one failure then success, zero wait", scenario_fail_once(),
                              _two_calls, n=n_retry, rounds=rounds),
        "6": lambda: memory_per_breaker(200 if quick else 10_000),
        "7": lambda: overhead("(7) per-remote lookup", scenario_registry(), lambda: work,
                              n=n, rounds=rounds),
        "8": lambda: batch(2_000 if quick else 100_000, 1 if quick else 5,
                           results.get("2")),
        "9": lambda: amplification(200 if quick else 10_000),
        "10": lambda: threaded(500 if quick else 100_000, 1 if quick else 3),
        "11": lambda: shared_registry(n, rounds),
        "12": lambda: overhead("(12) bulkhead, sync, success", scenario_bulkhead(),
                               lambda: work, n=n, rounds=rounds),
        "13": lambda: overhead("(13) bulkhead, async, success", scenario_async_bulkhead(),
                               lambda: awork, n=n_async, rounds=rounds, is_async=True),
        "14": lambda: overhead("(14) adaptive limiter, sync, success", scenario_limiter(),
                               lambda: work, n=n, rounds=rounds),
        "15": lambda: overhead("(15) rate limiter, sync, admitted", scenario_rate(),
                               lambda: work, n=n, rounds=rounds),
        "16": lambda: overhead("(16) rate limiter, async, admitted", scenario_async_rate(),
                               lambda: awork, n=n_async, rounds=rounds, is_async=True),
        "17": lambda: _with_bare(
            overhead("(17) hedge that never fires, async, success", scenario_hedge(),
                     lambda: awork, n=n_async, rounds=rounds, is_async=True),
            _time_async(awork, n_async)),
        "18": lambda: _with_bare(
            overhead("(18) fault injection switched off, sync, success", scenario_chaos(),
                     lambda: work, n=n, rounds=rounds),
            _time_sync(work, n)),
        "19": lambda: cached_fallback(n, rounds),
    }
    unknown = only - set(jobs)
    if unknown:
        parser.error(f"--only: no scenario {', '.join(sorted(unknown))}; they are 1-{len(jobs)}")
    results: dict[str, Result] = {}
    for key, job in jobs.items():
        if not only or key in only:
            results[key] = job()

    info = machine()
    print(f"resilience benchmarks: Python {info['python']} on {info['cpu']}, "
          f"{info['cores']} cores, {info['platform']}")
    print(f"rounds={rounds}, calls per timing: sync {n:,}, async {n_async:,}, "
          f"fail-once {n_retry:,}; overhead = contender - bare call, same round\n")
    reference = dict.fromkeys(("1", "2", "3", "4", "5", "10", "13", "14"), ("resilience", "ours"))
    reference["11"] = ("resilience, RedisBreakerStore", "ours")
    reference["6"] = ("resilience (BreakerRegistry)", "ours")
    reference["8"] = ("resilience, SQLite every 500 (durable)", "ours")
    reference["7"] = ("plain dict lookup", "a dict lookup")
    reference["12"] = ("threading.BoundedSemaphore (floor)", "the floor")
    reference["13"] = ("asyncio.Semaphore (floor)", "the floor")
    reference["14"] = ("lock + counter + clock (floor)", "the floor")
    reference["17"] = ("resilience Hedge", "ours")
    reference["18"] = ("resilience InjectFault, off", "ours")
    reference["19"] = ("resilience Fallback (stores nothing)", "a plain Fallback")
    for key in sorted(results, key=int):
        if results[key].rounds or results[key].missing:
            print(render(results[key], *reference.get(key, (None, "ours"))))
        else:
            print(f"{results[key].title}: {'; '.join(results[key].notes)}")
        print()
    if quick:
        print("Targets are judged on full runs only: --quick counts are too small to time.")
    else:
        print("Targets, on this run:")
        print("\n".join(targets(results)))
    if args.json:
        args.json.write_text(json.dumps({
            "machine": info,
            "quick": quick,
            "rounds": rounds,
            "scenarios": {
                key: {
                    "title": r.title,
                    "unit": r.unit,
                    "results": {
                        name: {"median": r.median(name), "rounds": values}
                        for name, values in r.rounds.items()
                    },
                    "not_installed": r.missing,
                    "notes": r.notes,
                    "figures": r.figures,
                }
                for key, r in results.items()
            },
        }, indent=2))
    return 0


def _with_bare(result: Result, bare_ns: float) -> Result:
    """Keep a bare call's own time beside the overheads, for the ratio to it."""
    result.figures["bare_ns"] = bare_ns
    return result


def _two_calls() -> Op:
    """The bare cost of one failure then a success: two calls, one exception caught."""
    fn = flaky()

    def op(x: int) -> object:
        try:
            return fn(x)
        except ConnectionError:
            return fn(x)

    return op


if __name__ == "__main__":
    raise SystemExit(main())
