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

The keys and the scripts are described in :mod:`._commands`; the wire format in :mod:`._wire`.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Final, Literal, NoReturn

from resilience._breaker.events import OPEN
from resilience._breaker.store import BreakerLink, SharedBreaker
from resilience._core.clock import SYSTEM_CLOCK
from resilience._core.extras import missing
from resilience._core.text import safe_repr
from resilience.health import CheckResult
from resilience.stores._events import StoreDegraded, StoreRecovered

try:
    import redis
    from redis.client import PubSub
except ImportError as _exc:  # pragma: no cover - the extra is installed in tests
    raise missing("redis", "the redis client", who="RedisBreakerStore") from _exc

from resilience.stores.redis._commands import BreakerCommands
from resilience.stores.redis._connection import REDIS_ERRORS
from resilience.stores.redis._link import (
    Hub,
    Link,
    check_finite,
    unreachable,
)
from resilience.stores.redis._options import BreakerStoreOptions
from resilience.stores.redis._outage import OutageStore
from resilience.stores.redis._wire import EVENT_ERRORS, parse_event

__all__ = ["RedisBreakerStore"]

logger = logging.getLogger("resilience")

_PING: Final = "resilience-breaker-store"
_FIRST_RETRY: Final = 0.05
"""Seconds before the first reconnection attempt; then doubled up to retry_interval."""


class RedisBreakerStore(OutageStore[BreakerStoreOptions]):
    """Shares the breakers of a :class:`~resilience.BreakerRegistry` across processes.

    Pass it as ``BreakerRegistry(store=...)``. Once a breaker opens in any process,
    every process rejects its calls, typically within a few milliseconds; trial calls
    after the open period are limited fleet-wide; and the fleet's outcomes together
    count towards each breaker's trip rules. See ``docs/fleet.md``.

    Durations are seconds, as a number or a :class:`~datetime.timedelta`.

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

    _WHAT = "RedisBreakerStore"
    _USERS = "breakers"

    def __init__(
        self,
        url_or_client: str | redis.Redis,
        *,
        namespace: str = "resilience",
        on_error: Literal["local", "closed", "open"] = "local",
        batch_size: int = 10,
        flush_interval: float | timedelta = 0.05,
        timeout: float | timedelta = 0.25,
        retry_interval: float | timedelta = 1.0,
        ttl: float | timedelta = 86_400.0,
        listeners: Iterable[Callable[[StoreDegraded | StoreRecovered], object]] = (),
    ) -> None:
        config = BreakerStoreOptions.model_validate(
            {
                "namespace": namespace,
                "on_error": on_error,
                "batch_size": batch_size,
                "flush_interval": flush_interval,
                "timeout": timeout,
                "retry_interval": retry_interval,
                "ttl": ttl,
            }
        )
        super().__init__(url_or_client, config=config, listeners=listeners)
        self._commands = commands = BreakerCommands(self._client, config)
        self._channel = commands.channel
        self._links: dict[str, Link] = {}
        # The links read the outage on each admission: it is kept in what they share.
        self._hub = self._outage = Hub(
            config, request_permit=commands.request_permit, degrade=self._degrade
        )
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------- BreakerStore

    def link(self, breaker: SharedBreaker) -> BreakerLink:
        """Share ``breaker``'s state; called by the registry as it creates the breaker.

        Raises:
            ValueError: The breaker's open period or half-open timeout is not finite:
                the fleet's scripts and events carry them as milliseconds.
        """
        check_finite(breaker)
        link = Link(self._hub, breaker)
        with self._lock:
            if self._stop.is_set():
                raise RuntimeError(f"{self!r} is closed; make a new store")
            self._links[breaker.name] = link
            self._hub.active.add(link)  # the flusher reads the fleet's state of it
            breaker.link = link
            if not self._threads:
                self._start()
            down = self._hub.down
        if down is not None and self.config.on_error == "open":
            retry = self.config.retry_interval
            breaker.apply_shared(OPEN, remaining=retry, period=retry, reason=unreachable(down))
        self._hub.wake.set()
        return link

    def unlink(self, breaker: SharedBreaker) -> None:
        """Stop sharing ``breaker``'s state; called by the registry as it evicts it."""
        link = breaker.link
        with self._lock:
            if link is not None and self._links.get(breaker.name) is link:
                del self._links[breaker.name]
                self._hub.active.discard(link)
        breaker.link = None

    # ------------------------------------------------------------------ public

    def check(self) -> CheckResult:
        """A health check: OK while Redis is reachable, WARNING while it is not.

        Register it with ``health.register("breaker-store", store.check,
        critical=False)``: an outage degrades the application without stopping it.
        """
        return self._health(len(self._links))

    def close(self) -> None:
        """Stop the store's threads and close a client it made from a URL.

        The breakers carry on with their local state, unshared.
        """
        self._stop.set()
        self._hub.wake.set()
        for thread in self._threads:
            thread.join(timeout=5)
        with self._lock:
            links = list(self._links.values())
            self._links.clear()
            self._hub.active.clear()
        for link in links:
            link.breaker.link = None
        super().close()

    # ----------------------------------------------------------------- internals

    def _start(self) -> None:
        for target, what in ((self._flusher, "flusher"), (self._subscriber, "subscriber")):
            thread = threading.Thread(
                target=target, name=f"resilience-breaker-store-{what}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _flusher(self) -> None:
        interval = self.config.flush_interval
        while not self._stop.is_set():
            self._hub.wake.wait(interval)
            self._hub.wake.clear()
            if self._hub.down is None and not self._stop.is_set():
                try:
                    self._flush_all()
                except REDIS_ERRORS as exc:
                    self._degrade(exc)
                except Exception:  # a thread that died would stop sharing unseen
                    logger.exception("resilience: %r failed to flush; it carries on", self)

    def _flush_all(self) -> None:
        commands = self._commands
        pipe = commands.pipeline()
        sent: list[Link] = []
        trips: list[tuple[Link, str]] = []
        for link in list(self._hub.active):
            trials, counts = link.take()
            for trial in trials:
                commands.trial(pipe, link, trial)
                sent.append(link)
            if counts is not None:
                commands.flush(pipe, link, counts)
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
                if pubsub is not None and self._hub.down is not None:
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
            except REDIS_ERRORS as exc:
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
            name, reply = parse_event(data)
            link = self._links.get(name)
        except EVENT_ERRORS as exc:
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
        pipe = self._commands.pipeline()
        for link in links:
            self._commands.read(pipe, link)
        replies = pipe.execute() if links else []
        for link, reply in zip(links, replies, strict=True):
            link.apply(reply, resync=True)
        self._recovered()

    def _degrade(self, exc: BaseException) -> None:
        with self._lock:
            if not self._begin(exc, SYSTEM_CLOCK.monotonic()):
                return
            links = list(self._links.values())
        self._degraded(exc)
        if self.config.on_error == "open":
            retry = self.config.retry_interval
            for link in links:
                link.breaker.apply_shared(
                    OPEN, remaining=retry, period=retry, reason=unreachable(exc)
                )


def _unanswered(within: float) -> NoReturn:
    raise redis.TimeoutError(f"Redis did not answer a PING on the subscription within {within:g} s")


def _close(pubsub: PubSub | None) -> None:
    """Close a subscription, if any, whatever state its connection is in."""
    if pubsub is not None:
        with contextlib.suppress(*REDIS_ERRORS):
            pubsub.close()
