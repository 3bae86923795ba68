"""A retry budget shared by a fleet through Redis: retries bounded by the fleet's calls.

The key of a budget (the braces are literal: a Redis Cluster hash tag):

``{namespace}:budget:{<name>}``
    A hash: ``c:<bucket>`` calls and ``r:<bucket>`` retries per tenth of the window,
    ``<bucket>`` being the Redis server's time in ms divided by the bucket's width. It
    expires two windows after its last write.

Calls are counted in memory and sent in batches; each retry is one Lua script, which
adds the batch, drops the buckets that left the window and takes the retry (or not) with
no other command in between, so the fleet never takes more retries than it allows.
"""

from __future__ import annotations

import logging
import math
import threading
import weakref
from collections.abc import Callable
from datetime import timedelta
from typing import Final, Self

from resilience._core.clock import Clock
from resilience._core.extras import missing
from resilience._retry.budget import BudgetSnapshot, RetryBudget

try:
    import redis
except ImportError as _exc:  # pragma: no cover - the extra is installed in tests
    raise missing("redis", "the redis client", who="RedisRetryBudget") from _exc

from resilience.stores.redis._connection import REDIS_ERRORS, connect

__all__ = ["RedisRetryBudget"]

logger = logging.getLogger("resilience")

_BUCKETS: Final = 10  # as the local RetryBudget's window

# KEYS: the budget's hash. ARGV: bucket width in ms, ratio, floor, ttl in ms, '1' to take
# a retry ('0' to flush and read only), then pairs (age in buckets, calls) to add.
# The reply: {1 if a retry was taken else 0, calls, retries} in the window.
_SYNC: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local head = math.floor(now / tonumber(ARGV[1]))
local oldest = head - 9
local wrote = false
for i = 6, #ARGV, 2 do
  local age = tonumber(ARGV[i])
  if age >= 0 and age <= 9 then
    redis.call('HINCRBY', KEYS[1], string.format('c:%d', head - age), ARGV[i + 1])
    wrote = true
  end
end
local calls, retries = 0, 0
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  local kind, bucket = string.match(fields[i], '^([cr]):(%-?%d+)$')
  if kind then
    bucket = tonumber(bucket)
    -- A bucket ahead of the clock is stale too: the server's clock went back.
    if bucket < oldest or bucket > head then
      redis.call('HDEL', KEYS[1], fields[i])
    elseif kind == 'c' then
      calls = calls + tonumber(fields[i + 1])
    else
      retries = retries + tonumber(fields[i + 1])
    end
  end
end
local taken = 0
if ARGV[5] == '1' and retries + 1 <= tonumber(ARGV[2]) * calls + tonumber(ARGV[3]) then
  redis.call('HINCRBY', KEYS[1], string.format('r:%d', head), 1)
  retries, taken, wrote = retries + 1, 1, true
end
if wrote then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
return {taken, calls, retries}
"""


class RedisRetryBudget(RetryBudget):
    """A :class:`RetryBudget` counted over every process that shares its ``name``.

    Retries allowed are ``ratio * calls + min_per_second * window`` over the last
    ``window`` seconds of the Redis server's clock, with the calls and retries of the
    whole fleet. :meth:`record_call` never waits on Redis: calls are sent in batches by
    the next :meth:`try_retry` or :meth:`snapshot`, and at the latest ``flush_every``
    seconds later by a daemon thread (so a call may count up to ``flush_every`` late).

    While Redis is unreachable the budget counts this process only, as a local
    :class:`RetryBudget` would (one WARNING in the ``resilience`` log), and shares
    again once Redis answers (one INFO); the calls it could not send in the meantime
    are sent then, those still in the window.

    Args:
        url_or_client: A ``redis://`` URL (the budget opens a client with 0.25 s
            timeouts, and :meth:`close` closes it), or a ``redis.Redis`` client (left
            open; its own timeouts and retries decide how long an outage blocks).
        name: The budget's name: budgets with the same name and namespace are one.
        ratio: Retries allowed per call, in [0, 1].
        min_per_second: Retries always allowed per second of window.
        window: Seconds (or a timedelta) over which calls and retries are counted.
        namespace: The first part of the key.
        flush_every: Seconds (or a timedelta) calls may wait in memory before they are
            sent.
        clock: Time source for the local counts (the shared ones use the server's).
    """

    __slots__ = (
        "__weakref__",
        "_down",
        "_down_since",
        "_flush_every",
        "_held",
        "_key",
        "_name",
        "_pending",
        "_probe_at",
        "_redis",
        "_script",
        "_stop",
        "_thread",
        "_ttl_ms",
        "_width",
        "_width_ms",
    )

    def __init__(
        self,
        url_or_client: str | redis.Redis,
        *,
        name: str,
        ratio: float = 0.2,
        min_per_second: float = 10.0,
        window: float | timedelta = 10.0,
        namespace: str = "resilience",
        flush_every: float | timedelta = 0.1,
        clock: Clock | None = None,
    ) -> None:
        if isinstance(window, timedelta):
            window = window.total_seconds()
        if isinstance(flush_every, timedelta):
            flush_every = flush_every.total_seconds()
        super().__init__(ratio=ratio, min_per_second=min_per_second, window=window, clock=clock)
        _check_text("name", name, braces=True)
        _check_text("namespace", namespace, braces=False)
        if isinstance(flush_every, bool) or not isinstance(flush_every, int | float):
            raise TypeError(
                f"RedisRetryBudget flush_every must be a number of seconds, got "
                f"{type(flush_every).__name__}"
            )
        if not 0 < flush_every < math.inf:
            raise ValueError(
                f"RedisRetryBudget flush_every must be more than 0 seconds (and finite), "
                f"got {flush_every!r}"
            )
        # A retry decision must not wait on a dead server: the local budget takes over.
        self._redis = connect(url_or_client, what="RedisRetryBudget", timeout=0.25)
        self._script = self._redis.client.register_script(_SYNC)
        self._name = name
        self._key = f"{namespace}:budget:{{{name}}}"
        window = self.config.window
        self._width = window / _BUCKETS
        self._width_ms = repr(window * 1000 / _BUCKETS)
        self._ttl_ms = max(1, math.ceil(2000 * window))
        self._flush_every = float(flush_every)
        self._pending = 0  # calls not yet sent
        self._held: dict[int, int] = {}  # calls that failed to send, by local bucket
        self._down: BaseException | None = None
        self._down_since = 0.0
        self._probe_at = 0.0
        self._stop = threading.Event()
        # The thread holds the budget weakly: a budget dropped without close() is
        # collected, and its thread ends at its next wake-up.
        self._thread = threading.Thread(
            target=_flusher,
            args=(weakref.WeakMethod(self._flush_due), self._stop, self._flush_every),
            name=f"resilience-budget-{name}",
            daemon=True,
        )
        self._thread.start()

    @property
    def name(self) -> str:
        """The budget's name, shared by every process that counts in it."""
        return self._name

    def record_call(self) -> None:
        """Count one call: in memory, sent to Redis with the next batch."""
        now = self._clock.monotonic()
        with self._lock:
            self._pending += 1
            # The local window too, so that an outage finds this process's history.
            self._window.record(now, failed=False, slow=False)

    def try_retry(self) -> bool:
        """Take one retry from the fleet's budget; False (and nothing taken) if spent."""
        reply = self._sync(take=True, flusher=False)
        if reply is None:
            return super().try_retry()
        now = self._clock.monotonic()
        with self._lock:
            if reply[0]:
                self._window.record(now, failed=True, slow=False)
            else:
                self._rejected += 1
        return bool(reply[0])

    def snapshot(self) -> BudgetSnapshot:
        """The fleet's calls and retries in the window (this process's while Redis is down)."""
        reply = self._sync(take=False, flusher=False)
        if reply is None:
            return super().snapshot()
        calls, retries = reply[1], reply[2]
        return BudgetSnapshot(calls, retries, self._ratio * calls + self._floor, self._rejected)

    def close(self) -> None:
        """Stop the flusher thread, send the calls still in memory, close an owned client.

        The budget still works afterwards; its calls are then sent by :meth:`try_retry`
        and :meth:`snapshot` only.
        """
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if self._pending or self._held:
            self._sync(take=False, flusher=True)
        self._redis.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        c = self.config
        return (
            f"RedisRetryBudget({self._redis.shown!r}, name={self._name!r}, ratio={c.ratio}, "
            f"min_per_second={c.min_per_second}, window={c.window})"
        )

    # ----------------------------------------------------------------- internals

    def _flush_due(self) -> None:
        """Send what waits in memory, or probe a Redis that was down; the flusher's tick."""
        if self._pending or self._held or self._down is not None:
            self._sync(take=False, flusher=True)

    def _sync(self, *, take: bool, flusher: bool) -> list[int] | None:
        """Send the calls in memory (and take a retry if asked); None if Redis is down."""
        now = self._clock.monotonic()
        head = int(now // self._width)
        with self._lock:
            held = self._held
            if self._pending:
                held[head] = held.get(head, 0) + self._pending
                self._pending = 0
            for bucket in [b for b in held if head - b >= _BUCKETS]:
                del held[bucket]  # out of the window: it would no longer count anyway
            if self._down is not None:
                # While Redis is down the flusher probes it, so that retries decide
                # locally without waiting on it; after close() the callers probe.
                if not (flusher or self._stop.is_set()) or now < self._probe_at:
                    return None
                self._probe_at = now + self._flush_every
            self._held = {}
        args: list[str | int] = [
            self._width_ms,
            repr(self._ratio),
            repr(self._floor),
            self._ttl_ms,
            int(take),
        ]
        for bucket, calls in held.items():
            args += (head - bucket, calls)
        try:
            reply: list[int] = self._script(keys=[self._key], args=args)
        except REDIS_ERRORS as exc:
            with self._lock:
                for bucket, calls in held.items():
                    self._held[bucket] = self._held.get(bucket, 0) + calls
                first, self._down = self._down is None, exc
                if first:
                    self._down_since = now
                    self._probe_at = now + self._flush_every
            if first:
                logger.warning(
                    "resilience: %r cannot use Redis (%s: %s); the retry budget now counts "
                    "this process's calls and retries only, and resumes sharing with the "
                    "fleet when Redis is back",
                    self,
                    type(exc).__name__,
                    exc,
                )
            return None
        if self._down is not None:
            with self._lock:
                back, self._down = self._down is not None, None
            if back:
                logger.info(
                    "resilience: %r reached Redis again after %.1f s; the retry budget is "
                    "shared with the fleet again",
                    self,
                    now - self._down_since,
                )
        return reply


def _flusher(
    ref: weakref.WeakMethod[Callable[[], None]], stop: threading.Event, every: float
) -> None:
    while not stop.wait(every):
        flush_due = ref()
        if flush_due is None:
            return
        flush_due()
        del flush_due  # the budget is not kept alive while the thread waits


def _check_text(what: str, value: object, *, braces: bool) -> None:
    if not isinstance(value, str):
        raise TypeError(f"RedisRetryBudget {what} must be a str, got {type(value).__name__}")
    if not value:
        raise ValueError(f"RedisRetryBudget {what} must not be empty")
    if not braces and ("{" in value or "}" in value):
        raise ValueError(
            f"RedisRetryBudget {what} must not contain braces (they mark the budget's "
            f"hash tag in its key), got {value!r}"
        )
