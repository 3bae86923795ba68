"""Rate limiters shared by a fleet through Redis: one atomic Lua call per admission.

The key of a limiter (the braces are literal: a Redis Cluster hash tag):

``{namespace}:rate:{<name>}``
    The fleet's GCRA state: its theoretical arrival time, in microseconds of the Redis
    server's clock. It expires once the bucket is full again, when it holds nothing.

Each request that may be admitted is one call of ``rate_acquire.lua``, which reads and
moves the state with no other command in between, so the fleet never admits more than
its rate. The fast path is local and exact: the state only moves forward, so the last
state seen is a lower bound of the fleet's, and a request it already refuses (its wait
would pass ``max_wait``) is refused without asking Redis. Admissions always ask.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Final, Literal

from resilience._core.clock import SYSTEM_CLOCK
from resilience._core.extras import missing
from resilience._rate.bucket import LocalBucket, Tally, gcra, spare
from resilience.health import CheckResult
from resilience.stores._events import StoreDegraded, StoreRecovered

try:
    import redis
except ImportError as _exc:  # pragma: no cover - the extra is installed in tests
    raise missing("redis", "the redis client", who="RedisRateStore") from _exc

from resilience.stores.redis._connection import REDIS_ERRORS
from resilience.stores.redis._options import RateStoreOptions
from resilience.stores.redis._outage import OutageStore
from resilience.stores.redis._scripts import RATE_ACQUIRE

if TYPE_CHECKING:
    from resilience._core.clock import Clock
    from resilience._rate.config import RateLimiterOptions

__all__ = ["RedisRateStore"]

logger = logging.getLogger("resilience")

_US: Final = 1_000_000


class RedisRateStore(OutageStore[RateStoreOptions]):
    """Shares rate limiters across processes: limiters of one ``name`` are one limit.

    Pass it as ``RateLimiter(name, rate=..., store=...)`` in every process. Each
    admission is one atomic Lua call on the Redis server's clock, so the fleet together
    admits ``burst + rate x t`` in any ``t`` seconds, as one limiter would. See
    ``docs/fleet.md``.

    Args:
        url_or_client: A ``redis://`` URL (the store makes a client with ``timeout``
            and no retries, and :meth:`close` closes it), or a ``redis.Redis`` client
            (left open; its own timeouts and retries decide how long an outage blocks).
        namespace: The first part of every key.
        on_error: What limiters do while Redis is unreachable: ``"local"`` (each
            process limits alone, at the full rate: the fleet may admit up to one
            rate per process), ``"closed"`` (every call is let through) or ``"open"``
            (every call is refused with :class:`~resilience.RateLimitedError`,
            ``retry_after`` None). No storage error ever reaches a call; each outage
            emits :class:`~resilience.StoreDegraded` and :meth:`check` reports WARNING.
        timeout: Seconds a Redis call may take (a URL-made client's socket timeouts).
        retry_interval: Seconds between attempts to reach Redis again while it is down.
        listeners: Receive :class:`~resilience.StoreDegraded` and
            :class:`~resilience.StoreRecovered`.
    """

    _WHAT = "RedisRateStore"
    _USERS = "rate limiters"

    def __init__(
        self,
        url_or_client: str | redis.Redis,
        *,
        namespace: str = "resilience",
        on_error: Literal["local", "closed", "open"] = "local",
        timeout: float | timedelta = 0.25,
        retry_interval: float | timedelta = 1.0,
        listeners: Iterable[Callable[[StoreDegraded | StoreRecovered], object]] = (),
    ) -> None:
        config = RateStoreOptions.model_validate(
            {
                "namespace": namespace,
                "on_error": on_error,
                "timeout": timeout,
                "retry_interval": retry_interval,
            }
        )
        super().__init__(url_or_client, config=config, listeners=listeners)
        self._script = self._client.register_script(RATE_ACQUIRE)
        self._probe_at = 0.0
        self._names: set[str] = set()

    def link(self, config: RateLimiterOptions, clock: Clock) -> RedisRateLink:
        """The shared state of the limiter named ``config.name``."""
        if "{" in config.name or "}" in config.name:
            raise ValueError(
                f"a shared rate limiter's name must not contain braces (they mark its "
                f"hash tag in its key), got name={config.name!r}"
            )
        with self._lock:
            self._names.add(config.name)
        return RedisRateLink(self, config, clock)

    def check(self) -> CheckResult:
        """A health check: OK while Redis is reachable, WARNING while it is not.

        Register it with ``health.register("rate-store", store.check, critical=False)``.
        """
        return self._health(len(self._names))

    def close(self) -> None:
        """Close a client the store made from a URL; its limiters then follow ``on_error``."""
        super().close()

    # --------------------------------------------------------------- for links

    def run(self, key: str, args: list[int]) -> list[int] | None:
        """One call of the script; None while Redis is unreachable (``on_error`` decides)."""
        outage = self._outage
        if outage.down is not None:
            now = SYSTEM_CLOCK.monotonic()
            with self._lock:  # one caller at a time probes a Redis that was down
                if now < self._probe_at:
                    return None
                self._probe_at = now + self.config.retry_interval
        try:
            reply: list[int] = self._script(keys=[key], args=args)
        except REDIS_ERRORS as exc:
            self._degrade(exc)
            return None
        if outage.down is not None:
            self._recovered()
        return reply

    def _degrade(self, exc: BaseException) -> None:
        now = SYSTEM_CLOCK.monotonic()
        with self._lock:
            self._probe_at = now + self.config.retry_interval
            if not self._begin(exc, now):
                return
        self._degraded(exc)


class RedisRateLink(Tally):
    """One limiter's side of :class:`RedisRateStore` (see :class:`resilience.RateLink`)."""

    __slots__ = (
        "_args",
        "_capacity",
        "_interval",
        "_key",
        "_known",
        "_local",
        "_monotonic",
        "_on_error",
        "_store",
    )

    def __init__(self, store: RedisRateStore, config: RateLimiterOptions, clock: Clock) -> None:
        super().__init__()
        self._store = store
        self._key = f"{store.config.namespace}:rate:{{{config.name}}}"
        interval_us = max(1, round(config.interval * _US))
        self._args = (interval_us, config.capacity * interval_us)
        self._interval = interval_us / _US
        self._capacity = config.capacity * self._interval
        self._monotonic = clock.monotonic
        self._known = -math.inf  # the fleet's state as last seen, on this clock: a lower bound
        self._local = LocalBucket(config, clock)  # on_error="local"
        self._on_error = store.config.on_error

    def reserve(self, n: int, max_wait: float) -> float:
        """Take ``n`` tokens of the fleet's; see :meth:`resilience.RateLink.reserve`."""
        sent = self._monotonic()
        _, known = gcra(self._known, sent, n, self._interval, self._capacity, max_wait)
        if known < 0.0:  # refused by what is known already: the fleet's state is later
            return self._count(known)
        reply = self._store.run(self._key, [*self._args, n, math.floor(max_wait * _US)])
        if reply is None:
            return self._unshared(n, max_wait)
        taken, wait_us, tat_us, now_us = reply
        seen = sent + (tat_us - now_us) / _US  # the server's now is no earlier than sent
        with self._lock:
            self._known = max(self._known, seen)
        return self._count(wait_us / _US if taken else -max(wait_us / _US, 1e-6))

    def tokens(self) -> float:
        """The fleet's tokens as last seen here (this process's while Redis is down)."""
        if self._store.degraded and self._on_error == "local":
            return self._local.tokens()
        return spare(self._known, self._monotonic(), self._capacity, self._interval)

    @property
    def idle(self) -> bool:
        """Whether dropping the limiter loses nothing: the state is the fleet's, in Redis."""
        return True

    def _unshared(self, n: int, max_wait: float) -> float:
        mode = self._on_error
        if mode == "local":
            return self._count(self._local.reserve(n, max_wait))
        if mode == "closed":
            return self._count(0.0)
        return self._count(-math.inf)

    def _count(self, wait: float) -> float:
        with self._lock:
            return self.tally(wait)
