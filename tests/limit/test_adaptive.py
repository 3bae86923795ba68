"""AdaptiveLimiter: its algorithms, refusals, what counts as a drop, forms and parts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resilience import (
    AIMD,
    AdaptiveLimiter,
    Bulkhead,
    BulkheadFullError,
    CallTimeoutError,
    Event,
    Gradient2,
    LimitChanged,
    LimiterRejected,
    LimitExceededError,
    Pipeline,
    RejectedError,
    Remotes,
    Timeout,
)
from resilience.testing import FakeClock


@pytest.mark.parametrize(
    ("algorithm", "kwargs", "field"),
    [
        (AIMD, {"initial_limit": 0}, "initial_limit"),
        (AIMD, {"min_limit": 0}, "min_limit"),
        (AIMD, {"backoff_ratio": 1.0}, "backoff_ratio"),
        (AIMD, {"backoff_ratio": 0.2}, "backoff_ratio"),
        (AIMD, {"timeout": 0}, "timeout"),
        (AIMD, {"min_limit": 5, "max_limit": 4}, "min_limit"),
        (AIMD, {"initial_limit": 300}, "initial_limit"),
        (Gradient2, {"smoothing": 0}, "smoothing"),
        (Gradient2, {"queue_size": -1}, "queue_size"),
        (Gradient2, {"long_window": 0}, "long_window"),
        (Gradient2, {"warmup": 0}, "warmup"),
        (Gradient2, {"tolerance": 2}, "tolerance"),
    ],
)
def test_bad_config_names_the_field(
    algorithm: type[AIMD | Gradient2], kwargs: dict[str, Any], field: str
) -> None:
    """Each bad field is refused at construction, by its name."""
    with pytest.raises(ValueError, match=field):
        algorithm(**kwargs)


def test_construction_is_checked() -> None:
    """The name, the algorithm and listeners are checked; timedelta converts."""
    assert AIMD(timeout=timedelta(milliseconds=500)).timeout == 0.5  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="name"):
        AdaptiveLimiter("")
    with pytest.raises(TypeError, match=r"AIMD\(\.\.\.\) or Gradient2"):
        AdaptiveLimiter("db", {"initial_limit": 3})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="listener"):
        AdaptiveLimiter("db", listeners=[1])  # type: ignore[list-item]
    limiter = AdaptiveLimiter("db")
    assert isinstance(limiter.algorithm, AIMD)
    assert repr(limiter) == "AdaptiveLimiter('db', AIMD, limit=10)"


def test_refuses_beyond_its_limit_at_once() -> None:
    """With as many in flight as the limit, a call is refused: a RejectedError naming it."""
    events: list[Event] = []
    limiter = AdaptiveLimiter("db", AIMD(initial_limit=2), listeners=[events.append])
    tokens = [limiter.before(None, (), {}) for _ in range(2)]
    with pytest.raises(LimitExceededError) as caught:
        limiter.call(lambda: None)
    error = caught.value
    assert isinstance(error, RejectedError)
    assert (error.name, error.in_flight, error.limit, error.retry_after) == ("db", 2, 2, None)
    assert error.subject == "limiter 'db' is at its limit"
    assert events == [LimiterRejected("db", 2, 2)]
    assert events[0].fields() == {
        "event": "limiter.rejected",
        "name": "db",
        "in_flight": 2,
        "limit": 2,
    }
    for token in tokens:
        limiter.after(token, None, None)
    assert limiter.idle


def test_aimd_grows_while_calls_succeed_and_shrinks_on_drops() -> None:
    """AIMD: +1 per success while half the limit is used, x backoff_ratio on a drop."""
    clock = FakeClock()
    events: list[Event] = []
    limiter = AdaptiveLimiter(
        "db", AIMD(initial_limit=4, max_limit=6), clock=clock, listeners=[events.append]
    )

    def burst(n: int, error: BaseException | None = None) -> None:
        tokens = [limiter.before(None, (), {}) for _ in range(n)]
        clock.advance(0.01)
        for token in tokens:
            limiter.after(token, None, error)

    burst(1)  # 1 of 4 in flight: app-limited, nothing learned
    assert limiter.limit == 4
    burst(2)  # the second started with 2 of 4 in flight: latency held, +1
    assert limiter.limit == 5
    burst(3)  # the third started with 3 of 5: +1
    assert limiter.limit == 6
    burst(3)  # 3 of 6 again, but never beyond max_limit
    assert limiter.limit == 6
    burst(1, CallTimeoutError("slow"))
    assert limiter.limit == 5  # int(6 * 0.9)
    assert [(e.old, e.new, e.reason) for e in events if isinstance(e, LimitChanged)] == [
        (4, 5, "latency held"),
        (5, 6, "latency held"),
        (6, 5, "dropped"),
    ]
    assert events[-1].level > events[0].level  # shrinking is INFO, growing DEBUG


def test_aimd_counts_a_call_slower_than_its_timeout_as_dropped() -> None:
    """A success slower than AIMD's timeout shrinks the limit, measured on the clock."""
    clock = FakeClock()
    limiter = AdaptiveLimiter("db", AIMD(initial_limit=10, timeout=1), clock=clock)

    @limiter
    def slow() -> str:
        clock.advance(2)
        return "late"

    assert slow() == "late"
    assert limiter.limit == 9


def test_what_counts_as_dropped() -> None:
    """Timeouts and refusals further in are drops; other errors and cancellations are not."""
    clock = FakeClock()
    limiter = AdaptiveLimiter("db", AIMD(initial_limit=2, min_limit=1), clock=clock)
    harmless: list[BaseException] = [ConnectionError("reset"), asyncio.CancelledError()]
    for error in harmless:
        token = limiter.before(None, (), {})
        limiter.after(token, None, error)
    assert limiter.limit == 2
    assert limiter.measurements()[0].totals["dropped"] == 0
    inner = BulkheadFullError(
        name="x", in_use=1, queued=0, max_concurrent=1, max_queue=0, waited=None
    )
    drops: list[BaseException] = [TimeoutError(), inner]
    for error in drops:
        limiter.after(limiter.before(None, (), {}), None, error)
    assert limiter.limit == 1  # min_limit
    assert limiter.measurements()[0].totals["dropped"] == 2


def test_gradient2_grows_while_latency_holds_and_shrinks_as_it_rises() -> None:
    """Gradient2: steady round trips grow the limit; rising ones shrink it, within bounds."""
    clock = FakeClock()
    algorithm = Gradient2(initial_limit=10, min_limit=5, max_limit=30)
    limiter = AdaptiveLimiter("db", algorithm, clock=clock)

    def wave(rtt: float, n: int = 10) -> None:
        for _ in range(20):
            tokens = [limiter.before(None, (), {}) for _ in range(min(n, limiter.limit))]
            clock.advance(rtt)
            for token in tokens:
                limiter.after(token, None, None)

    wave(0.010)
    grown = limiter.limit
    assert grown > 10
    wave(0.080, n=30)
    assert limiter.limit < grown
    wave(1.0, n=30)
    assert limiter.limit >= algorithm.min_limit
    gauges = limiter.measurements()[0].gauges
    assert gauges["short_rtt_seconds"] == pytest.approx(1.0)
    assert 0.01 < gauges["long_rtt_seconds"] < 1.0


def test_in_a_pipeline_a_timeout_inside_is_a_drop() -> None:
    """Outside a Timeout, a call cut off at its limit shrinks the limiter's limit."""
    limiter = AdaptiveLimiter("db", AIMD(initial_limit=10))
    pipeline = Pipeline(limiter, Timeout(0.001))

    async def main() -> None:
        with pytest.raises(CallTimeoutError):
            await pipeline.acall(asyncio.sleep, 1)

    asyncio.run(main())
    assert limiter.limit == 9
    assert limiter.idle


def test_a_bulkhead_inside_refusing_is_a_drop() -> None:
    """A bulkhead inside the limiter that refuses counts as a drop for the limiter."""
    limiter = AdaptiveLimiter("db", AIMD(initial_limit=10))
    bulkhead = Bulkhead("db", max_concurrent=1)
    pipeline = Pipeline(limiter, bulkhead)
    with bulkhead, pytest.raises(BulkheadFullError):
        pipeline.call(lambda: None)
    assert limiter.limit == 9


def test_forms_async_with_generators_and_per_remote() -> None:
    """Decorator, acall, ``async with``, a generator and Remotes all take and free places."""
    clock = FakeClock()
    remotes = Remotes(lambda remote: AdaptiveLimiter(remote, clock=clock))

    @remotes.protect("s3")
    async def fetch() -> int:
        return remotes.get("s3").in_flight

    limiter = AdaptiveLimiter("db", clock=clock)

    @limiter
    def numbers() -> Any:
        yield limiter.in_flight

    async def main() -> tuple[int, int, list[int]]:
        async with limiter:
            inside = limiter.in_flight
        return await fetch(), inside, list(numbers())

    assert asyncio.run(main()) == (1, 1, [1])
    assert limiter.idle
    assert remotes.get("s3").idle
    assert [m.kind for m in remotes.measurements()] == ["adaptive_limiter"]


def test_measurements_show_the_limit() -> None:
    """Measurements: the current limit and its bounds, in flight, totals, health."""
    limiter = AdaptiveLimiter("db", AIMD(initial_limit=1, max_limit=3))
    token = limiter.before(None, (), {})
    with pytest.raises(LimitExceededError):
        limiter.before(None, (), {})
    (m,) = limiter.measurements()
    assert (m.kind, m.name, m.healthy) == ("adaptive_limiter", "db", False)
    assert m.gauges == {"limit": 1, "in_flight": 1, "min_limit": 1, "max_limit": 3}
    assert m.totals == {"admitted": 1, "rejected": 1, "dropped": 0}
    assert m.state == "1 in flight, limit 1 (AIMD 1..3)"
    limiter.after(token, None, None)
    assert limiter.limit == 2
    assert limiter.measurements()[0].healthy


@given(
    initial=st.integers(1, 40),
    samples=st.lists(
        st.tuples(st.floats(0, 10), st.integers(0, 60), st.booleans()), min_size=1, max_size=40
    ),
)
def test_a_quiet_sample_is_one_update_would_ignore(
    initial: int, samples: list[tuple[float, int, bool]]
) -> None:
    """AIMD's quiet samples (skipped by the limiter) are exactly those update() ignores."""
    estimate = AIMD(initial_limit=initial, max_limit=50, timeout=5).start()
    for rtt, in_flight, dropped in samples:
        quiet = not dropped and rtt <= estimate.quiet_rtt and in_flight < estimate.quiet_below
        before = estimate.limit
        reason = estimate.update(rtt, in_flight, dropped)
        if quiet:
            assert (reason, estimate.limit) == (None, before)
        else:  # not quiet: it grows or shrinks, unless held at a bound
            assert reason is not None or before in {1, 50}


Node = tuple[float, str, list[Any]]  # seconds taken, how it ends, the calls it makes inside
Wrap = Callable[[Callable[..., str]], Callable[..., str]]

_ENDINGS: dict[str, BaseException | None] = {
    "ok": None,
    "timeout": TimeoutError("slow"),
    "refused further in": RejectedError("further in"),
    "error": ConnectionError("reset"),
    "cancelled": asyncio.CancelledError(),
}
_nodes: st.SearchStrategy[Node] = st.recursive(
    st.tuples(
        st.sampled_from([0.0, 0.01, 0.2, 3.0]), st.sampled_from(sorted(_ENDINGS)), st.just([])
    ),
    lambda inner: st.tuples(
        st.sampled_from([0.0, 0.01, 0.2, 3.0]),
        st.sampled_from(sorted(_ENDINGS)),
        st.lists(inner, max_size=3),
    ),
    max_leaves=12,
)


@given(
    gradient=st.booleans(),
    initial=st.integers(1, 4),
    program=st.lists(_nodes, min_size=1, max_size=12),
)
def test_its_own_decorator_does_what_the_engine_does(
    gradient: bool,
    initial: int,
    program: list[Node],
) -> None:
    """The decorator's inline admission and sample equal the engine's before() and after()."""

    def run(wrap: Wrap, limiter: AdaptiveLimiter, clock: FakeClock) -> list[object]:
        seen: list[object] = []

        @wrap
        def node(taken: float, ending: str, inside: list[Node]) -> str:
            for each in inside:
                attempt(each)
            clock.advance(taken)
            error = _ENDINGS[ending]
            if error is not None:
                raise error
            return ending

        def attempt(each: Node) -> None:
            try:
                seen.append(node(*each))
            except BaseException as exc:
                seen.append(type(exc).__name__)
            seen.append((limiter.limit, limiter.in_flight))

        for each in program:
            attempt(each)
        (shown,) = limiter.measurements()
        return [*seen, shown.totals, shown.gauges]

    outcomes = []
    for form in ("own", "engine"):
        clock = FakeClock()
        events: list[Event] = []
        algorithm = Gradient2(initial_limit=initial) if gradient else AIMD(initial_limit=initial)
        limiter = AdaptiveLimiter("db", algorithm, clock=clock, listeners=[events.append])
        wrap = limiter if form == "own" else Pipeline(limiter)
        outcomes.append((run(wrap, limiter, clock), events))
    assert outcomes[0] == outcomes[1]
