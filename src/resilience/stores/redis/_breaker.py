"""Breaker state shared by a fleet through Redis, with every call still decided in memory.

Each process keeps its own breaker per remote and decides each call from it, so no call
in the CLOSED state waits on Redis. What the fleet shares:

- **counts**: a flusher thread sends each breaker's outcomes in batches (after
  ``batch_size`` outcomes, a trip, or ``flush_interval`` seconds) to a Lua script that
  adds them to the fleet's counts and judges the breaker's trip rules on them;
- **transitions**: decided in Lua, so one process wins, and published on one channel
  that every process's subscriber thread applies to its own breaker;
- **trial permits**: when a breaker's open period is over, a call asks Redis for one of
  the fleet's ``half_open_max_calls`` permits. It is the one call that waits on Redis
  (one per process at a time, under ``timeout``), and only once per open period.

Keys of a breaker (the braces are literal: a Redis Cluster hash tag):

``{namespace}:breaker:{<name>}``
    A hash: ``state``, ``gen`` (a transition counter that starts from the server's clock
    in ms, so it keeps rising even if the key expires or the server restarts empty),
    ``opened_at``, ``period``, ``since`` (ms of the server clock), ``reason``,
    ``permits``, ``ok``.
``{namespace}:breaker:{<name>}:counts``
    A hash: ``r:<process>``, each process's current run of consecutive failures, whose
    sum the fleet's ``failure_threshold`` is judged on; and the fleet's window:
    ``calls``, ``failures``, ``slow`` for a count window (scaled down to the window's
    size as it overflows, so old outcomes fade), or ``c:<s>``, ``f:<s>``, ``s:<s>`` per
    second of a time window. Deleted on every transition, as a local window is cleared.

Both expire ``ttl`` seconds after their last write; times are the Redis server's.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any, Final, Literal, NoReturn, Self

from pydantic import Field

from resilience._breaker.breaker import _SKIP, CircuitBreaker
from resilience._breaker.config import BreakerConfig
from resilience._breaker.errors import CircuitOpenError
from resilience._breaker.store import BreakerLink
from resilience._core.clock import SYSTEM_CLOCK
from resilience._core.events import (
    CircuitState,
    Event,
    Outcome,
    StoreDegraded,
    StoreRecovered,
    emit,
)
from resilience._core.log import log_event
from resilience._core.options import Options
from resilience._core.text import safe_repr, safe_str
from resilience.health._registry import CheckResult, ComponentStatus

try:
    import redis
    from redis.client import PubSub
except ImportError as _exc:  # pragma: no cover - the extra is installed in tests
    raise ImportError(
        "RedisBreakerStore needs the redis client: pip install 'resilience[redis]'"
    ) from _exc

from resilience.stores.redis._connection import connect

__all__ = ["RedisBreakerStore"]

logger = logging.getLogger("resilience")

# Every script starts here. KEYS: state, counts. ARGV: channel, name, ttl in ms, then the
# script's own. reply() is what each returns: state, gen, ms left open, period, reason.
_PRELUDE: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local S, C = KEYS[1], KEYS[2]
local h = redis.call('HMGET', S, 'state', 'gen', 'opened_at', 'period', 'reason', 'since',
                     'permits', 'ok')
local state, gen = h[1] or 'closed', tonumber(h[2] or '0')
local opened_at, period = tonumber(h[3] or '0'), tonumber(h[4] or '0')
local reason, since = h[5] or '', tonumber(h[6] or '0')
local permits, ok = tonumber(h[7] or '0'), tonumber(h[8] or '0')
local function reply()
  local left = 0
  if state == 'open' then left = math.max(0, opened_at + period - now) end
  return {state, gen, left, period, reason}
end
local function move(new, why, new_period)
  gen = math.max(gen + 1, now)
  state, reason, permits, ok = new, why, 0, 0
  if new == 'open' then opened_at, period = now, new_period end
  if new == 'half_open' then since = now end
  redis.call('HSET', S, 'state', state, 'gen', gen, 'opened_at', opened_at, 'period', period,
             'reason', reason, 'since', since, 'permits', 0, 'ok', 0)
  redis.call('DEL', C)
  local r = reply()
  redis.call('PUBLISH', ARGV[1], cjson.encode({name = ARGV[2], state = r[1],
    gen = tostring(r[2]), left = r[3], period = r[4], reason = r[5]}))
end
local function reopen_period(open_for, open_for_max)
  if open_for_max > 0 and period > 0 then return math.min(period * 2, open_for_max) end
  return open_for
end
local function touch()
  redis.call('PEXPIRE', S, ARGV[3])
  redis.call('PEXPIRE', C, ARGV[3])
end
"""

# ARGV[4..]: process, its run of failures, calls, failures, slow calls, why it tripped
# here ('' if it did not), failure_threshold, failure_rate, slow_call_rate (0 = unset),
# window kind ('n' calls, 't' seconds, '' none), window size, minimum_calls, open_for ms.
_FLUSH: Final = (
    _PRELUDE
    + """
if state == 'closed' then
  local calls, fails, slow = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
  local kind, size = ARGV[13], tonumber(ARGV[14])
  redis.call('HSET', C, 'r:' .. ARGV[4], ARGV[5])
  if kind == 'n' and calls > 0 then
    calls = redis.call('HINCRBY', C, 'calls', calls)
    fails = redis.call('HINCRBY', C, 'failures', fails)
    slow = redis.call('HINCRBY', C, 'slow', slow)
    if calls > size then
      local k = size / calls
      calls, fails, slow = size, math.floor(fails * k + 0.5), math.floor(slow * k + 0.5)
      redis.call('HSET', C, 'calls', calls, 'failures', fails, 'slow', slow)
    end
  elseif kind == 't' and calls > 0 then
    local sec = math.floor(now / 1000)
    redis.call('HINCRBY', C, 'c:' .. sec, calls)
    redis.call('HINCRBY', C, 'f:' .. sec, fails)
    redis.call('HINCRBY', C, 's:' .. sec, slow)
  end
  local runs, totals = 0, {c = 0, f = 0, s = 0}
  local fields = redis.call('HGETALL', C)
  local oldest = math.floor(now / 1000) - size
  for i = 1, #fields, 2 do
    local field, value = fields[i], tonumber(fields[i + 1])
    if string.sub(field, 1, 2) == 'r:' then
      runs = runs + value
    elseif kind == 't' then
      local which, sec = string.match(field, '^([cfs]):(%d+)$')
      if which then
        if tonumber(sec) <= oldest then redis.call('HDEL', C, field)
        else totals[which] = totals[which] + value end
      end
    end
  end
  if kind == 't' then calls, fails, slow = totals.c, totals.f, totals.s end
  if kind == '' then calls = 0 end
  local threshold, rate, slow_rate = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
  local why = nil
  if ARGV[9] ~= '' then
    why = ARGV[9]
  elseif threshold > 0 and runs >= threshold then
    why = runs .. ' consecutive failures across the fleet'
  elseif calls > 0 and calls >= tonumber(ARGV[15]) then
    if rate > 0 and fails >= rate * calls then
      why = 'fleet failure rate ' .. math.floor(100 * fails / calls) .. '% over ' .. calls ..
            ' calls reached failure_rate=' .. ARGV[11]
    elseif slow_rate > 0 and slow >= slow_rate * calls then
      why = 'fleet slow call rate ' .. math.floor(100 * slow / calls) .. '% over ' .. calls ..
            ' calls reached slow_call_rate=' .. ARGV[12]
    end
  end
  if why then move('open', why, tonumber(ARGV[16])) end
end
touch()
return reply()
"""
)

# ARGV[4..]: half_open_max_calls, half_open_timeout ms (0 = none), open_for ms,
# open_for_max ms (0 = none). The reply gets a 6th item: 1 if a permit was granted.
_ADMIT: Final = (
    _PRELUDE
    + """
local timeout = tonumber(ARGV[5])
if state == 'open' and now >= opened_at + period then
  move('half_open', 'open period elapsed; letting a trial call through', period)
elseif state == 'half_open' and timeout > 0 and now - since >= timeout then
  move('open', 'no trial call finished within half_open_timeout',
       reopen_period(tonumber(ARGV[6]), tonumber(ARGV[7])))
end
local granted = 0
if state == 'half_open' and permits < tonumber(ARGV[4]) then
  redis.call('HSET', S, 'permits', permits + 1)
  granted = 1
end
touch()
local r = reply()
r[6] = granted
return r
"""
)

# ARGV[4..]: the generation the permit was granted in, 'ok' / 'fail' / 'release', why,
# success_threshold, open_for ms, open_for_max ms.
_TRIAL: Final = (
    _PRELUDE
    + """
if state == 'half_open' and tostring(gen) == ARGV[4] then
  permits = math.max(0, permits - 1)
  if ARGV[5] == 'fail' then
    move('open', ARGV[6], reopen_period(tonumber(ARGV[8]), tonumber(ARGV[9])))
  elseif ARGV[5] == 'ok' and ok + 1 >= tonumber(ARGV[7]) then
    move('closed', (ok + 1) .. ' trial calls succeeded across the fleet', 0)
  else
    if ARGV[5] == 'ok' then ok = ok + 1 end
    redis.call('HSET', S, 'permits', permits, 'ok', ok)
  end
end
touch()
return reply()
"""
)

_READ: Final = _PRELUDE + "\nreturn reply()\n"

_STATES: Final = {s.value: s for s in CircuitState}
_CLOSED: Final = CircuitState.CLOSED
_OPEN: Final = CircuitState.OPEN
_HALF_OPEN: Final = CircuitState.HALF_OPEN
_REDIS_ERRORS: Final = (redis.RedisError, OSError)
_PING: Final = "resilience-breaker-store"
_FIRST_RETRY: Final = 0.05
"""Seconds before the first reconnection attempt; then doubled up to retry_interval."""


class _StoreConfig(Options):
    namespace: str = Field(min_length=1, pattern=r"^[^{}]+$")
    on_error: Literal["local", "closed", "open"] = "local"
    batch_size: int = Field(default=10, gt=0)
    flush_interval: float = Field(default=0.05, gt=0)
    timeout: float = Field(default=0.25, gt=0)
    retry_interval: float = Field(default=1.0, gt=0)
    ttl: float = Field(default=86_400.0, gt=0)


class RedisBreakerStore:
    """Shares the breakers of a :class:`~resilience.BreakerRegistry` across processes.

    Pass it as ``BreakerRegistry(store=...)``. Once a breaker opens in any process,
    every process rejects its calls, typically within a few milliseconds; trial calls
    after the open period are limited fleet-wide; and the fleet's outcomes together
    count towards each breaker's trip rules. See ``docs/fleet.md``.

    Args:
        url_or_client: A ``redis://`` URL, or a ``redis.Redis`` client (cluster clients
            are not supported: the store subscribes to one channel).
        namespace: Prefix of every key and of the channel.
        on_error: What breakers do while Redis is unreachable: ``"local"`` (each
            process carries on with its own breakers), ``"closed"`` (every call is
            let through) or ``"open"`` (every call is rejected). Each emits
            :class:`~resilience.StoreDegraded`, and :meth:`check` reports WARNING.
        batch_size: Outcomes of one breaker that trigger a flush at once.
        flush_interval: Seconds between flushes otherwise.
        timeout: Seconds a trial permit request (and a URL-made client) may take.
        retry_interval: At most this many seconds between reconnection attempts while
            Redis is down (the first comes sooner, then the wait doubles). Also how long
            the subscription may stay silent before it is pinged: a PING unanswered
            for ``timeout`` (at least ``retry_interval``) seconds is an outage too, as
            when the server is paused and no socket errs.
        ttl: Seconds a breaker's keys live after their last write.
        listeners: Receive :class:`~resilience.StoreDegraded` and
            :class:`~resilience.StoreRecovered`.
    """

    def __init__(
        self,
        url_or_client: str | redis.Redis,
        *,
        namespace: str = "resilience",
        on_error: Literal["local", "closed", "open"] = "local",
        batch_size: int = 10,
        flush_interval: float = 0.05,
        timeout: float = 0.25,
        retry_interval: float = 1.0,
        ttl: float = 86_400.0,
        listeners: Iterable[Callable[[StoreDegraded | StoreRecovered], object]] = (),
    ) -> None:
        self.config = config = _StoreConfig(
            namespace=namespace,
            on_error=on_error,
            batch_size=batch_size,
            flush_interval=flush_interval,
            timeout=timeout,
            retry_interval=retry_interval,
            ttl=ttl,
        )
        client, self._shown, self._owned = connect(
            url_or_client, what="RedisBreakerStore", timeout=timeout
        )
        self._client = client
        self._channel = f"{config.namespace}:breaker-events"
        self._process = uuid.uuid4().hex[:12]
        self._listeners = tuple(listeners)
        self._flush = client.register_script(_FLUSH)
        self._admit = client.register_script(_ADMIT)
        self._trial = client.register_script(_TRIAL)
        self._read = client.register_script(_READ)
        self._links: dict[str, _Link] = {}
        # The links the flusher looks at: those with something to send, or a run of
        # failures the fleet counts (a success will end it). Most breakers are idle.
        self._active: set[_Link] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._down: BaseException | None = None
        self._down_since = 0.0

    def __repr__(self) -> str:
        c = self.config
        return (
            f"RedisBreakerStore({self._shown!r}, namespace={c.namespace!r}, "
            f"on_error={c.on_error!r})"
        )

    # ------------------------------------------------------------- BreakerStore

    def link(self, breaker: CircuitBreaker) -> BreakerLink:
        """Share ``breaker``'s state; called by the registry as it creates the breaker.

        Raises:
            ValueError: The breaker's open period or half-open timeout is not finite:
                the fleet's scripts and events carry them as milliseconds.
        """
        _check_finite(breaker)
        link = _Link(self, breaker)
        with self._lock:
            if self._stop.is_set():
                raise RuntimeError(f"{self!r} is closed; make a new store")
            self._links[breaker.name] = link
            self._active.add(link)  # the flusher reads the fleet's state of it
            breaker._link = link
            if not self._threads:
                self._start()
            down = self._down
        if down is not None and self.config.on_error == "open":
            retry = self.config.retry_interval
            breaker._apply_shared(_OPEN, remaining=retry, period=retry, reason=_unreachable(down))
        self._wake.set()
        return link

    def unlink(self, breaker: CircuitBreaker) -> None:
        """Stop sharing ``breaker``'s state; called by the registry as it evicts it."""
        link = breaker._link
        with self._lock:
            if link is not None and self._links.get(breaker.name) is link:
                del self._links[breaker.name]
                self._active.discard(link)
        breaker._link = None

    # ------------------------------------------------------------------ public

    @property
    def degraded(self) -> bool:
        """Whether Redis is unreachable, so that breakers follow ``on_error``."""
        return self._down is not None

    def check(self) -> CheckResult:
        """A health check: OK while Redis is reachable, WARNING while it is not.

        Register it with ``health.register("breaker-store", store.check,
        critical=False)``: an outage degrades the application without stopping it.
        """
        down = self._down
        if down is None:
            return CheckResult(ComponentStatus.OK, f"sharing {len(self._links)} breakers")
        return CheckResult(
            ComponentStatus.WARNING,
            f"Redis unreachable ({_describe(down)}); breakers follow "
            f"on_error={self.config.on_error!r} until it is back",
        )

    def close(self) -> None:
        """Stop the store's threads and close a client it made from a URL.

        The breakers carry on with their local state, unshared.
        """
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=5)
        with self._lock:
            links = list(self._links.values())
            self._links.clear()
            self._active.clear()
        for link in links:
            link.breaker._link = None
        if self._owned:
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- internals

    def _start(self) -> None:
        for target, what in ((self._flusher, "flusher"), (self._subscriber, "subscriber")):
            thread = threading.Thread(
                target=target, name=f"resilience-breaker-store-{what}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _keys(self, name: str) -> list[str]:
        state = f"{self.config.namespace}:breaker:{{{name}}}"
        return [state, f"{state}:counts"]

    def _args(self, name: str, *rest: object) -> list[Any]:
        return [self._channel, name, int(self.config.ttl * 1000), *rest]

    def _flusher(self) -> None:
        interval = self.config.flush_interval
        while not self._stop.is_set():
            self._wake.wait(interval)
            self._wake.clear()
            if self._down is None and not self._stop.is_set():
                try:
                    self._flush_all()
                except _REDIS_ERRORS as exc:
                    self._degrade(exc)
                except Exception:  # a thread that died would stop sharing unseen
                    logger.exception("resilience: %r failed to flush; it carries on", self)

    def _flush_all(self) -> None:
        pipe = self._client.pipeline(transaction=False)
        sent: list[_Link] = []
        trips: list[tuple[_Link, str]] = []
        for link in list(self._active):
            trials, counts = link.take()
            for gen, result, why in trials:
                config = link.breaker.config
                self._trial(
                    keys=self._keys(link.name),
                    args=self._args(
                        link.name,
                        gen,
                        result,
                        why,
                        config.success_threshold,
                        _ms(config.open_for),
                        _ms(config.open_for_max),
                    ),
                    client=pipe,
                )
                sent.append(link)
            if counts is not None:
                self._flush(
                    keys=self._keys(link.name),
                    args=self._args(link.name, self._process, *counts, *link.rules),
                    client=pipe,
                )
                sent.append(link)
                if counts[-1]:
                    trips.append((link, counts[-1]))
        if sent:
            try:
                replies = pipe.execute()
            except BaseException:
                # A trip must reach the fleet once Redis is back. Sending it twice is
                # harmless (an open breaker is not opened again); counts and trial
                # outcomes are not sent again: a timed-out script may still have run.
                for link, why in trips:
                    link.unsent(why)
                raise
            for link, reply in zip(sent, replies, strict=True):
                link.apply(reply)

    def _subscriber(self) -> None:
        """Apply the fleet's transitions; and, while Redis is away, bring the store back.

        A paused server, or one slow command, errs on no socket: the subscription would
        wait on forever. So a silent subscription is pinged, and whenever the store is
        degraded (by any thread) the subscription starts over on a new connection and
        resynchronises, retrying with a growing wait until Redis answers. The wait
        starts short again only once the store has shared for ``retry_interval``: a
        server that answers reads but fails every flush is retried no faster than that.
        """
        config = self.config
        silence = config.retry_interval
        answer_within = max(config.timeout, config.retry_interval)
        monotonic = SYSTEM_CLOCK.monotonic
        pubsub: PubSub | None = None
        heard = pinged = since = 0.0  # pinged: when an unanswered PING was sent, or 0
        wait = _FIRST_RETRY
        while not self._stop.is_set():
            try:
                if pubsub is not None and self._down is not None:
                    # Degraded by a command that failed or timed out: this connection
                    # may be stuck behind the same stall.
                    _close(pubsub)
                    pubsub = None
                    wait = self._backoff(wait)
                if pubsub is None:
                    pubsub = self._client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
                    pubsub.subscribe(self._channel)
                    self._resync()  # what was published while not subscribed
                    heard = since = monotonic()
                    pinged = 0.0
                message = pubsub.get_message(timeout=0.2)
                now = monotonic()
                if message is not None:
                    heard, pinged = now, 0.0
                    if now - since >= silence:
                        wait = _FIRST_RETRY
                    if message["type"] == "message":
                        self._on_message(message["data"])
                elif pinged and now - pinged > answer_within:
                    _unanswered(answer_within)
                elif not pinged and now - heard >= silence:
                    pubsub.ping(_PING)
                    pinged = now
            except _REDIS_ERRORS as exc:
                self._degrade(exc)
                _close(pubsub)
                pubsub = None
                wait = self._backoff(wait)
            except Exception:  # a thread that died would stop sharing unseen
                logger.exception("resilience: %r failed to apply an event; it carries on", self)
        _close(pubsub)

    def _backoff(self, wait: float) -> float:
        """Wait about ``wait`` seconds (unless closed); the next wait, doubled."""
        # Jittered, so that a fleet does not come back in step.
        self._stop.wait(wait * random.uniform(0.5, 1.0))
        return min(wait * 2, self.config.retry_interval)

    def _on_message(self, data: bytes) -> None:
        try:
            message = json.loads(data, parse_constant=_no_constant, parse_float=_finite)
            link = self._links.get(message["name"])
            reply = [
                message["state"],
                message["gen"],
                message["left"],
                message["period"],
                message["reason"],
            ]
            _check_reply(reply)
        except (ValueError, KeyError, TypeError, OverflowError, RecursionError) as exc:
            logger.warning(
                "resilience: %r ignored a malformed breaker event on %r (%s): %s",
                self,
                self._channel,
                safe_repr(exc),
                safe_repr(data),
            )
            return
        if link is not None:
            link.apply(reply)

    def _resync(self) -> None:
        """Read every breaker's shared state and take it on, whatever its generation."""
        with self._lock:
            links = list(self._links.values())
        pipe = self._client.pipeline(transaction=False)
        for link in links:
            self._read(keys=self._keys(link.name), args=self._args(link.name), client=pipe)
        replies = pipe.execute() if links else []
        for link, reply in zip(links, replies, strict=True):
            link.apply(reply, resync=True)
        self._recovered()

    def _request_permit(self, link: _Link) -> list[Any]:
        config = link.breaker.config
        return self._admit(  # type: ignore[no-any-return]
            keys=self._keys(link.name),
            # A trial whose process died never reports: without a half_open_timeout,
            # the fleet gives up on it after the open period.
            args=self._args(
                link.name,
                config.half_open_max_calls,
                _ms(config.half_open_timeout or config.open_for),
                _ms(config.open_for),
                _ms(config.open_for_max),
            ),
        )

    def _degrade(self, exc: BaseException) -> None:
        with self._lock:
            if self._down is not None:
                return
            self._down = exc
            self._down_since = SYSTEM_CLOCK.monotonic()
            links = list(self._links.values())
        mode = self.config.on_error
        event = StoreDegraded(repr(self), mode, exc)
        log_event(event)
        emit(self._listeners, event)
        if mode == "open":
            retry = self.config.retry_interval
            for link in links:
                link.breaker._apply_shared(
                    _OPEN, remaining=retry, period=retry, reason=_unreachable(exc)
                )

    def _recovered(self) -> None:
        with self._lock:
            if self._down is None:
                return
            self._down = None
            down_for = SYSTEM_CLOCK.monotonic() - self._down_since
        event = StoreRecovered(repr(self), down_for)
        log_event(event)
        emit(self._listeners, event)


class _Link:
    """One breaker's side of the store.

    The breaker calls :meth:`outcome`, :meth:`trial` and :meth:`moved` under its lock
    (they only count and wake the flusher) and :meth:`admit` without it; the flusher
    and subscriber threads call the rest.
    """

    __slots__ = (
        "_asking",
        "_denied_until",
        "_run_sent",
        "_store",
        "_trial_gen",
        "breaker",
        "calls",
        "failures",
        "name",
        "opened",
        "rules",
        "shared_gen",
        "slow",
        "trials",
    )

    def __init__(self, store: RedisBreakerStore, breaker: CircuitBreaker) -> None:
        self._store = store
        self.breaker = breaker
        self.name = breaker.name
        self.rules = _rules(breaker.config)
        self.calls = self.failures = self.slow = 0
        self.opened = ""  # why this process tripped, until the flusher sends it
        self.trials: list[tuple[str, str, str]] = []
        self.shared_gen = -1
        self._run_sent = -1
        self._trial_gen = ""
        self._denied_until = 0.0
        self._asking = threading.Lock()

    # ------------------------------------------- called by the breaker, under its lock

    def outcome(self, failed: bool, slow: bool) -> None:
        self.calls += 1
        self.failures += failed
        self.slow += slow
        store = self._store
        store._active.add(self)
        if self.calls >= store.config.batch_size:
            store._wake.set()

    def unsent(self, why: str) -> None:
        """A trip whose flush failed: sent again, unless the breaker closed meanwhile."""
        with self.breaker._lock:
            if self.breaker._state is not _CLOSED and not self.opened:
                self.opened = why
                self._store._active.add(self)

    def trial(self, outcome: Outcome, slow: bool, exc: BaseException | None) -> None:
        if outcome is Outcome.FAILURE:
            self.trials.append((self._trial_gen, "fail", f"trial call failed: {safe_repr(exc)}"))
        elif outcome is Outcome.SUCCESS and slow:
            self.trials.append((self._trial_gen, "fail", "trial call was slow"))
        elif outcome is Outcome.SUCCESS:
            self.trials.append((self._trial_gen, "ok", ""))
        else:
            self.trials.append((self._trial_gen, "release", ""))
        self._store._active.add(self)
        self._store._wake.set()

    def moved(self, old: CircuitState, new: CircuitState, reason: str, *, shared: bool) -> None:
        self.calls = self.failures = self.slow = 0
        if not shared and old is _CLOSED and new is _OPEN:
            self.opened = reason
            self._store._active.add(self)
            self._store._wake.set()
        elif new is _CLOSED:
            # Closed again by its own trial (as while Redis is away): a trip not yet
            # sent is stale now and must not open the fleet when it is sent.
            self.opened = ""

    def admit(self) -> int:
        store, breaker = self._store, self.breaker
        if store._down is not None:
            mode = store.config.on_error
            if mode == "closed":
                return _SKIP
            if mode == "open":
                retry = store.config.retry_interval
                why = _unreachable(store._down)
                raise _rejection(breaker, CircuitOpenError(breaker.name, _OPEN, retry, why))
            return breaker._admit_local()
        now = breaker._clock.monotonic()
        state = breaker._state
        if state is not _OPEN and state is not _HALF_OPEN:
            return breaker._admit_local()  # it changed meanwhile
        waiting = state is _OPEN and now < breaker._opened_at + breaker._open_period  # type: ignore[operator]
        # One request per process at a time; the others are refused, as a local
        # half-open breaker refuses calls beyond its permits.
        if waiting or now < self._denied_until or not self._asking.acquire(blocking=False):
            raise _rejection(breaker)
        try:
            reply = store._request_permit(self)
        except _REDIS_ERRORS as exc:
            store._degrade(exc)
            return self.admit()  # now by on_error
        finally:
            self._asking.release()
        self.apply(reply[:5], fresh=True)
        if reply[5]:
            with breaker._lock:
                if breaker._state is _HALF_OPEN:
                    breaker._permits += 1
                    self._trial_gen = _text(reply[1])
                    return breaker.epoch
                self.trials.append((_text(reply[1]), "release", ""))
                store._active.add(self)
        if breaker._state is _CLOSED:
            return breaker._admit_local()
        self._denied_until = now + store.config.flush_interval
        raise _rejection(breaker)

    # --------------------------------------------- called by the store's threads

    def take(self) -> tuple[list[tuple[str, str, str]], tuple[int, int, int, int, str] | None]:
        """What to send: trial outcomes, and the counts or None.

        The counts: run of failures, calls, failures, slow calls, why it tripped. A link
        with nothing more to send leaves the active set.
        """
        breaker = self.breaker
        with breaker._lock:
            trials, self.trials = self.trials, []
            closed = breaker._state is _CLOSED
            run = breaker.streak if closed else 0
            if not closed:  # a manual state's outcomes are this process's own
                self.calls = self.failures = self.slow = 0
            counts = None
            if self.opened or (closed and (self.calls or run != self._run_sent)):
                counts = (run, self.calls, self.failures, self.slow, self.opened)
                self.calls = self.failures = self.slow = 0
                self.opened = ""
                self._run_sent = run
            if not run and not self.calls:
                self._store._active.discard(self)  # under the lock outcome() adds under
        return trials, counts

    def apply(self, reply: list[Any], *, fresh: bool = False, resync: bool = False) -> None:
        """Take on the fleet's state if it is newer than the last one taken on.

        ``fresh``: a read of the current state, taken on unless it is older. ``resync``:
        the read after a reconnection, which is fresh, and is taken on even when older if
        it is generation 0: a server restarted empty, whose breakers never moved.
        """
        state = _STATES[_text(reply[0])]
        gen = int(_text(reply[1]))
        restarted = resync and gen == 0
        if (gen < self.shared_gen and not restarted) or (
            gen == self.shared_gen and not (fresh or resync)
        ):
            return
        if state is _CLOSED and self.opened:
            return  # this process tripped since: the fleet opens once the flusher says so
        self.shared_gen = gen
        if resync:
            self._run_sent = -1  # the server may have lost it: send it again
            self._store._active.add(self)
        period = int(reply[3]) / 1000 or self.breaker.config.open_for
        self.breaker._apply_shared(
            state, remaining=int(reply[2]) / 1000, period=period, reason=_text(reply[4])
        )


def _rules(config: BreakerConfig) -> tuple[object, ...]:
    """The flush script's view of the trip rules: ARGV[10..16]."""
    if config.window_seconds is not None:
        kind, size = "t", max(1, round(config.window_seconds))
    elif config.uses_window:
        kind, size = "n", config.window_size
    else:
        kind, size = "", 0
    return (
        config.failure_threshold or 0,
        config.failure_rate or 0,
        config.slow_call_rate or 0,
        kind,
        size,
        config.minimum_calls,
        _ms(config.open_for),
    )


def _check_finite(breaker: CircuitBreaker) -> None:
    config = breaker.config
    for field in ("open_for", "open_for_max", "half_open_timeout"):
        value = getattr(config, field)
        if value is not None and not math.isfinite(value):
            raise ValueError(
                f"RedisBreakerStore cannot share breaker {breaker.name!r}: its {field} is "
                f"{value!r}, and the fleet's state carries periods as milliseconds. Give "
                f"{field} a finite number of seconds (a very long one if need be), or "
                "leave this breaker out of the store's registry"
            )


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number the store writes")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is not a finite number")
    return value


def _check_reply(reply: list[Any]) -> None:
    """Raise ValueError or TypeError unless ``reply`` is what the scripts publish."""
    state, gen, left, period, reason = reply
    if not isinstance(state, str) or state not in _STATES:
        raise ValueError(f"unknown state {state!r}")
    if not isinstance(gen, str) or not gen.isdigit():
        raise ValueError(f"generation {gen!r} is not a number as text")
    for value in (left, period):
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"{value!r} is not a number of milliseconds")
    if not isinstance(reason, str):
        raise TypeError(f"reason {reason!r} is not text")


def _unanswered(within: float) -> NoReturn:
    raise redis.TimeoutError(
        f"Redis did not answer a PING on the subscription within {within:g} s"
    )


def _close(pubsub: PubSub | None) -> None:
    """Close a subscription, if any, whatever state its connection is in."""
    if pubsub is not None:
        with contextlib.suppress(*_REDIS_ERRORS):
            pubsub.close()


def _ms(seconds: float | None) -> int:
    return 0 if seconds is None else max(1, round(seconds * 1000))


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _describe(exc: BaseException | None) -> str:
    return f"{type(exc).__name__}: {safe_str(exc)}"


def _unreachable(exc: BaseException | None) -> str:
    return f"shared breaker state unreachable ({_describe(exc)}); on_error='open' rejects calls"


def _rejection(
    breaker: CircuitBreaker, error: CircuitOpenError | None = None
) -> CircuitOpenError:
    """Reject a call as the breaker would: counted and reported; raise what this returns."""
    events: list[Event] = []
    with breaker._lock:
        now = breaker._clock.monotonic()
        rejected = breaker._reject(now, breaker._state, events)
    for event in events:
        emit(breaker._listeners, event)
    return error if error is not None else rejected
