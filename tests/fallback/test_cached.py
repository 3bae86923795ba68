"""CachedFallback: the last good result per key, bounded, with a max age, in every form."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from pydantic import ValidationError

from resilience import (
    BreakerConfig,
    BreakerRegistry,
    CachedFallback,
    CachedResultServed,
    CircuitBreaker,
    CircuitOpenError,
    Fallback,
    Pipeline,
    Remotes,
    RetryPolicy,
    resilient,
)
from resilience.testing import FakeClock


@dataclass
class Quotes:
    """A quote service that can be switched down; counts calls."""

    down: bool = False
    calls: int = 0
    prices: dict[str, float] = field(default_factory=lambda: {"ACME": 101.5, "INIT": 7.0})

    def __call__(self, symbol: str, *, currency: str = "USD") -> tuple[str, float, str]:
        self.calls += 1
        if self.down:
            raise ConnectionError("quotes service unreachable")
        return symbol, self.prices[symbol], currency


def test_serves_the_last_good_result_when_the_call_fails(fake_clock: FakeClock) -> None:
    """A success is stored; the same call failing later gets it back."""
    quotes = Quotes()
    cached = CachedFallback(clock=fake_clock)(quotes)
    assert cached("ACME") == ("ACME", 101.5, "USD")
    quotes.prices["ACME"] = 99.0
    assert cached("ACME") == ("ACME", 99.0, "USD")  # the newest success replaces it
    quotes.down = True
    assert cached("ACME") == ("ACME", 99.0, "USD")
    assert quotes.calls == 3  # the call is always made: the cache only stands in


def test_a_key_never_stored_lets_the_failure_through(fake_clock: FakeClock) -> None:
    """A failure with nothing stored for its key is the caller's, unchanged."""
    quotes = Quotes(down=True)
    with pytest.raises(ConnectionError, match="unreachable"):
        CachedFallback(clock=fake_clock).call(quotes, "ACME")


def test_keys_are_the_arguments_keyword_arguments_included(fake_clock: FakeClock) -> None:
    """Calls with other arguments, or other keyword arguments, have their own entries."""
    quotes = Quotes()
    cache = CachedFallback(clock=fake_clock)
    cache.call(quotes, "ACME", currency="EUR")
    cache.call(quotes, "INIT")
    quotes.down = True
    assert cache.call(quotes, "ACME", currency="EUR") == ("ACME", 101.5, "EUR")
    assert cache.call(quotes, "INIT") == ("INIT", 7.0, "USD")
    with pytest.raises(ConnectionError):
        cache.call(quotes, "ACME")  # never stored with the default currency


def test_a_key_function_chooses_what_makes_calls_the_same(fake_clock: FakeClock) -> None:
    """key= maps calls to entries: here the currency does not matter."""
    quotes = Quotes()
    cache = CachedFallback(key=lambda symbol, **_: symbol, clock=fake_clock)
    cache.call(quotes, "ACME", currency="EUR")
    quotes.down = True
    assert cache.call(quotes, "ACME") == ("ACME", 101.5, "EUR")


def test_max_age_on_the_injected_clock(fake_clock: FakeClock) -> None:
    """A value is served up to max_age seconds after it was stored, and not after."""
    quotes = Quotes()
    cache = CachedFallback(max_age=timedelta(seconds=60), clock=fake_clock)
    cache.call(quotes, "ACME")
    quotes.down = True
    fake_clock.advance(60)
    assert cache.call(quotes, "ACME")[1] == 101.5
    fake_clock.advance(0.5)
    with pytest.raises(ConnectionError):
        cache.call(quotes, "ACME")
    assert len(cache) == 0  # too old to serve, so dropped


def test_bounded_the_least_recently_stored_goes_first(fake_clock: FakeClock) -> None:
    """With max_entries=2, storing a third key drops the one stored longest ago."""
    cache = CachedFallback(max_entries=2, clock=fake_clock)
    cache.call(str, 1)
    cache.call(str, 2)
    cache.call(str, 1)  # stored again: now the newest
    cache.call(str, 3)
    assert len(cache) == 2

    def down(x: int) -> str:
        raise ConnectionError(x)

    assert cache.call(down, 1) == "1"
    assert cache.call(down, 3) == "3"
    with pytest.raises(ConnectionError):
        cache.call(down, 2)


def test_an_open_circuit_is_served_from_the_cache(fake_clock: FakeClock) -> None:
    """resilient(fallback=CachedFallback(), breaker=...): an open circuit's refusal is served."""
    quotes = Quotes()
    breaker = CircuitBreaker("quotes", BreakerConfig(failure_threshold=2), clock=fake_clock)
    guarded = resilient(
        retry=RetryPolicy(attempts=2, clock=fake_clock),
        breaker=breaker,
        fallback=CachedFallback(clock=fake_clock),
    )
    assert guarded.call(quotes, "ACME")[1] == 101.5
    quotes.down = True
    assert guarded.call(quotes, "ACME")[1] == 101.5  # two failures: the circuit opens
    calls = quotes.calls
    assert guarded.call(quotes, "ACME")[1] == 101.5  # refused at once, served from the cache
    assert quotes.calls == calls
    with pytest.raises(CircuitOpenError):
        guarded.call(quotes, "INIT")


def test_before_a_plain_fallback_for_what_it_cannot_serve(fake_clock: FakeClock) -> None:
    """Pipeline(Fallback(...), CachedFallback()): the plain fallback answers the cache's misses."""
    quotes = Quotes()
    guarded = Pipeline(Fallback(lambda _, symbol: (symbol, 0.0, "stale")), CachedFallback())
    guarded.call(quotes, "ACME")
    quotes.down = True
    assert guarded.call(quotes, "ACME")[1] == 101.5
    assert guarded.call(quotes, "INIT") == ("INIT", 0.0, "stale")


def test_async_forms(fake_clock: FakeClock) -> None:
    """acall() and an async decorated function store and serve the same way."""
    state = {"down": False}

    async def fetch(key: str) -> str:
        if state["down"]:
            raise TimeoutError(key)
        return key.upper()

    cache = CachedFallback(clock=fake_clock)
    decorated = cache(fetch)
    assert asyncio.run(decorated("a")) == "A"
    assert asyncio.run(cache.acall(fetch, "b")) == "B"
    state["down"] = True
    assert asyncio.run(cache.acall(fetch, "a")) == "A"
    assert asyncio.run(decorated("b")) == "B"


def test_a_cancellation_is_never_replaced(fake_clock: FakeClock) -> None:
    """Only an Exception is served over: a KeyboardInterrupt goes on."""
    cache = CachedFallback(clock=fake_clock)
    cache.call(str, 1)

    def interrupted(x: int) -> str:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.call(interrupted, 1)


def test_served_events_and_measurements(fake_clock: FakeClock) -> None:
    """on_served gets the value's age and the error; measurements count and show it."""
    served: list[CachedResultServed] = []
    cache = CachedFallback(name="quotes", clock=fake_clock, on_served=served.append)
    quotes = Quotes()
    cache.call(quotes, "ACME")
    (fresh,) = cache.measurements()
    assert (fresh.kind, fresh.name, fresh.healthy) == ("cached_fallback", "quotes", True)
    quotes.down = True
    fake_clock.advance(12.5)
    cache.call(quotes, "ACME")
    assert len(served) == 1
    assert served[0].age == 12.5
    assert isinstance(served[0].error, ConnectionError)
    assert served[0].describe() == "'quotes' served a cached result 12.5 s old (ConnectionError)"
    assert served[0].fields() == {
        "event": "fallback.cached", "name": "quotes", "age": 12.5, "error": "ConnectionError",
    }
    with pytest.raises(ConnectionError):
        cache.call(quotes, "INIT")
    (failing,) = cache.measurements()
    assert failing.healthy is False
    assert failing.totals == {"served": 1, "missed": 1}
    assert failing.gauges == {"entries": 1, "max_entries": 1024}
    assert "nothing fresh to serve" in failing.state


def test_per_remote_through_remotes(fake_clock: FakeClock) -> None:
    """Remotes(CachedFallback) with resilient(remote=...): each remote keeps its own entries."""
    caches = Remotes(lambda name: CachedFallback(name=name, max_entries=1, clock=fake_clock))
    guarded = resilient(lambda remote, _: remote, fallback=caches)
    state = {"down": False}

    def ls(remote: str, path: str) -> str:
        if state["down"]:
            raise ConnectionError(remote)
        return f"{remote}:{path}"

    guarded.call(ls, "gdrive", "/a")
    guarded.call(ls, "s3", "/b")
    state["down"] = True
    assert guarded.call(ls, "gdrive", "/a") == "gdrive:/a"
    assert guarded.call(ls, "s3", "/b") == "s3:/b"
    assert sorted(m.name for m in caches.measurements()) == ["gdrive", "s3"]


def test_unhashable_arguments_say_to_pass_a_key(fake_clock: FakeClock) -> None:
    """A call whose arguments cannot be a key fails with a TypeError that says what to do."""
    with pytest.raises(TypeError, match=r"not hashable\. Pass key="):
        CachedFallback(clock=fake_clock).call(len, [1, 2])


def test_bad_input_names_the_field() -> None:
    """Each bad argument is refused naming it."""
    with pytest.raises(ValidationError, match="max_entries"):
        CachedFallback(max_entries=0)
    with pytest.raises(ValidationError, match="max_age"):
        CachedFallback(max_age=-1)
    with pytest.raises(ValidationError, match="name"):
        CachedFallback(name="")
    with pytest.raises(TypeError, match=r"key=\.\.\.\) must be a function"):
        CachedFallback(key="symbol")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"on_served=\.\.\.\) must be callable"):
        CachedFallback(on_served=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"fallback=\[\.\.\.\]\) takes fallback strategies"):
        resilient(fallback=[print])  # type: ignore[list-item]


def test_threads_store_and_serve_within_the_bound() -> None:
    """16 threads storing and serving 50 keys in 20 entries: the bound holds, nothing raises."""
    cache = CachedFallback(max_entries=20)
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        try:
            for i in range(300):
                key = (seed * 7 + i) % 50
                if i % 3:
                    cache.call(str, key)
                else:
                    with contextlib.suppress(ConnectionError):  # not stored, or dropped
                        assert cache.call(_fails, key) == str(key)
                assert len(cache) <= 20 + 16  # one more at most per thread storing now
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not errors
    assert len(cache) <= 20  # once no store is under way, the bound holds exactly
    (shown,) = cache.measurements()
    assert shown.totals["served"] + shown.totals["missed"] == 16 * 100


def _fails(key: int) -> object:
    raise ConnectionError(key)


# ---------------------------------------------------------------------- state machine


class CacheMachine(RuleBasedStateMachine):
    """A CachedFallback beside a plain dict of (value, stored at), bounded and aged."""

    MAX_ENTRIES = 3
    MAX_AGE = 10.0

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.cache = CachedFallback(
            max_entries=self.MAX_ENTRIES, max_age=self.MAX_AGE, clock=self.clock
        )
        # The call's arguments, (key,), to (value, stored at); insertion order is storing order.
        self.model: dict[tuple[int], tuple[int, float]] = {}
        self.served = self.missed = 0

    @rule(key=st.integers(0, 4), value=st.integers())
    def succeed(self, key: int, value: int) -> None:
        """A success returns its value and stores it as the key's newest."""
        assert self.cache.call(lambda _: value, key) == value
        self.model.pop((key,), None)
        if len(self.model) >= self.MAX_ENTRIES:
            del self.model[next(iter(self.model))]
        self.model[key,] = (value, self.clock.monotonic())

    @rule(key=st.integers(0, 4))
    def fail(self, key: int) -> None:
        """A failure gets the stored value if it is at most MAX_AGE old, else the error."""
        entry = self.model.get((key,))
        if entry is not None and self.clock.monotonic() - entry[1] > self.MAX_AGE:
            del self.model[key,]
            entry = None
        if entry is None:
            self.missed += 1
            with pytest.raises(ConnectionError):
                self.cache.call(_fails, key)
        else:
            self.served += 1
            assert self.cache.call(_fails, key) == entry[0]

    @rule(seconds=st.sampled_from([0.0, 0.5, 3.0, 9.99, 10.0, 10.01, 25.0]))
    def advance(self, seconds: float) -> None:
        """Time passes on the injected clock."""
        self.clock.advance(seconds)

    @rule()
    def clear(self) -> None:
        """clear() forgets every entry."""
        self.cache.clear()
        self.model.clear()

    @invariant()
    def agrees_with_the_model(self) -> None:
        """The same keys in the same order, within the bound, and the same counts."""
        assert self.cache.keys() == list(self.model)
        assert len(self.cache) == len(self.model) <= self.MAX_ENTRIES
        (shown,) = self.cache.measurements()
        assert shown.totals == {"served": self.served, "missed": self.missed}


TestCacheMachine = CacheMachine.TestCase
TestCacheMachine.settings = settings(stateful_step_count=50)


def test_successes_are_recorded_on_every_path(fake_clock: FakeClock) -> None:
    """Fast paths (alone, with passive ones, call()) and the loop (breaker, async, retry) store."""
    quotes = Quotes()
    lone = CachedFallback(clock=fake_clock)
    passive = CachedFallback(clock=fake_clock)
    looped = CachedFallback(clock=fake_clock)
    with_passive = Pipeline(Fallback(lambda _, s: (s, 0.0, "none")), passive, RetryPolicy())
    with_breaker = Pipeline(looped, CircuitBreaker("q", clock=fake_clock))
    lone(quotes)("ACME")
    lone.call(quotes, "INIT")
    with_passive(quotes)("ACME")
    with_passive.call(quotes, "INIT")
    with_breaker(quotes)("ACME")
    asyncio.run(with_breaker.acall(_async(quotes), "INIT"))
    assert lone.keys() == [("ACME",), ("INIT",)]
    assert passive.keys() == [("ACME",), ("INIT",)]
    assert looped.keys() == [("ACME",), ("INIT",)]
    retried = CachedFallback(clock=fake_clock)
    flaky = iter([ConnectionError("once"), "ok"])

    def once(key: str) -> object:
        outcome = next(flaky)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert Pipeline(retried, RetryPolicy(clock=fake_clock))(once)("k") == "ok"
    assert retried.keys() == [("k",)]


def _async(quotes: Quotes) -> Callable[[str], Coroutine[Any, Any, tuple[str, float, str]]]:
    async def fetch(symbol: str) -> tuple[str, float, str]:
        return quotes(symbol)

    return fetch


def test_a_strategy_of_your_own_can_observe_successes() -> None:
    """A passive strategy with succeeded(args, kwargs, value) is told of each fast success."""
    seen: list[tuple[tuple[object, ...], object]] = []

    class Count:
        passive = True

        def before(self, fn: object, args: tuple[object, ...], kwargs: dict[str, object]) -> None:
            return None

        def after(self, token: None, value: object, error: BaseException | None) -> None:
            return None

        def succeeded(
            self, args: tuple[object, ...], kwargs: dict[str, object], value: object
        ) -> None:
            seen.append((args, value))

    Pipeline(Count())(str)(5)
    Pipeline(Count()).call(str, 6)
    assert seen == [((5,), "5"), ((6,), "6")]


def test_beside_a_breaker_lane_successes_are_stored_and_counted(fake_clock: FakeClock) -> None:
    """A breaker's fast lane (alone or per remote) stays: it resets its streak, the cache stores."""
    registry = BreakerRegistry(BreakerConfig(failure_threshold=2), clock=fake_clock)
    breaker = CircuitBreaker("one", BreakerConfig(failure_threshold=2), clock=fake_clock)
    state = {"down": False}

    def ls(remote: str, path: str) -> str:
        if state["down"]:
            raise ConnectionError(remote)
        return f"{remote}:{path}"

    fixed_cache, remote_cache = CachedFallback(clock=fake_clock), CachedFallback(clock=fake_clock)
    fixed = resilient(breaker=breaker, fallback=fixed_cache)(ls)
    per_remote = resilient(lambda remote, _: remote, breaker=registry, fallback=remote_cache)(ls)
    for guarded in (fixed, per_remote):
        assert guarded("gdrive", "/a") == "gdrive:/a"
        state["down"] = True
        assert guarded("gdrive", "/a") == "gdrive:/a"  # one failure, served
        state["down"] = False
        assert guarded("gdrive", "/b") == "gdrive:/b"  # a success resets the streak
        state["down"] = True
        assert guarded("gdrive", "/b") == "gdrive:/b"
        state["down"] = False
    assert breaker.state.name == "CLOSED"
    assert registry.get("gdrive").state.name == "CLOSED"
    assert fixed_cache.keys() == remote_cache.keys() == [("gdrive", "/a"), ("gdrive", "/b")]


def test_call_and_async_beside_a_breaker_store_and_serve(fake_clock: FakeClock) -> None:
    """call(), acall() and async decorators beside a breaker, or alone: stored, then served."""
    breaker = CircuitBreaker("q", BreakerConfig(failure_threshold=2), clock=fake_clock)
    beside, alone = CachedFallback(clock=fake_clock), CachedFallback(clock=fake_clock)
    pipeline = Pipeline(beside, breaker)
    quotes = Quotes()
    fetch = _async(quotes)
    assert pipeline.call(quotes, "ACME")[1] == 101.5
    assert asyncio.run(pipeline(fetch)("INIT"))[1] == 7.0
    assert asyncio.run(alone(fetch)("ACME"))[1] == 101.5
    assert beside.keys() == [("ACME",), ("INIT",)]
    assert alone.keys() == [("ACME",)]
    quotes.down = True
    assert pipeline.call(quotes, "ACME")[1] == 101.5
    quotes.down = False
    pipeline.call(quotes, "INIT")  # a success through call(): the streak starts again
    quotes.down = True
    assert asyncio.run(pipeline(fetch)("INIT"))[1] == 7.0
    assert asyncio.run(alone(fetch)("ACME"))[1] == 101.5
    assert breaker.state.name == "CLOSED"
