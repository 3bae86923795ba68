"""GCRA in memory, and the link protocol a shared store implements for a limiter.

GCRA (the generic cell rate algorithm) keeps one number per limiter, the *theoretical
arrival time* ``tat``: when the bucket would be full again were nothing else admitted.
A request for ``n`` tokens at ``now`` moves it to ``max(tat, now) + n * interval`` and
is admitted when that is at most ``burst * interval`` ahead of ``now``; admitted later
(after a wait of the excess) when the excess is at most ``max_wait``; refused, with the
excess as ``retry_after``, otherwise. It admits exactly what a token bucket of ``burst``
tokens refilled at ``rate`` per ``per`` does, with no refill to compute and one number
to share, so a fleet's limiter is one key and one compare-and-set in Redis.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from resilience._core.blocks import blocks

if TYPE_CHECKING:
    from resilience._core.clock import Clock
    from resilience._rate.config import RateLimiterOptions

__all__ = ["LocalBucket", "RateLink", "RateStore", "Tally", "gcra", "spare"]

SLACK = 1e-9
"""Float rounding forgiven, in intervals: a request exactly ``retry_after`` later is admitted."""


def gcra(  # noqa: PLR0917 - the algorithm's own terms, positional for speed
    tat: float, now: float, n: int, interval: float, capacity: float, max_wait: float
) -> tuple[float, float]:
    """One GCRA decision: ``(new tat, wait)``; a refusal is ``(tat, -retry_after)``.

    ``capacity`` is ``burst * interval``. A wait of 0.0 admits at once.
    """
    start = tat if tat > now else now  # noqa: FURB136 - quicker than max() here
    new = start + n * interval
    wait = new - now - capacity
    slack = interval * SLACK
    if wait <= slack:
        return new, 0.0
    if wait <= max_wait + slack:
        return new, wait
    return tat, -wait


def spare(tat: float, now: float, capacity: float, interval: float) -> float:
    """The tokens a bucket at ``tat`` holds at ``now``, at least 0."""
    backlog = tat - now if tat > now else 0.0
    return max(0.0, (capacity - backlog) / interval)


class RateLink(Protocol):
    """A limiter's side of its state: in memory, or in a store shared by a fleet.

    ``reserve`` is quick and never raises for the store's sake: a store that cannot
    reach its server decides as its ``on_error`` says.
    """

    def reserve(self, n: int, max_wait: float) -> float:
        """Take ``n`` tokens: the wait before they are there (0.0: now), already reserved.

        A negative number refuses, taking nothing: ``-retry_after`` (``-inf``: the
        limiter cannot tell when it will admit again).
        """
        ...

    def tokens(self) -> float:
        """The tokens available now (a shared limiter: as last seen), at least 0."""
        ...

    def counts(self) -> tuple[int, int, int]:
        """Requests admitted, admitted after a wait, and refused, by this process."""
        ...

    @property
    def idle(self) -> bool:
        """Whether dropping the limiter loses nothing: its bucket is full."""
        ...


class RateStore(Protocol):
    """Where limiters keep their state when a fleet shares it (a Redis store, say)."""

    def link(self, config: RateLimiterOptions, clock: Clock) -> RateLink:
        """The link of one limiter, by its ``config.name``: every process's is the same one."""
        ...


class Tally:
    """A link's counts of requests admitted, admitted after a wait, and refused."""

    __slots__ = ("_lock", "admitted", "delayed", "rejected")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.admitted = 0
        self.delayed = 0
        self.rejected = 0

    def counts(self) -> tuple[int, int, int]:
        """See :meth:`RateLink.counts`."""
        with self._lock:
            return self.admitted, self.delayed, self.rejected

    def tally(self, wait: float) -> float:
        """Count the decision ``wait`` (see :meth:`RateLink.reserve`), under the lock held."""
        if wait >= 0.0:
            self.admitted += 1
            if wait:
                self.delayed += 1
        else:
            self.rejected += 1
        return wait


class LocalBucket(Tally):
    """GCRA for one process, under a lock held for the arithmetic only."""

    __slots__ = ("_admits", "_capacity", "_interval", "_monotonic", "_tat")

    def __init__(self, config: RateLimiterOptions, clock: Clock) -> None:
        super().__init__()
        self._interval = config.interval
        self._capacity = config.capacity * config.interval
        self._admits = self._capacity + config.interval * SLACK  # ahead of now, at most
        self._monotonic = clock.monotonic
        self._tat = -math.inf  # full: the first request starts from now

    def reserve(self, n: int, max_wait: float) -> float:
        """See :meth:`RateLink.reserve`."""
        lock = self._lock
        # acquire()/release() rather than `with`: half the cost on CPython 3.11.
        lock.acquire()
        try:
            now = self._monotonic()
            tat = self._tat
            # gcra() inline for the common case, a request admitted at once.
            new = (tat if tat > now else now) + n * self._interval  # noqa: FURB136
            if new - now <= self._admits:
                self._tat = new
                self.admitted += 1
                return 0.0
            tat, wait = gcra(tat, now, n, self._interval, self._capacity, max_wait)
            if wait >= 0.0:
                self._tat = tat
            return self.tally(wait)
        finally:
            lock.release()

    def guard(
        self,
        fn: Callable[..., Awaitable[Any]],
        *,
        owner: object,
        slow: Callable[[], Awaitable[None]],
    ) -> Callable[..., Awaitable[Any]]:
        """``fn`` taking one token a call, with :meth:`reserve`'s admission at once inline.

        The async decorator's wrapper: a frame less a call than :meth:`reserve`'s. A
        request not admitted at once goes to ``slow`` (to wait, or be refused); a call in
        a ``with`` block of ``owner`` was admitted by the block.
        """
        acquire, release = self._lock.acquire, self._lock.release
        monotonic, interval, admits = self._monotonic, self._interval, self._admits

        async def limited(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
            held = blocks()
            if not held or owner not in held:
                acquire()
                now = monotonic()
                tat = self._tat
                new = (tat if tat > now else now) + interval  # noqa: FURB136
                if new - now <= admits:
                    self._tat = new
                    self.admitted += 1
                    release()
                else:
                    release()
                    await slow()  # reserve() decides: a wait, or the refusal
            return await fn(*args, **kwargs)

        return limited

    def tokens(self) -> float:
        """See :meth:`RateLink.tokens`."""
        with self._lock:
            return spare(self._tat, self._monotonic(), self._capacity, self._interval)

    @property
    def idle(self) -> bool:
        """Whether the bucket is full: nothing reserved, nothing to lose."""
        return self._tat <= self._monotonic()
