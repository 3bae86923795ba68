"""RateLimiter on a FakeClock: GCRA admissions, exact retry_after, waits, every form, events."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from resilience import (
    Backoff,
    Event,
    Measurement,
    Pipeline,
    RateDelayed,
    RateLimited,
    RateLimitedError,
    RateLimiter,
    RejectedError,
    Remotes,
    RetryPolicy,
    resilient,
)
from resilience.testing import FakeClock


def limiter(clock: FakeClock, **options: object) -> RateLimiter:
    """Two per second with a burst of 4 unless told otherwise."""
    settings: dict[str, object] = {"rate": 2, "burst": 4, **options}
    return RateLimiter("api", clock=clock, **settings)  # type: ignore[arg-type]


def test_a_burst_then_the_steady_rate(fake_clock: FakeClock) -> None:
    """A full bucket admits ``burst`` at once, then one per interval."""
    rl = limiter(fake_clock)
    assert [rl.try_acquire() for _ in range(5)] == [True] * 4 + [False]
    fake_clock.advance(0.5)
    assert rl.try_acquire()
    assert not rl.try_acquire()


def test_retry_after_is_exact(fake_clock: FakeClock) -> None:
    """A refusal's retry_after is when the same request is admitted, to the float."""
    rl = limiter(fake_clock, rate=3, burst=2)
    assert rl.try_acquire(2)
    fake_clock.advance(0.1)
    with pytest.raises(RateLimitedError) as caught:
        rl.acquire(2)
    retry_after = caught.value.retry_after
    assert retry_after is not None
    assert retry_after == pytest.approx(2 / 3 - 0.1)
    fake_clock.advance(retry_after * (1 - 1e-6))
    assert not rl.try_acquire(2)
    fake_clock.advance(retry_after * 1e-6)
    assert rl.try_acquire(2)


def test_the_default_burst_is_the_rate_rounded_up(fake_clock: FakeClock) -> None:
    """Without ``burst``, ``ceil(rate)`` calls pass at once."""
    rl = RateLimiter(rate=2.5, clock=fake_clock)
    assert rl.config.capacity == 3
    assert [rl.try_acquire() for _ in range(4)] == [True, True, True, False]


def test_per_takes_a_timedelta(fake_clock: FakeClock) -> None:
    """``per=timedelta(minutes=1)`` counts the rate over a minute."""
    rl = RateLimiter(rate=60, per=timedelta(minutes=1), burst=1, clock=fake_clock)
    assert rl.try_acquire()
    fake_clock.advance(0.999)
    assert not rl.try_acquire()
    fake_clock.advance(0.001)
    assert rl.try_acquire()


def test_acquire_sleeps_on_the_clock_up_to_max_wait(fake_clock: FakeClock) -> None:
    """acquire() reserves its turn and sleeps for it; past max_wait it refuses and takes nothing."""
    rl = limiter(fake_clock, burst=1, max_wait=1.0)
    assert rl.acquire() == 0.0
    assert rl.acquire() == pytest.approx(0.5)
    assert fake_clock.monotonic() == pytest.approx(0.5)
    with pytest.raises(RateLimitedError, match=r"max_wait=0\.2 s"):
        rl.acquire(max_wait=0.2)
    assert fake_clock.monotonic() == pytest.approx(0.5)  # refused at once
    assert rl.acquire(max_wait=timedelta(seconds=1)) == pytest.approx(0.5)


class Frozen(FakeClock):
    """A clock that records the sleeps asked of it and stays put: many waiters at once."""

    def __init__(self) -> None:
        super().__init__()
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def test_waiters_take_turns_in_order() -> None:
    """Reservations queue: each waiter of the same moment waits one interval more."""
    clock = Frozen()
    rl = RateLimiter(rate=2, burst=1, max_wait=10, clock=clock)
    pipeline = Pipeline(rl, clock=FakeClock())  # a clock of its own: the limiter's sleeps
    for _ in range(4):
        pipeline.call(int)
    assert clock.slept == pytest.approx([0.5, 1.0, 1.5])
    with pytest.raises(RateLimitedError) as caught:
        rl.acquire(max_wait=1.9)
    assert caught.value.retry_after == pytest.approx(2.0)


def test_try_acquire_never_waits(fake_clock: FakeClock) -> None:
    """try_acquire() answers at once, even with a max_wait that would allow a wait."""
    rl = limiter(fake_clock, burst=1, max_wait=5)
    assert rl.try_acquire()
    assert not rl.try_acquire()
    assert fake_clock.monotonic() == 0.0


async def test_aacquire_awaits_the_clock(fake_clock: FakeClock) -> None:
    """aacquire() waits with clock.asleep, never blocking the loop."""
    rl = limiter(fake_clock, burst=1, max_wait=1)
    assert await rl.aacquire() == 0.0
    assert await rl.aacquire() == pytest.approx(0.5)
    assert fake_clock.monotonic() == pytest.approx(0.5)
    with pytest.raises(RateLimitedError):
        await rl.aacquire(max_wait=0)


def test_rate_limited_error_is_a_rejection(fake_clock: FakeClock) -> None:
    """RateLimitedError is a RejectedError naming the limiter, with its retry_after."""
    rl = limiter(fake_clock, burst=1)
    rl.acquire()
    with pytest.raises(RejectedError) as caught:
        rl.acquire()
    error = caught.value
    assert isinstance(error, RateLimitedError)
    assert (error.name, error.requested, error.noun) == ("api", 1, "call")
    assert error.subject == "rate limiter 'api' is out of tokens"
    assert "retry in 0.5 s" in str(error)


def test_the_decorator_the_call_forms_and_with(fake_clock: FakeClock) -> None:
    """Each form takes one token per call; a refused call never runs."""
    rl = limiter(fake_clock, burst=3)
    ran: list[int] = []

    @rl
    def work(x: int) -> int:
        ran.append(x)
        return x

    assert work(1) == 1
    assert rl.call(work, 2) == 2  # the decorated function, called through it: one token
    with rl:
        ran.append(3)
    with pytest.raises(RateLimitedError):
        work(4)
    assert ran == [1, 2, 3]


async def test_async_forms(fake_clock: FakeClock) -> None:
    """Async decorator, acall and async with wait with asleep and take one token each."""
    rl = limiter(fake_clock, burst=1, max_wait=2)

    @rl
    async def work(x: int) -> int:
        return x

    assert await work(1) == 1
    assert await rl.acall(work, 2) == 2
    async with rl:
        pass
    assert fake_clock.monotonic() == pytest.approx(1.0)


def test_a_generator_takes_one_token_for_its_iteration(fake_clock: FakeClock) -> None:
    """A decorated generator function is admitted once, before its first item."""
    rl = limiter(fake_clock, burst=2)

    @rl
    def items() -> Iterator[int]:
        yield from range(3)

    assert list(items()) == [0, 1, 2]
    assert rl.tokens == pytest.approx(1.0)


def test_in_a_pipeline_the_drivers_sleep_the_wait(fake_clock: FakeClock) -> None:
    """Inside a retry, each attempt takes a token, and the wait is slept on the limiter's clock."""
    rl = limiter(fake_clock, burst=1, max_wait=1)
    attempts: list[float] = []

    def flaky() -> str:
        attempts.append(fake_clock.monotonic())
        if len(attempts) < 3:
            raise ConnectionError("reset")
        return "ok"

    retry = RetryPolicy(attempts=3, backoff=Backoff(initial=0.1, jitter="none"), clock=fake_clock)
    pipeline = Pipeline(retry, rl)
    assert pipeline.call(flaky) == "ok"
    # 0.0; then 0.1 of backoff and 0.4 more for a token; then 0.2 and 0.3.
    assert attempts == pytest.approx([0.0, 0.5, 1.0])


async def test_in_an_async_pipeline_the_wait_is_awaited(fake_clock: FakeClock) -> None:
    """The async driver awaits clock.asleep for a limiter's wait."""
    rl = limiter(fake_clock, burst=1, max_wait=1)
    pipeline = Pipeline(rl)

    async def work() -> float:
        return fake_clock.monotonic()

    assert [await pipeline.acall(work) for _ in range(3)] == pytest.approx([0.0, 0.5, 1.0])


async def test_a_cancelled_wait_never_runs_the_call(fake_clock: FakeClock) -> None:
    """A task cancelled while it waits for its turn is cancelled; its call never runs."""
    gate = asyncio.Event()

    class Blocking(FakeClock):
        async def asleep(self, seconds: float) -> None:
            gate.set()
            await asyncio.Event().wait()  # until cancelled

    rl = RateLimiter(rate=1, burst=1, max_wait=5, clock=Blocking())
    ran: list[int] = []

    @rl
    async def work() -> None:
        ran.append(1)

    await work()
    task = asyncio.ensure_future(work())
    await gate.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ran == [1]


def test_resilient_takes_a_rate_limiter(fake_clock: FakeClock) -> None:
    """``resilient(rate_limiter=...)`` puts it inside the retry: each attempt takes a token."""
    rl = limiter(fake_clock, burst=2)
    calls: list[int] = []

    @resilient(rate_limiter=rl, retry=RetryPolicy(attempts=1, clock=fake_clock))
    def work() -> int:
        calls.append(1)
        return len(calls)

    assert work() == 1
    assert work() == 2
    with pytest.raises(RateLimitedError):
        work()


def test_resilient_takes_remotes_of_limiters(fake_clock: FakeClock) -> None:
    """``resilient(rate_limiter=Remotes(...), remote=...)`` limits each remote apart."""
    remotes = Remotes(lambda name: RateLimiter(name, rate=1, burst=1, clock=fake_clock))

    @resilient(remote=lambda host: host, rate_limiter=remotes)
    def fetch(host: str) -> str:
        return host

    assert [fetch("a"), fetch("b")] == ["a", "b"]
    with pytest.raises(RateLimitedError, match="'a'"):
        fetch("a")
    with pytest.raises(TypeError, match="needs remote="):
        resilient(rate_limiter=remotes)
    with pytest.raises(TypeError, match="must be a RateLimiter"):
        resilient(rate_limiter=object())  # type: ignore[arg-type]


def test_one_limiter_per_remote(fake_clock: FakeClock) -> None:
    """Through Remotes, each remote has its own limit, and a wait goes through PerRemote."""
    remotes = Remotes(
        lambda name: RateLimiter(name, rate=1, burst=1, max_wait=1, clock=fake_clock),
        clock=fake_clock,
    )
    guarded = Pipeline(remotes.protect(lambda host: host), clock=fake_clock)
    assert guarded.call(str.upper, "a") == "A"
    assert guarded.call(str.upper, "b") == "B"  # another remote: no wait
    assert fake_clock.monotonic() == 0.0
    assert guarded.call(str.upper, "a") == "A"  # waited its turn
    assert fake_clock.monotonic() == pytest.approx(1.0)
    assert sorted(m.name for m in remotes.measurements()) == ["a", "b"]


async def test_one_limiter_per_remote_async(fake_clock: FakeClock) -> None:
    """Through PerRemote in async code, a remote's wait is awaited on its limiter's clock."""

    class Awaited(FakeClock):
        def sleep(self, seconds: float) -> None:
            raise AssertionError("an async call must not sleep its thread")

    clock = Awaited()
    remotes = Remotes(lambda name: RateLimiter(name, rate=1, burst=1, max_wait=1, clock=clock))
    guarded = Pipeline(remotes.protect(lambda host: host))

    async def fetch(host: str) -> float:
        return clock.monotonic()

    assert [await guarded.acall(fetch, h) for h in ("a", "b", "a")] == [0.0, 0.0, 1.0]
    async with remotes.get("a"):  # a with block waits its turn too, awaiting
        pass
    assert clock.monotonic() == pytest.approx(2.0)


def test_events_reach_the_listeners(fake_clock: FakeClock) -> None:
    """A wait is a RateDelayed, a refusal a RateLimited; both describe themselves."""
    seen: list[Event] = []
    rl = limiter(fake_clock, burst=1, max_wait=0.5, listeners=[seen.append])
    rl.acquire()
    rl.acquire()
    assert not rl.try_acquire()
    delayed, limited = seen
    assert isinstance(delayed, RateDelayed)
    assert delayed.fields() == {
        "event": "rate_limiter.delayed",
        "name": "api",
        "requested": 1,
        "wait": pytest.approx(0.5),
    }
    assert isinstance(limited, RateLimited)
    assert limited.event_name == "rate_limiter.rejected"
    assert limited.retry_after == pytest.approx(0.5)
    assert "refused 1 token(s)" in limited.describe()


def test_measurements_show_tokens_and_totals(fake_clock: FakeClock) -> None:
    """measurements() gives the tokens left, the rate and the totals; empty is unhealthy."""
    rl = limiter(fake_clock, burst=2, max_wait=0.5)
    (full,) = rl.measurements()
    assert full == Measurement(
        kind="rate_limiter",
        name="api",
        state="2.0 of 2 tokens, 2 per 1 s",
        gauges={"tokens": 2.0, "burst": 2.0, "rate_per_second": 2.0},
        totals={"admitted": 0, "delayed": 0, "rejected": 0},
        healthy=True,
    )
    rl.acquire(2)
    rl.acquire()
    assert not rl.try_acquire()
    (empty,) = rl.measurements()
    assert empty.totals == {"admitted": 2, "delayed": 1, "rejected": 1}
    assert empty.gauges["tokens"] == 0.0
    assert not empty.healthy
    assert not rl.idle
    fake_clock.advance(1.5)
    assert rl.idle


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"rate": 0}, "rate"),
        ({"rate": -1}, "rate"),
        ({"rate": float("nan")}, "rate"),
        ({"rate": "many"}, "rate"),
        ({"rate": 1, "per": 0}, "per"),
        ({"rate": 1, "per": float("inf")}, "per"),
        ({"rate": 1, "burst": 0}, "burst"),
        ({"rate": 1, "burst": 1.5}, "burst"),
        ({"rate": 1, "max_wait": -1}, "max_wait"),
        ({"rate": 1, "name": ""}, "name"),
    ],
)
def test_bad_options_name_the_field(options: dict[str, object], field: str) -> None:
    """Each out-of-range option is a ValidationError that names it."""
    with pytest.raises(pydantic.ValidationError, match=field):
        RateLimiter(**options)  # type: ignore[arg-type]


def test_a_rate_finer_than_a_microsecond_is_refused() -> None:
    """A rate above one per microsecond is refused with what to do instead."""
    with pytest.raises(pydantic.ValidationError, match="finest is one per microsecond"):
        RateLimiter(rate=2_000_000)


def test_bad_requests_name_the_argument(fake_clock: FakeClock) -> None:
    """n beyond the burst, n not an int, and a negative max_wait each say which argument."""
    rl = limiter(fake_clock)
    with pytest.raises(ValueError, match="n must be between 1 and the burst"):
        rl.acquire(5)
    with pytest.raises(ValueError, match="n must be between 1"):
        rl.try_acquire(0)
    with pytest.raises(TypeError, match="n must be an int"):
        rl.try_acquire(True)
    with pytest.raises(ValueError, match="max_wait must be a number of seconds"):
        rl.acquire(max_wait=-1)
    assert rl.tokens == 4.0


def test_repr(fake_clock: FakeClock) -> None:
    """The repr shows the limit."""
    assert repr(limiter(fake_clock)) == "RateLimiter('api', rate=2, per=1, burst=4)"


@given(
    max_wait=st.sampled_from([0.0, 0.3, 1.0]),
    gaps=st.lists(st.sampled_from([0.0, 0.0, 0.1, 0.25, 0.5, 2.0]), min_size=1, max_size=30),
)
def test_the_async_decorator_admits_as_the_engine_does(max_wait: float, gaps: list[float]) -> None:
    """The async decorator's inline admission waits, refuses and counts as Pipeline does."""

    async def run(form: str) -> list[object]:
        clock = FakeClock()
        events: list[Event] = []
        rl = RateLimiter(
            "api", rate=2, burst=3, max_wait=max_wait, clock=clock, listeners=[events.append]
        )

        async def work() -> float:
            return clock.monotonic()

        limited = rl(work) if form == "own" else Pipeline(rl)(work)
        seen: list[object] = []
        for gap in gaps:
            await clock.asleep(gap)
            try:
                seen.append(await limited())
            except RateLimitedError as exc:
                seen.append(("refused", exc.retry_after))
        (shown,) = rl.measurements()
        return [*seen, shown.totals, events]

    assert asyncio.run(run("own")) == asyncio.run(run("engine"))
