"""RateLimiter: ``rate`` calls per ``per`` seconds with a ``burst``, as a strategy.

Every call takes one token; :meth:`RateLimiter.acquire` takes ``n`` for work that is
not a call. A request that would wait longer than ``max_wait`` is refused at once with
:class:`RateLimitedError`; one that would wait less reserves its turn and waits for it
on the limiter's clock: a sync call sleeps in its thread (``before``), an async one
awaits (``abefore``, which the async drivers call), so it never blocks an event loop.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar, cast

from pydantic import ValidationError

from resilience._core.blocks import MARK, blocks
from resilience._core.clock import SYSTEM_CLOCK, Clock
from resilience._core.drive import Segment
from resilience._core.events import emit
from resilience._core.measure import Measurement
from resilience._core.options import seconds
from resilience._core.shells import Shell, require_callable
from resilience._rate.bucket import LocalBucket, RateLink, RateStore
from resilience._rate.config import RateLimiterOptions
from resilience._rate.errors import RateLimitedError
from resilience._rate.events import Listener, RateDelayed, RateLimited

__all__ = ["RateLimiter"]

P = ParamSpec("P")
R = TypeVar("R")


class RateLimiter(Shell):
    """Admits ``rate`` calls per ``per`` seconds, ``burst`` at once after a quiet spell.

    Use it as a decorator (sync or async), as ``with limiter:`` / ``async with
    limiter:``, through :meth:`call` / :meth:`acall`, in a ``Pipeline`` or through
    ``resilient(rate_limiter=...)``; or ask it for tokens yourself with :meth:`acquire`,
    :meth:`aacquire` and :meth:`try_acquire`.

    Args:
        name: What it limits (a remote, an API key): shown in errors and metrics, and
            the key of a shared limiter in its ``store``.
        rate: Calls admitted per ``per`` seconds, on average.
        per: The period, in seconds or as a ``timedelta`` (default 1 s).
        burst: Calls admitted at once after a quiet spell (default ``ceil(rate)``).
        max_wait: Seconds a call may wait for its turn before it is refused with
            :class:`RateLimitedError` (default 0: never waits).
        clock: Time source and sleeper; :class:`resilience.testing.FakeClock` in tests.
        listeners: Receive :class:`RateLimited` and :class:`RateDelayed` events.
        store: Shares the limit with every process using the same ``name`` (a
            :class:`~resilience.stores.RedisRateStore`); the limit is this process's
            alone without one.

    Raises:
        pydantic.ValidationError: A field is out of range; the error names it.
    """

    __slots__ = ("_clock", "_config", "_link", "_listeners", "_max_wait", "_reserve", "_segment")

    once = True  # a function it decorates, called through it again, takes one token

    def __init__(
        self,
        name: str = "rate-limiter",
        *,
        rate: float,
        per: float | timedelta = 1.0,
        burst: int | None = None,
        max_wait: float | timedelta = 0.0,
        clock: Clock | None = None,
        listeners: Iterable[Listener] = (),
        store: RateStore | None = None,
    ) -> None:
        self._config = config = RateLimiterOptions(
            name=name, rate=rate, per=seconds(per), burst=burst, max_wait=seconds(max_wait)
        )
        self._clock = clock if clock is not None else SYSTEM_CLOCK
        self._listeners = tuple(listeners)
        self._link: RateLink = (
            LocalBucket(config, self._clock) if store is None else store.link(config, self._clock)
        )
        self._reserve = self._link.reserve
        self._max_wait = config.max_wait
        self._segment: Segment | None = None

    # ------------------------------------------------------------------- readings

    @property
    def config(self) -> RateLimiterOptions:
        """The validated configuration."""
        return self._config

    @property
    def name(self) -> str:
        """What the limiter limits."""
        return self._config.name

    @property
    def clock(self) -> Clock:
        """The time source it waits on."""
        return self._clock

    @property
    def tokens(self) -> float:
        """Tokens available now (a shared limiter: as this process last saw the fleet's)."""
        return self._link.tokens()

    @property
    def idle(self) -> bool:
        """Whether dropping it loses nothing (its bucket is full): for ``Remotes``."""
        return self._link.idle

    def measurements(self) -> list[Measurement]:
        """Tokens, rate and burst as gauges; admitted, delayed and rejected as totals."""
        c = self._config
        tokens = self._link.tokens()
        admitted, delayed, rejected = self._link.counts()
        return [
            Measurement(
                kind="rate_limiter",
                name=c.name,
                state=f"{tokens:.1f} of {c.capacity} tokens, {c.rate:g} per {c.per:g} s",
                gauges={
                    "tokens": tokens,
                    "burst": float(c.capacity),
                    "rate_per_second": c.rate / c.per,
                },
                totals={"admitted": admitted, "delayed": delayed, "rejected": rejected},
                healthy=tokens >= 1.0,
            )
        ]

    def __repr__(self) -> str:
        c = self._config
        return f"RateLimiter({c.name!r}, rate={c.rate:g}, per={c.per:g}, burst={c.capacity})"

    # ----------------------------------------------------------------- acquiring

    def try_acquire(self, n: int = 1) -> bool:
        """Take ``n`` tokens if they are there now; never waits."""
        wait = self._reserve(self._count(n), 0.0)
        if wait >= 0.0:
            return True
        if self._listeners:
            emit(self._listeners, RateLimited(self._config.name, n, _retry_after(wait)))
        return False

    def acquire(self, n: int = 1, *, max_wait: float | timedelta | None = None) -> float:
        """Take ``n`` tokens, sleeping on the clock until they are there; the seconds waited.

        Raises:
            RateLimitedError: They would not be there within ``max_wait`` (the limiter's
                own by default); nothing is taken.
        """
        wait = self._take(n, max_wait)
        if wait:
            self._clock.sleep(wait)
        return wait

    async def aacquire(self, n: int = 1, *, max_wait: float | timedelta | None = None) -> float:
        """:meth:`acquire`, awaiting the wait. A cancelled wait keeps its tokens taken."""
        wait = self._take(n, max_wait)
        if wait:
            await self._clock.asleep(wait)
        return wait

    # ------------------------------------------------------------ the strategy

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Decorate ``fn``: each call takes a token, waiting up to ``max_wait`` for it.

        A plain function or coroutine function gets a wrapper of its own (the limiter
        has nothing to do after the call, so the engine's loop would only cost); a
        generator function goes through the engine.
        """
        require_callable(fn, f"@{self._shell_label()}")
        iterates = inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn)
        if iterates:  # not narrowed: fn keeps its type
            return super().__call__(fn)
        reserve, max_wait, admit = self._reserve, self._max_wait, self._admit
        wrapper: Callable[..., Any]
        if inspect.iscoroutinefunction(fn):
            asleep = self._clock.asleep

            async def slow() -> None:
                wait = reserve(1, max_wait)
                if wait:
                    await asleep(admit(wait))

            if isinstance(self._link, LocalBucket):  # its admission inline in the wrapper
                wrapper = self._link.guard(fn, owner=self, slow=slow)
            else:

                async def limited_async(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
                    held = blocks()
                    if not held or self not in held:  # a `with` block of ours admitted it
                        await slow()
                    return await fn(*args, **kwargs)

                wrapper = limited_async
            wrapper = functools.wraps(fn)(wrapper)
        else:
            sleep = self._clock.sleep

            @functools.wraps(fn)
            def limited(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
                held = blocks()
                if not held or self not in held:
                    wait = reserve(1, max_wait)
                    if wait:
                        sleep(admit(wait))
                return fn(*args, **kwargs)

            wrapper = limited
        setattr(wrapper, MARK, (self,))  # called through call(): not admitted twice
        return cast("Callable[P, R]", wrapper)

    def before(
        self, fn: Callable[..., Any] | None, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        """Take a token for the attempt: now, after sleeping on the clock, or refuse.

        A sync call waits in its own thread; the async drivers await :meth:`abefore`.
        """
        wait = self._reserve(1, self._max_wait)
        if wait:
            self._clock.sleep(self._admit(wait))

    async def abefore(
        self, fn: Callable[..., Any] | None, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        """:meth:`before` for async calls: the wait is awaited, never blocking the loop.

        A task cancelled while it waits keeps its turn taken (the limiter never admits
        more for it) and its call is not made.
        """
        wait = self._reserve(1, self._max_wait)
        if wait:
            await self._clock.asleep(self._admit(wait))

    def after(self, token: object, value: object, error: BaseException | None) -> None:
        """Nothing to decide: the token was spent when the attempt was admitted."""

    def settle(self, token: object, error: BaseException | None) -> None:
        """Nothing to settle: a ``with`` block took its token on entry."""

    # ----------------------------------------------------------------- internals

    def _admit(self, wait: float) -> float:
        """A request for one token that did not pass at once: the wait, or the refusal."""
        if wait < 0.0:
            raise self._refused(1, wait, self._max_wait)
        if self._listeners:
            emit(self._listeners, RateDelayed(self._config.name, 1, wait))
        return wait

    def _take(self, n: int, max_wait: float | timedelta | None) -> float:
        limit = self._max_wait if max_wait is None else _check_wait(max_wait)
        wait = self._reserve(self._count(n), limit)
        if wait < 0.0:
            raise self._refused(n, wait, limit)
        if wait and self._listeners:
            emit(self._listeners, RateDelayed(self._config.name, n, wait))
        return wait

    def _count(self, n: int) -> int:
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"n must be an int number of tokens, got {type(n).__name__}: {n!r}")
        if not 1 <= n <= self._config.capacity:
            raise ValueError(
                f"n must be between 1 and the burst ({self._config.capacity}) of rate "
                f"limiter {self._config.name!r}, got {n}: more could never be admitted"
            )
        return n

    def _refused(self, n: int, wait: float, max_wait: float) -> RateLimitedError:
        retry_after = _retry_after(wait)
        if self._listeners:
            emit(self._listeners, RateLimited(self._config.name, n, retry_after))
        c = self._config
        if retry_after is None:
            reason = "its shared store is unreachable and set to refuse (on_error='open')"
        else:
            reason = (
                f"{c.rate:g} per {c.per:g} s with a burst of {c.capacity} is spent, and the "
                f"wait would pass max_wait={max_wait:g} s"
            )
        return RateLimitedError(c.name, n, retry_after, reason)


def _retry_after(wait: float) -> float | None:
    return None if wait == -math.inf else -wait


def _check_wait(max_wait: float | timedelta) -> float:
    try:
        return RateLimiterOptions(name="-", rate=1, max_wait=seconds(max_wait)).max_wait
    except ValidationError as exc:
        raise ValueError(
            f"max_wait must be a number of seconds >= 0 (or a timedelta), got {max_wait!r}"
        ) from exc
