"""One breaker's side of the Redis breaker store, and what it shares with the store.

The breaker calls :meth:`Link.outcome`, :meth:`Link.trial` and :meth:`Link.moved` under
its own lock (they only count and wake the flusher) and :meth:`Link.admit` without it;
the store's flusher and subscriber threads call the rest. The link touches its breaker
only through the breaker's public shared-state API (see :class:`~resilience.BreakerLink`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from resilience._breaker.errors import CircuitOpenError
from resilience._breaker.events import CLOSED, HALF_OPEN, OPEN, CircuitState, Outcome
from resilience._core.text import safe_repr
from resilience.stores.redis._connection import REDIS_ERRORS
from resilience.stores.redis._outage import Outage, describe
from resilience.stores.redis._wire import STATES, ms, text

if TYPE_CHECKING:
    from resilience._breaker.config import BreakerConfig
    from resilience._breaker.store import SharedBreaker
    from resilience.stores.redis._options import BreakerStoreOptions

__all__ = ["Hub", "Link", "check_finite", "unreachable"]


Trial = tuple[str, str, str]
"""A trial outcome to send: the generation its permit was granted in, result, why."""
Counts = tuple[int, int, int, int, str]
"""Counts to send: run of failures, calls, failures, slow calls, why it tripped here."""


@dataclass(slots=True, eq=False)
class Hub(Outage):
    """What a store shares with its links: the flusher's work list, its wake-up, the outage.

    Args:
        config: The store's options.
        request_permit: Asks the fleet for a trial permit for a link (one round trip).
        degrade: Declares Redis unreachable after ``exc``.
    """

    config: BreakerStoreOptions
    request_permit: Callable[[Link], list[Any]]
    degrade: Callable[[BaseException], None]
    active: set[Link] = field(default_factory=set)
    """The links the flusher looks at: those with something to send, or a run of
    failures the fleet counts (a success will end it). Most breakers are idle."""
    wake: threading.Event = field(default_factory=threading.Event)
    """Set to flush at once, without waiting for ``flush_interval``."""

    def touch(self, link: Link, *, now: bool = False) -> None:
        """Put ``link`` on the flusher's list; and wake the flusher ``now``."""
        self.active.add(link)
        if now:
            self.wake.set()


class Link:
    """One breaker's side of the store: counts its outcomes, asks for trial permits."""

    __slots__ = (
        "_asking",
        "_denied_until",
        "_hub",
        "_run_sent",
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

    def __init__(self, hub: Hub, breaker: SharedBreaker) -> None:
        self._hub = hub
        self.breaker = breaker
        self.name = breaker.name
        self.rules = _rules(breaker.config)
        self.calls = self.failures = self.slow = 0
        self.opened = ""  # why this process tripped, until the flusher sends it
        self.trials: list[Trial] = []
        self.shared_gen = -1
        self._run_sent = -1
        self._trial_gen = ""
        self._denied_until = 0.0
        self._asking = threading.Lock()

    # ------------------------------------------- called by the breaker, under its lock

    def outcome(self, failed: bool, slow: bool) -> None:
        """Count a call that finished while CLOSED."""
        self.calls += 1
        self.failures += failed
        self.slow += slow
        self._hub.touch(self, now=self.calls >= self._hub.config.batch_size)

    def trial(self, outcome: Outcome, slow: bool, exc: BaseException | None) -> None:
        """Queue a trial call's outcome for the fleet."""
        if outcome is Outcome.FAILURE:
            self.trials.append((self._trial_gen, "fail", f"trial call failed: {safe_repr(exc)}"))
        elif outcome is Outcome.SUCCESS and slow:
            self.trials.append((self._trial_gen, "fail", "trial call was slow"))
        elif outcome is Outcome.SUCCESS:
            self.trials.append((self._trial_gen, "ok", ""))
        else:
            self.trials.append((self._trial_gen, "release", ""))
        self._hub.touch(self, now=True)

    def moved(self, old: CircuitState, new: CircuitState, reason: str, *, shared: bool) -> None:
        """Forget the counts of the old state; send a trip of this process's own."""
        self.calls = self.failures = self.slow = 0
        if not shared and old is CLOSED and new is OPEN:
            self.opened = reason
            self._hub.touch(self, now=True)
        elif new is CLOSED:
            # Closed again by its own trial (as while Redis is away): a trip not yet
            # sent is stale now and must not open the fleet when it is sent.
            self.opened = ""

    # ------------------------------------------- called by the breaker, without its lock

    def admit(self) -> int:
        """Admit a call to an OPEN or HALF_OPEN breaker, as the fleet decides."""
        hub, breaker = self._hub, self.breaker
        down = hub.down
        if down is not None:
            mode = hub.config.on_error
            if mode == "closed":
                return breaker.admit_unrecorded()
            if mode == "open":
                retry = hub.config.retry_interval
                error = CircuitOpenError(breaker.name, OPEN, retry, unreachable(down))
                raise breaker.reject(error)
            return breaker.admit_locally()
        now = breaker.clock.monotonic()
        state = breaker.state
        if state is not OPEN and state is not HALF_OPEN:
            return breaker.admit_locally()  # it changed meanwhile
        until = breaker.open_until
        waiting = until is not None and now < until
        # One request per process at a time; the others are refused, as a local
        # half-open breaker refuses calls beyond its permits.
        if waiting or now < self._denied_until or not self._asking.acquire(blocking=False):
            raise breaker.reject()
        try:
            reply = hub.request_permit(self)
        except REDIS_ERRORS as exc:
            hub.degrade(exc)
            return self.admit()  # now by on_error
        finally:
            self._asking.release()
        self.apply(reply[:5], fresh=True)
        if reply[5]:
            gen = text(reply[1])
            token = breaker.claim_trial()
            if token is not None:
                self._trial_gen = gen
                return token
            # Granted too late: the breaker moved on. The fleet gets the permit back.
            breaker.read_shared(lambda _state, _streak: self._queue((gen, "release", "")))
        if breaker.state is CLOSED:
            return breaker.admit_locally()
        self._denied_until = now + hub.config.flush_interval
        raise breaker.reject()

    # --------------------------------------------- called by the store's threads

    def take(self) -> tuple[list[Trial], Counts | None]:
        """What to send: trial outcomes, and the counts or None.

        A link with nothing more to send leaves the flusher's list.
        """
        return self.breaker.read_shared(self._take)

    def unsent(self, why: str) -> None:
        """A trip whose flush failed: sent again, unless the breaker closed meanwhile."""
        self.breaker.read_shared(lambda state, _streak: self._resend(state, why))

    def apply(self, reply: list[Any], *, fresh: bool = False, resync: bool = False) -> None:
        """Take on the fleet's state if it is newer than the last one taken on.

        ``fresh``: a read of the current state, taken on unless it is older. ``resync``:
        the read after a reconnection, which is fresh, and is taken on even when older if
        it is generation 0: a server restarted empty, whose breakers never moved.
        """
        state = STATES[text(reply[0])]
        gen = int(text(reply[1]))
        restarted = resync and gen == 0
        if (gen < self.shared_gen and not restarted) or (
            gen == self.shared_gen and not (fresh or resync)
        ):
            return
        if state is CLOSED and self.opened:
            return  # this process tripped since: the fleet opens once the flusher says so
        self.shared_gen = gen
        if resync:
            self._run_sent = -1  # the server may have lost it: send it again
            self._hub.touch(self)
        period = int(reply[3]) / 1000 or self.breaker.config.open_for
        self.breaker.apply_shared(
            state, remaining=int(reply[2]) / 1000, period=period, reason=text(reply[4])
        )

    # ------------------------------------------------- under the breaker's lock

    def _queue(self, trial: Trial) -> None:
        self.trials.append(trial)
        self._hub.touch(self)

    def _resend(self, state: CircuitState, why: str) -> None:
        if state is not CLOSED and not self.opened:
            self.opened = why
            self._hub.touch(self)

    def _take(self, state: CircuitState, streak: int) -> tuple[list[Trial], Counts | None]:
        trials, self.trials = self.trials, []
        closed = state is CLOSED
        run = streak if closed else 0
        if not closed:  # a manual state's outcomes are this process's own
            self.calls = self.failures = self.slow = 0
        counts = None
        if self.opened or (closed and (self.calls or run != self._run_sent)):
            counts = (run, self.calls, self.failures, self.slow, self.opened)
            self.calls = self.failures = self.slow = 0
            self.opened = ""
            self._run_sent = run
        if not run and not self.calls:
            self._hub.active.discard(self)  # under the lock outcome() adds under
        return trials, counts


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
        ms(config.open_for),
    )


def check_finite(breaker: SharedBreaker) -> None:
    """Refuse a breaker whose periods the fleet cannot carry as milliseconds."""
    config = breaker.config
    for name in ("open_for", "open_for_max", "half_open_timeout"):
        value = getattr(config, name)
        if value is not None and not math.isfinite(value):
            raise ValueError(
                f"RedisBreakerStore cannot share breaker {breaker.name!r}: its {name} is "
                f"{value!r}, and the fleet's state carries periods as milliseconds. Give "
                f"{name} a finite number of seconds (a very long one if need be), or "
                "leave this breaker out of the store's registry"
            )


def unreachable(exc: BaseException | None) -> str:
    """The reason of a call rejected because the fleet is unreachable."""
    return f"shared breaker state unreachable ({describe(exc)}); on_error='open' rejects calls"
