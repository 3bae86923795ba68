"""The breaker's state machine: admission, outcomes and transitions, under one short lock.

Every call is admitted with a *generation* token: the number of state changes so far. An
outcome is applied only if no state change happened while its call ran, so a late answer
from before a transition can never close, re-open or leak a permit of the state after it.
No lock is held while the wrapped call runs. :class:`~resilience.CircuitBreaker` is this
machine with its public surface and the forms of a strategy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, TypeAlias

from resilience._breaker.config import BreakerConfig
from resilience._breaker.errors import CircuitOpenError
from resilience._breaker.events import (
    CLOSED,
    DISABLED,
    FAILURE,
    FORCED_OPEN,
    HALF_OPEN,
    IGNORED,
    METRICS_ONLY,
    OPEN,
    SUCCESS,
    CallRecorded,
    CallRejected,
    CircuitState,
    Listener,
    Outcome,
    StateChanged,
)
from resilience._breaker.events import BreakerEvent as Event
from resilience._classify.classifier import Classifier, PartialFailure
from resilience._classify.verdict import PARTIAL, PERMANENT, RETRYABLE
from resilience._core.clock import Clock
from resilience._core.drive import Segment
from resilience._core.events import emit
from resilience._core.log import log_event
from resilience._core.misuse import MisusedCallError
from resilience._core.text import safe_repr
from resilience._core.window import CountWindow, TimeWindow, Window

if TYPE_CHECKING:
    from resilience._breaker.store import BreakerLink

__all__ = ["SKIP", "BreakerMachine", "Permit"]

SKIP: Final = -1  # the token of a call admitted by a DISABLED breaker: record nothing

Permit: TypeAlias = "int | tuple[int, float]"
"""What admits a call: its generation, with its start time when the breaker times calls."""

# Breakers with `with` blocks open somewhere, and how many: their fast lanes are closed.
BLOCKS: dict[BreakerMachine, int] = {}


def _last(exc: BaseException | None) -> str:
    """The last failure, for a reason: its repr, which may raise or run to megabytes."""
    return f"; last: {safe_repr(exc)}" if exc is not None else ""


class BreakerMachine:
    """The state of one breaker and every transition of it; see the module's docstring."""

    __slots__ = (
        "__weakref__",
        "_classifier",
        "_clock",
        "_config",
        "_half_open_since",
        "_link",
        "_listeners",
        "_lock",
        "_name",
        "_on_closed",
        "_open_period",
        "_opened_at",
        "_permits",
        "_reason",
        "_rejected",
        "_segment",
        "_state",
        "_timed",
        "_trial_successes",
        "_window",
        "epoch",
        "fast_epoch",
        "streak",
    )

    def __init__(
        self,
        name: str,
        config: BreakerConfig,
        clock: Clock,
        listeners: tuple[Listener, ...],
        classifier: Classifier,
    ) -> None:
        self._name = name
        self._config = config
        self._clock = clock
        self._listeners = listeners
        self._classifier = classifier
        self._lock = threading.Lock()
        self._window: Window | None = None
        if config.uses_window:
            self._window = (
                TimeWindow(config.window_seconds)
                if config.window_seconds is not None
                else CountWindow(config.window_size)
            )
        # The clock is read per call only when something needs it.
        self._timed = (
            config.slow_call_duration is not None
            or config.window_seconds is not None
            or bool(self._listeners)
        )
        self._segment: Segment | None = None  # itself as a one-strategy pipeline
        self._state = CLOSED
        self.epoch = 0
        self.fast_epoch: int | None = None
        self._reason: str | None = None
        self.streak = 0
        self._rejected = 0
        self._permits = 0
        self._trial_successes = 0
        self._opened_at: float | None = None
        self._half_open_since = 0.0
        self._open_period = config.open_for
        self._link: BreakerLink | None = None  # set by a shared BreakerStore
        # Told this breaker's name when it closes; set by a registry that keeps it aside.
        self._on_closed: Callable[[str], object] | None = None
        self._refresh_fast()

    # ------------------------------------------------------------------- the engine

    def _admit(self) -> int:
        """Admit a call and return its generation token, or raise CircuitOpenError."""
        # Read the generation before the state: if a transition slips in between, the
        # token is stale and the outcome is dropped, never applied to the wrong state.
        gen = self.epoch
        state = self._state
        if state is CLOSED or state is METRICS_ONLY:
            return gen
        if state is DISABLED:
            return SKIP
        link = self._link
        if link is not None and (state is OPEN or state is HALF_OPEN):
            return link.admit()  # the fleet decides who may try the remote
        return self._admit_local()

    def _admit_local(self) -> int:
        """Admit by this breaker's own state; the rest of :meth:`_admit`."""
        events: list[Event] = []
        error: CircuitOpenError | None = None
        with self._lock:
            now = self._clock.monotonic()
            state = self._state
            if state is HALF_OPEN and self._half_open_expired(now):
                events.append(self._expire())
                state = OPEN
            # Also right after an expiry noticed late: its open period may be over too.
            if state is OPEN and now >= self._opened_at + self._open_period:  # type: ignore[operator]
                reason = "open period elapsed; letting a trial call through"
                events.append(self._to(HALF_OPEN, reason))
                state = HALF_OPEN
            if state is HALF_OPEN and self._permits < self._config.half_open_max_calls:
                self._permits += 1
                token = self.epoch
            elif state is CLOSED or state is METRICS_ONLY:
                token = self.epoch
            elif state is DISABLED:
                token = SKIP
            else:
                error = self._reject(now, state, events)
                token = SKIP
        for event in events:
            self._announce(event)
        if error is not None:
            raise error
        return token

    def _reject(self, now: float, state: CircuitState, events: list[Event]) -> CircuitOpenError:
        """Count a rejection and build its error. Called under the lock."""
        self._rejected += 1
        retry_after = self._retry_after(now, rejected=True)
        error = CircuitOpenError(self._name, state, retry_after, self._reason or "")
        if self._listeners:
            events.append(CallRejected(self._name, state, error.retry_after, now))
        return error

    def _record_error(self, token: int, start: float, exc: BaseException) -> None:
        self._record(token, start, self._outcome(exc), exc)

    def _outcome(self, exc: BaseException) -> Outcome:
        """How a failed call counts, by its classification."""
        if not isinstance(exc, Exception) or isinstance(exc, MisusedCallError):
            return IGNORED  # a cancellation, or a misuse, says nothing about the remote
        classify = self._classifier.classify
        kind = classify(exc).kind
        if kind is PARTIAL and isinstance(exc, PartialFailure):
            # Partly done: the remote is failing if any of the failed items may recover.
            if any(classify(e).kind is RETRYABLE for e in exc.failed.values()):
                return FAILURE
            kind = PERMANENT
        if kind is RETRYABLE or self._config.count_permanent:
            return FAILURE
        return IGNORED

    def _record(
        self, token: int, start: float, outcome: Outcome, exc: BaseException | None
    ) -> None:
        """Apply one finished call's outcome, unless the state changed while it ran."""
        if outcome is SUCCESS and token == self.fast_epoch:
            # What the fast lane does for a success: a CLOSED breaker that keeps no window
            # and reads no time has only its run of failures to end, and needs no lock.
            self.streak = 0
            return
        if token == SKIP:
            return
        now = self._clock.monotonic() if self._timed else 0.0
        duration = now - start
        slow_after = self._config.slow_call_duration
        slow = slow_after is not None and duration > slow_after
        event: StateChanged | None = None
        lock = self._lock
        lock.acquire()  # not `with`: half the cost on CPython 3.11, on every call recorded
        try:
            state = self._state
            if token != self.epoch or (outcome is IGNORED and state is not HALF_OPEN):
                pass  # stale (the state changed while the call ran), or nothing to count
            elif state is HALF_OPEN and self._half_open_expired(
                now if self._timed else self._clock.monotonic()
            ):
                # Too late: the circuit has been OPEN since the half-open period ended,
                # so this answer decides nothing; it only gives the fleet its permit back.
                if self._link is not None:
                    self._link.trial(IGNORED, False, None)  # noqa: FBT003 - the protocol's
                event = self._expire()
            elif state is HALF_OPEN:
                event = self._trial(outcome, slow, duration, exc)
            else:  # CLOSED or METRICS_ONLY
                failed = outcome is FAILURE
                # An ignored outcome leaves the consecutive count alone (handled above).
                self.streak = self.streak + 1 if failed else 0
                window = self._window
                if window is not None:
                    window.record(now, failed, slow)
                if self._link is not None:
                    self._link.outcome(failed, slow)
                # A fast success cannot raise a rate that was judged below its threshold
                # after the previous call, unless it just brought the window up to
                # minimum_calls or old outcomes aged out since: only then, or after a
                # failure or a slow call, judge.
                if state is CLOSED and (
                    failed
                    or slow
                    or (
                        window is not None
                        and (window.ages or window.calls <= self._config.minimum_calls)
                    )
                ):
                    why = self._judge(exc if failed else None)
                    if why is not None:
                        event = self._to(OPEN, why)
        finally:
            lock.release()
        if self._listeners:
            emit(self._listeners, CallRecorded(self._name, outcome, duration, exc, now))
        if event is not None:
            self._announce(event)

    def _trial(
        self, outcome: Outcome, slow: bool, duration: float, exc: BaseException | None
    ) -> StateChanged | None:
        """A half-open trial's outcome, in time: the transition it makes. Under the lock."""
        self._permits -= 1
        if self._link is not None:
            self._link.trial(outcome, slow, exc)
        # A trial counts in the run of failures as any call does.
        if outcome is FAILURE:
            self.streak += 1
            return self._to(OPEN, f"trial call failed: {safe_repr(exc)}")
        if outcome is not SUCCESS:
            return None
        self.streak = 0
        if slow:
            reason = (
                f"trial call was slow ({duration:.3g} s > {self._config.slow_call_duration:g} s)"
            )
            return self._to(OPEN, reason)
        self._trial_successes += 1
        if self._trial_successes >= self._config.success_threshold:
            return self._to(CLOSED, f"{self._trial_successes} trial calls succeeded")
        return None

    def _judge(self, exc: BaseException | None) -> str | None:
        """Why the CLOSED circuit must open now, or None. Called under the lock."""
        config = self._config
        threshold = config.failure_threshold
        if threshold is not None and self.streak >= threshold:
            return f"{self.streak} consecutive failures{_last(exc)}"
        window = self._window
        if window is None or window.calls < config.minimum_calls:
            return None
        calls = window.calls
        if config.failure_rate is not None and window.failures >= config.failure_rate * calls:
            return (
                f"failure rate {window.failures / calls:.0%} over {window.describe()} "
                f"reached failure_rate={config.failure_rate:g}{_last(exc)}"
            )
        if config.slow_call_rate is not None and window.slow >= config.slow_call_rate * calls:
            return (
                f"slow call rate {window.slow / calls:.0%} over {window.describe()} "
                f"reached slow_call_rate={config.slow_call_rate:g} "
                f"(slower than {config.slow_call_duration:g} s)"
            )
        return None

    def _to(
        self, new: CircuitState, reason: str, *, shared: bool = False, at: float | None = None
    ) -> StateChanged:
        """Move to ``new``. Called under the lock; the caller emits the event after it.

        ``shared``: the fleet decided it (see :meth:`apply_shared`), so it is not
        reported back to the store. ``at``: when it happened, if before now.
        """
        now = self._clock.monotonic() if at is None else at
        old = self._state
        self.fast_epoch = None
        self.epoch += 1
        self._state = new
        self._permits = 0
        self._trial_successes = 0
        if new is OPEN:
            if old is HALF_OPEN:
                self._open_period = self._reopen_period()
            self._opened_at = now
            self._reason = reason
        elif new is HALF_OPEN:
            self._half_open_since = now
        else:
            self._reason = None if new is CLOSED else reason
            self._opened_at = None
            self._open_period = self._config.open_for
            self.streak = 0
            if self._window is not None:
                self._window.clear()
        self._refresh_fast()
        if self._link is not None:
            self._link.moved(old, new, reason, shared=shared)
        if new is CLOSED and self._on_closed is not None:
            self._on_closed(self._name)
        return StateChanged(self._name, old, new, reason, now)

    def _manual(self, new: CircuitState, reason: str) -> None:
        with self._lock:
            moved = self._state is not new
            if not moved and new is not CLOSED:
                return  # already there: nothing to change, nothing to report
            # reset() of a CLOSED breaker still forgets every count (and the calls in
            # flight), but it is no transition.
            event = self._to(new, reason)
            if new is CLOSED:
                self._rejected = 0
        if moved:
            self._announce(event)

    def _announce(self, event: Event) -> None:
        """Log a transition, and deliver an event to the listeners. Outside the lock."""
        if isinstance(event, StateChanged):
            log_event(event)
        if self._listeners:
            emit(self._listeners, event)

    def _refresh_fast(self) -> None:
        # The fast path needs nothing recorded on success but the consecutive reset.
        lean = self._state is CLOSED and self._window is None and not self._timed
        self.fast_epoch = self.epoch if lean and self not in BLOCKS else None

    def _retry_after(self, now: float, *, rejected: bool = False) -> float | None:
        """Seconds until a call is admitted, for a call ``rejected`` just now or the next one.

        Never too short: a caller that waits this long is not rejected again for the
        same reason.
        """
        state = self._state
        if state is OPEN:
            return max(0.0, self._opened_at + self._open_period - now)  # type: ignore[operator]
        if state is HALF_OPEN:
            timeout = self._config.half_open_timeout
            expired = timeout is not None and now - self._half_open_since >= timeout
            if not (rejected or expired) and self._permits < self._config.half_open_max_calls:
                return 0.0  # the next call is a trial
            if timeout is None:
                return None  # no trial comes until one in flight finishes
            # Should the trials in flight never answer, the circuit re-opens when the
            # half-open period ends, and the next trial comes after that open period.
            return max(0.0, self._half_open_since + timeout + self._reopen_period() - now)
        if state is FORCED_OPEN:
            return None
        return 0.0

    def _reopen_period(self) -> float:
        """The open period that follows this HALF_OPEN one if it fails."""
        cap = self._config.open_for_max
        return self._open_period if cap is None else min(self._open_period * 2, cap)

    def _half_open_expired(self, now: float) -> bool:
        """Whether the half-open period has ended by ``now``. Called under the lock."""
        timeout = self._config.half_open_timeout
        return timeout is not None and now - self._half_open_since >= timeout

    def _expire(self) -> StateChanged:
        """Re-open an expired HALF_OPEN circuit, as of the moment it expired."""
        timeout = self._config.half_open_timeout
        assert timeout is not None  # noqa: S101 - only called once it expired
        reason = f"no trial call finished within half_open_timeout={timeout:g} s"
        return self._to(OPEN, reason, at=self._half_open_since + timeout)
