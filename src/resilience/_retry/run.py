"""One retried operation: what it has tried, and what it does after each failure.

A :class:`Run` is the retry strategy's token: made before the first attempt (or, for a
plain policy, once it failed); :func:`next_delay` says after each failure how long to
wait before the next attempt, or that it is over. Nothing here waits: the drivers do.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, TypeAlias, cast

import tenacity

from resilience._classify.classifier import Classification, Classifier, PartialFailure
from resilience._classify.verdict import PARTIAL, RETRYABLE
from resilience._core.clock import Clock
from resilience._core.errors import RejectedError
from resilience._core.events import emit
from resilience._core.log import log_event, logger
from resilience._core.misuse import MisusedCallError
from resilience._core.strategy import Replace
from resilience._core.text import safe_repr
from resilience._retry.backoff import SCHEDULE, Backoff, jittered
from resilience._retry.budget import RetryBudget
from resilience._retry.events import RetryScheduled
from resilience._retry.testing import TESTING

__all__ = ["Retrying", "Run", "Settings", "new_run", "partial_give_up", "partial_items"]

_INFO: Final = logging.INFO


@dataclass(frozen=True, slots=True)
class Settings:
    """A retry policy's decisions, as its runs read them (validated by the policy)."""

    attempts: int | None
    backoff: Backoff
    bases: tuple[float, ...]
    jitter: str
    deadline: float | None
    classifier: Classifier
    budget: RetryBudget | None
    respect_retry_after: bool
    max_retry_after: float
    wait_for_open_circuit: float | None
    stop: tenacity.stop.stop_base | None
    wait: tenacity.wait.wait_base | None
    clock: Clock
    on_retry: Callable[[RetryScheduled], object] | None
    plain_types: Mapping[type[BaseException], Classification] | None = field(init=False)
    """The classifier's verdicts by exact type (see :meth:`Classifier.plain_types`)."""
    hot: tuple[Any, ...] = field(init=False)
    """What every failure reads, bound once (see :func:`next_delay`)."""
    timeless: bool = field(init=False)
    """No decision reads the time since the first attempt began."""
    plain: bool = field(init=False)
    """A first attempt needs nothing before it: no budget, no start time."""
    usual: tuple[Any, ...] = field(init=False)
    """What :meth:`after_plain` reads: the verdicts it decides alone, and what else."""

    def __post_init__(self) -> None:
        # Read on every failure: plain fields, not properties.
        timeless = self.deadline is None and self.stop is None and self.wait is None
        object.__setattr__(self, "timeless", timeless)
        object.__setattr__(self, "plain", timeless and self.budget is None)
        object.__setattr__(self, "plain_types", self.classifier.plain_types())
        hot = (
            self.attempts,
            self.bases,
            self.jitter,
            timeless,
            self.clock.monotonic,
            self.budget,
            self.on_retry,
            logger.isEnabledFor,
        )
        object.__setattr__(self, "hot", hot)
        # A plain policy's usual failure: a plain builtin the classifier retries with no
        # Retry-After to read, and nothing asked to hear of it.
        quick = {
            kind: verdict
            for kind, verdict in (self.plain_types or {}).items()
            if verdict.kind is RETRYABLE and verdict.retry_after is None
        }
        # Before the last attempt, and within the waits computed ahead.
        limit = min(self.attempts or sys.maxsize, SCHEDULE + 1)
        usual = (
            quick if self.plain and self.on_retry is None else {},
            limit,
            self.bases,
            None if self.jitter == "none" else self.jitter,
            logger.isEnabledFor,
        )
        object.__setattr__(self, "usual", usual)

    def after_plain(self, run: Run, value: object, exc: BaseException | None) -> float | None:
        """:meth:`after` for a plain policy: its usual failure in a few steps.

        The same decision as :meth:`after` (a test holds the two together), for a plain
        builtin failure retried with no Retry-After, in no testing mode, before its last
        attempt, with no hook and no log line wanted; anything else goes to :meth:`after`.
        """
        quick, limit, bases, jitter, wanted = self.usual
        kind = exc.__class__
        verdict = quick.get(kind)
        if verdict is not None and not TESTING.on and not exc.__dict__:
            attempt = len(run) - _TRIED
            if attempt < limit and not wanted(_INFO):
                delay: float = bases[attempt - 1]
                if jitter is not None:
                    delay = jittered(delay, jitter)
                # A verdict was found, so exc is an exception.
                run.append((attempt, kind, exc.args, verdict, delay))  # type: ignore[union-attr]
                return delay
        return self.after(run, value, exc)

    def after(  # noqa: PLR0915 - one decision, in order; split, it would cost a frame
        self,
        run: Run,
        value: object,
        exc: BaseException | None,
        judged: Classification | None = None,
    ) -> float | None:
        """After an attempt: seconds to wait before the next, or None (a success, a give-up).

        The retry strategy's ``after`` (a method here, bound once: one frame on the failure
        path). On give-up the exception gets a note of every attempt; the caller re-raises it.
        ``judged`` is the verdict on an unwanted result (:mod:`resilience._retry.results`),
        which ``exc`` carries: the same caps, backoff, Retry-After, testing mode, deadline,
        stop and budget then, with no classification.
        """
        if not isinstance(exc, Exception):
            return None  # a success, or a cancellation: never retried
        attempt = len(run) - _AT_TRIES + 1
        if judged is None:
            plain = self.plain_types
            verdict = plain.get(exc.__class__) if plain is not None else None
            if verdict is not None and not exc.__dict__:
                special = verdict.kind is not RETRYABLE  # a plain builtin: nothing else to ask
            else:
                verdict = self.classifier.classify(exc)
                special = (
                    verdict.kind is not RETRYABLE
                    # A refusal is RETRYABLE when it says when: waited for only on request.
                    or (verdict.retry_after is not None and isinstance(exc, RejectedError))
                    or exc.__class__ is MisusedCallError
                )
            if special:
                reason = _exception(self, run, exc, verdict)
                if isinstance(reason, str):
                    _give_up(self, run, exc, attempt, reason, None)
                    return None
                verdict = reason
        else:
            verdict = judged
        # What every failure reads, in one tuple: a local each, not an attribute each.
        attempts, bases, jitter, timeless, now_of, budget, on_retry, enabled = self.hot
        testing = TESTING.on
        cap = TESTING.attempts if testing else None
        if cap is not None:
            attempts = min(attempts or cap, cap)
        if attempts is not None and attempt >= attempts:
            why = f"{attempt} attempts made (attempts={attempts})"
            _give_up(self, run, exc, attempt, why, verdict)
            return None
        # A policy whose decisions read no time reads the clock only for an event: its
        # note lists the waits instead of the time since the first attempt.
        start = run[_AT_START]
        now = 0.0 if timeless else now_of()
        state = run[_AT_STATE]
        if state is not None:
            future = tenacity.Future(attempt)
            future.set_exception(exc)
            state.attempt_number, state.outcome, state.outcome_timestamp = attempt, future, now
        if self.wait is not None and state is not None:
            delay = float(self.wait(state))
        else:
            base = bases[attempt - 1] if attempt <= SCHEDULE else self.backoff.base(attempt)
            delay = base if jitter == "none" else jittered(base, jitter)
        hint = verdict.retry_after
        if hint is not None:
            if isinstance(exc, RejectedError):
                delay = max(delay, hint)  # bounded by wait_for_open_circuit
            elif self.respect_retry_after:
                delay = max(delay, min(hint, self.max_retry_after))
        if testing and TESTING.enabled:
            # Before the stop and the deadline judge it: a zeroed wait crosses neither.
            delay = 0.0
        if not timeless:
            stopped = _stopped(self, run, delay, now, cast("float", start))
            if stopped is not None:
                _give_up(self, run, exc, attempt, stopped, verdict)
                return None
        if budget is not None and not budget.try_retry():
            _give_up(self, run, exc, attempt, f"retry budget spent ({budget!r})", verdict)
            return None
        run.append((attempt, exc.__class__, exc.args, verdict, delay))
        if state is not None:
            state.idle_for += delay
        if on_retry is not None or enabled(_INFO):
            if timeless:
                now = now_of()
                if start is None:  # counted from the first event, at the first failure
                    run[_AT_START] = start = now
            elapsed = now - cast("float", start)
            event = RetryScheduled(attempt, exc, verdict, delay, elapsed)
            log_event(event)
            if on_retry is not None:
                # A hook that raises is logged once and never replaces the caller's error.
                emit((on_retry,), event)
        return delay


class _TenacityState(tenacity.RetryCallState):
    """The subset of tenacity's call state its stop and wait strategies read, on our clock."""

    def __init__(
        self,
        start: float,
        fn: Callable[..., object] | None,
        args: tuple[object, ...],
        kwargs: dict[str, object],
    ) -> None:  # no super().__init__: it reads the real clock
        self.start_time = start
        self.retry_object = cast("tenacity.BaseRetrying", None)
        self.fn = cast("Any", fn)
        self.args = args
        self.kwargs = kwargs
        self.attempt_number = 1
        self.outcome = None
        self.outcome_timestamp = None
        self.idle_for = 0.0
        self.next_action = None
        self.upcoming_sleep = 0.0


# A try, kept for the give-up note: number, error type, error args, verdict, wait. The
# error is kept as its type and args, not the exception itself, whose traceback would
# tie this record, the frame and the exception into a cycle. Formatted only on give-up:
# a retry that succeeds pays nothing for the note it did not need.
_Try = tuple[int, type[BaseException], tuple[object, ...], Classification | None, float | None]


# A run of one operation is a plain list, the cheapest object Python makes (one is made
# on every first failure): [start, tenacity state, partial state, *tries].
Run: TypeAlias = list[Any]
_AT_START: Final = 0
"""The clock before the first attempt; for a policy whose decisions read no time, None
until the first failure (``elapsed`` in events and notes counts from there)."""
_AT_STATE: Final = 1
_AT_PARTIAL: Final = 2
_AT_TRIES: Final = 3  # the tries so far, oldest first, from here on
_TRIED: Final = _AT_TRIES - 1  # len(run) - _TRIED: the number of the attempt that just failed


def new_run(
    settings: Settings,
    start: float | None,
    fn: Callable[..., object] | None = None,
    args: tuple[object, ...] = (),
    kwargs: dict[str, object] | None = None,
) -> Run:
    """A run of an operation that began at ``start`` (None: at its first failure)."""
    if settings.stop is None and settings.wait is None:
        return [start, None, None]
    begun = start if start is not None else settings.clock.monotonic()
    return [start, _TenacityState(begun, fn, args, {} if kwargs is None else kwargs), None]


def _exception(
    s: Settings, run: Run, exc: Exception, verdict: Classification
) -> Classification | str:
    """For a failure that is not plainly retryable: its verdict after all, or why not."""
    if isinstance(exc, RejectedError):
        return _rejected(s, exc)
    if isinstance(exc, MisusedCallError):
        return "not retryable: a sync call() got an async function"
    if verdict.kind is PARTIAL and run[_AT_PARTIAL] is not None:
        return verdict  # an opted-in partial call: its retryable items were kept
    return f"not retryable: {_describe(verdict)}"


def _rejected(s: Settings, exc: RejectedError) -> Classification | str:
    # A refusal (an open circuit) is waited for only on request: by default it goes to
    # the fallback or the caller at once, not after sleeping out the open period.
    retry_after = exc.retry_after
    bound = s.wait_for_open_circuit
    if retry_after is None:
        return f"{exc.subject} with no {exc.noun} coming"
    if bound is None:
        return (
            f"{exc.subject} (a {exc.noun} in {retry_after:.1f} s); a rejection is not "
            "waited for unless wait_for_open_circuit= allows it"
        )
    if retry_after > bound:
        return (
            f"{exc.subject} and allows a {exc.noun} in {retry_after:.1f} s, later than "
            f"wait_for_open_circuit={bound:g} s"
        )
    return Classification(RETRYABLE, exc.subject, retry_after)


def _stopped(s: Settings, run: Run, delay: float, now: float, start: float) -> str | None:
    """Why a tenacity stop or the deadline ends the retrying before this wait, or None."""
    state = run[_AT_STATE]
    if state is not None:
        state.upcoming_sleep = delay
        if s.stop is not None and s.stop(state):
            return f"the stop condition {s.stop!r} was met"
    deadline = s.deadline
    if deadline is not None and now + delay - start > deadline:
        return (
            f"waiting {delay:.3g} s more would pass the deadline of {deadline:g} s "
            f"({now - start:.3g} s elapsed)"
        )
    return None


def _give_up(  # noqa: PLR0917 - the failure path's own helper
    s: Settings,
    run: Run,
    exc: Exception,
    attempt: int,
    why: str,
    verdict: Classification | None,
) -> None:
    if attempt == 1 and why.startswith("not retryable"):
        return  # a plain failure: nothing was retried and nothing needs saying
    run.append((attempt, exc.__class__, exc.args, verdict, None))
    plural = "s" if attempt != 1 else ""
    head = f"resilience: gave up after {attempt} attempt{plural}"
    start = run[_AT_START]
    if start is not None:
        head += f" in {s.clock.monotonic() - start:.3g} s"
    lines = [f"{head}: {why}"]
    lines.extend(_line(tried) for tried in run[_AT_TRIES:])
    exc.add_note("\n".join(lines))


# --- partial failures: retry only the failed, retryable items


def partial_items(
    s: Settings, run: Run, exc: PartialFailure, classifier: Classifier | None = None
) -> list[object]:
    """Record a PartialFailure; the items worth another attempt."""
    if run[_AT_PARTIAL] is None:
        run[_AT_PARTIAL] = ([], {})
    succeeded, failed = run[_AT_PARTIAL]
    succeeded.extend(exc.succeeded)
    classify = (classifier or s.classifier).classify
    retry: list[object] = []
    for key, error in exc.failed.items():
        failed[key] = error
        if isinstance(error, Exception) and classify(error).kind is RETRYABLE:
            retry.append(key)
    return retry


def partial_give_up(run: Run, exc: PartialFailure) -> PartialFailure:
    """The PartialFailure to raise at the end: every success, every last failure."""
    partial = run[_AT_PARTIAL]
    succeeded, failed = partial if partial is not None else ([], dict(exc.failed))
    final = PartialFailure(succeeded=list(succeeded), failed=dict(failed))
    for note in getattr(exc, "__notes__", ()):
        final.add_note(note)
    return final


def _describe(verdict: Classification) -> str:
    return f"{verdict.kind.name}: {verdict.reason}" if verdict.reason else verdict.kind.name


def _line(tried: _Try) -> str:
    number, error, args, verdict, waited = tried
    # The arguments are the caller's: a repr that raises must not replace their error.
    shown = f"{error.__name__}({', '.join(map(safe_repr, args))})"
    reason = f" [{_describe(verdict)}]" if verdict is not None else ""
    wait = f", then waited {waited:.3g} s" if waited is not None else ""
    return f"  attempt {number}: {shown}{reason}{wait}"


class Retrying(Protocol):
    """What a loop of its own needs from a retry policy: its strategy's two steps."""

    @property
    def before(
        self,
    ) -> Callable[[Callable[..., object] | None, tuple[Any, ...], dict[str, Any]], Run]:
        """Begin an operation: its run."""
        ...

    @property
    def after(self) -> Callable[[Run, object, BaseException | None], float | Replace | None]:
        """After an attempt: the wait before the next, None, or a give-up on a result."""
        ...

    @property
    def settings(self) -> Settings:
        """The policy's decisions."""
        ...

    @property
    def clock(self) -> Clock:
        """The clock its waits are slept on."""
        ...
