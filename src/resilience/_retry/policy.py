"""Retry policies: a plain first attempt, then tenacity's strategies, deadlines and budgets.

The first attempt is an ordinary call: nothing is built and nothing read unless it
fails (a budget or a deadline costs one counter or one clock read). After a failure a
small ``_Run`` object decides each next step; its sync and async shells differ only in
``await``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from random import random
from types import TracebackType
from typing import Any, Literal, NoReturn, ParamSpec, Self, TypeVar, cast, overload

import tenacity
from pydantic import Field
from typing_extensions import deprecated

from resilience._breaker.errors import CircuitOpenError
from resilience._classify.classifier import Classification, Classifier, FailureKind, PartialFailure
from resilience._core.clock import SYSTEM_CLOCK, Clock
from resilience._core.events import RetryScheduled, emit
from resilience._core.log import log_event
from resilience._core.log import logger as _logger
from resilience._core.options import Options
from resilience._core.shells import (
    AWAITABLES,
    MisusedCallError,
    generators,
    is_async,
    is_generator,
    misused,
    require_callable,
    shells,
)
from resilience._core.text import safe_repr
from resilience._retry.budget import RetryBudget

__all__ = ["Attempt", "Backoff", "RetryPolicy", "set_testing"]

P = ParamSpec("P")
R = TypeVar("R")

_DEFAULT_ATTEMPTS = 3
# Enum members read through the class cost a lookup each; the failure path reads these.
_RETRYABLE = FailureKind.RETRYABLE
_PARTIAL = FailureKind.PARTIAL


class Backoff(Options):
    """Exponential backoff: ``initial * multiplier ** (retry - 1)``, capped at ``max``.

    With ``jitter="full"`` (the default) the wait is drawn uniformly from zero to that
    value, which spreads out clients that failed together; ``"equal"`` keeps at least
    half of it; ``"none"`` waits exactly that.
    """

    initial: float = Field(default=0.1, ge=0)
    """Seconds before the first retry (before jitter)."""
    multiplier: float = Field(default=2.0, ge=1)
    max: float = Field(default=10.0, ge=0)
    """The cap on any one wait, in seconds (before jitter)."""
    jitter: Literal["full", "equal", "none"] = "full"

    def base(self, retry: int) -> float:
        """The capped wait before retry number ``retry``, before jitter."""
        try:
            return min(self.max, self.initial * self.multiplier ** (retry - 1))
        except OverflowError:
            return self.max

    def delay(self, retry: int) -> float:
        """The wait before retry number ``retry`` (1 for the wait after the first attempt)."""
        return _jittered(self.base(retry), self.jitter)


def _jittered(base: float, jitter: str) -> float:
    if jitter == "full":
        return random() * base
    if jitter == "equal":
        return base / 2 + random() * base / 2
    return base


# Waits precomputed per policy, so that a retry reads a tuple instead of computing a
# power; later retries (only reachable with a tenacity stop) compute theirs.
_SCHEDULE = 32


class _RetryConfig(Options):
    attempts: int | None = Field(default=None, ge=1)
    deadline: float | None = Field(default=None, gt=0)
    max_retry_after: float = Field(default=60.0, ge=0)
    respect_retry_after: bool = True
    wait_for_open_circuit: float | None = Field(default=None, ge=0)


class _Testing:
    """The testing switch: zero every wait, optionally cap attempts."""

    __slots__ = ("attempts", "enabled")

    def __init__(self) -> None:
        self.enabled = False
        self.attempts: int | None = None


_TESTING = _Testing()


class _TestingMode:
    """What :func:`set_testing` returns: already applied; restores on ``__exit__``."""

    __slots__ = ("_previous",)

    def __init__(self, previous: tuple[bool, int | None]) -> None:
        self._previous = previous

    def __enter__(self) -> None:
        return None

    def __exit__(self, *_exc: object) -> None:
        _TESTING.enabled, _TESTING.attempts = self._previous


def set_testing(enabled: bool = True, *, attempts: int | None = None) -> _TestingMode:
    """Make every retry wait zero seconds (and, if given, cap ``attempts``) in tests.

    It applies at once, process-wide; used as a context manager it restores the previous
    setting on exit::

        with set_testing(attempts=2):
            ...
    """
    if attempts is not None and attempts < 1:
        raise ValueError(f"set_testing(attempts=...) must be at least 1, got {attempts}")
    previous = (_TESTING.enabled, _TESTING.attempts)
    _TESTING.enabled, _TESTING.attempts = enabled, attempts if enabled else None
    return _TestingMode(previous)


@dataclass(slots=True)
class _Try:
    # Formatted only on give-up: a retry that succeeds pays nothing for the note it did
    # not need. The error is kept as its type and args, not the exception itself, whose
    # traceback would tie this record, the frame and the exception into a cycle.
    number: int
    error: type[BaseException]
    args: tuple[object, ...]
    verdict: Classification | None
    waited: float | None = None

    def describe(self) -> str:
        # The arguments are the caller's: a repr that raises must not replace their error.
        error = f"{self.error.__name__}({', '.join(map(safe_repr, self.args))})"
        reason = f" [{_describe(self.verdict)}]" if self.verdict is not None else ""
        waited = f", then waited {self.waited:.3g} s" if self.waited is not None else ""
        return f"  attempt {self.number}: {error}{reason}{waited}"


@dataclass(slots=True)
class _Partial:
    """What a partial operation has done so far, over its attempts."""

    succeeded: list[object]
    failed: dict[object, BaseException]


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


class _Run:
    """One retried operation, from its first failure to its end."""

    __slots__ = (
        "attempt",
        "partial",
        "policy",
        "start",
        "state",
        "tries",
    )

    def __init__(
        self,
        policy: RetryPolicy,
        start: float | None,
        fn: Callable[..., object] | None = None,
        args: tuple[object, ...] = (),
        kwargs: dict[str, object] | None = None,
    ) -> None:
        # ``start`` is the clock reading before the first attempt (see RetryPolicy._begin);
        # None only for a plain policy, whose waits judge no elapsed time.
        self.policy = policy
        self.start = start if start is not None else policy._clock.monotonic()
        self.attempt = 0
        self.tries: list[_Try] = []
        self.state: _TenacityState | None = None
        if policy._stop is not None or policy._wait is not None:
            self.state = _TenacityState(self.start, fn, args, {} if kwargs is None else kwargs)
        self.partial: _Partial | None = None  # only for policy.partial

    def next_delay(self, exc: Exception, classifier: Classifier | None = None) -> float | None:
        """After a failed attempt: seconds to wait before the next, or None to give up.

        On give-up the exception gets a note of every attempt; the caller re-raises it.
        """
        policy = self.policy
        self.attempt += 1
        attempt = self.attempt
        verdict = self._classify(exc, classifier)
        if isinstance(verdict, str):
            self._give_up(exc, verdict, None)
            return None
        now = policy._clock.monotonic()
        delay, why_not = self._plan(exc, verdict, attempt, now)
        if why_not is not None:
            self._give_up(exc, why_not, verdict)
            return None
        budget = policy._budget
        if budget is not None and not budget.try_retry():
            self._give_up(exc, f"retry budget spent ({budget!r})", verdict)
            return None
        self.tries.append(_Try(attempt, type(exc), exc.args, verdict, delay))
        if self.state is not None:
            self.state.idle_for += delay
        if policy._on_retry is not None or _logger.isEnabledFor(logging.INFO):
            event = RetryScheduled(attempt, exc, verdict, delay, now - self.start)
            log_event(event)
            if policy._on_retry is not None:
                # A hook that raises is logged once and never replaces the caller's error.
                emit((policy._on_retry,), event)
        return delay

    def _classify(self, exc: Exception, classifier: Classifier | None) -> Classification | str:
        """The classification of a retryable failure, or why it is not retried."""
        if isinstance(exc, MisusedCallError):
            return "not retryable: a sync call() got an async function"
        if isinstance(exc, CircuitOpenError):
            # An open circuit is waited for only on request: by default the rejection goes
            # to the fallback or the caller at once, not after sleeping out the open period.
            retry_after = exc.retry_after
            bound = self.policy._wait_for_open_circuit
            if retry_after is None:
                return f"circuit {exc.name!r} is {exc.state.name} with no trial call coming"
            if bound is None:
                return (
                    f"circuit {exc.name!r} is {exc.state.name} (a trial call in "
                    f"{retry_after:.1f} s); an open circuit is not waited for unless "
                    "wait_for_open_circuit= allows it"
                )
            if retry_after > bound:
                return (
                    f"circuit {exc.name!r} allows a trial call in {retry_after:.1f} s, "
                    f"later than wait_for_open_circuit={bound:g} s"
                )
            return Classification(_RETRYABLE, f"circuit {exc.name!r} open", retry_after)
        verdict = (classifier or self.policy._classifier).classify(exc)
        if verdict.kind is _RETRYABLE:
            return verdict
        if verdict.kind is _PARTIAL and self.partial is not None:
            return verdict  # an opted-in partial call: its retryable items were kept
        return f"not retryable: {_describe(verdict)}"

    def _plan(
        self, exc: Exception, verdict: Classification, attempt: int, now: float
    ) -> tuple[float, str | None]:
        """The wait before the next attempt, or why there is none."""
        policy = self.policy
        state = self.state
        attempts = policy._attempts
        if _TESTING.attempts is not None:
            attempts = min(attempts or _TESTING.attempts, _TESTING.attempts)
        if attempts is not None and attempt >= attempts:
            return 0.0, f"{attempt} attempts made (attempts={attempts})"
        if state is not None:
            future = tenacity.Future(attempt)
            future.set_exception(exc)
            state.attempt_number, state.outcome, state.outcome_timestamp = attempt, future, now
        if policy._wait is not None and state is not None:
            delay = float(policy._wait(state))
        else:
            base = (
                policy._bases[attempt - 1]
                if attempt <= _SCHEDULE
                else policy._backoff.base(attempt)
            )
            delay = _jittered(base, policy._jitter)
        hint = verdict.retry_after
        if isinstance(exc, CircuitOpenError):
            delay = max(delay, cast("float", hint))  # bounded by wait_for_open_circuit
        elif hint is not None and policy._respect_retry_after:
            delay = max(delay, min(hint, policy._max_retry_after))
        if _TESTING.enabled:
            # Before the stop and the deadline judge it: a zeroed wait crosses neither.
            delay = 0.0
        if state is not None:
            state.upcoming_sleep = delay
            if policy._stop is not None and policy._stop(state):
                return 0.0, f"the stop condition {policy._stop!r} was met"
        deadline = policy._deadline
        if deadline is not None and now + delay - self.start > deadline:
            return 0.0, (
                f"waiting {delay:.3g} s more would pass the deadline of {deadline:g} s "
                f"({now - self.start:.3g} s elapsed)"
            )
        return delay, None

    def _give_up(self, exc: Exception, why: str, verdict: Classification | None) -> None:
        if self.attempt == 1 and why.startswith("not retryable"):
            return  # a plain failure: nothing was retried and nothing needs saying
        self.tries.append(_Try(self.attempt, type(exc), exc.args, verdict))
        elapsed = self.policy._clock.monotonic() - self.start
        plural = "s" if self.attempt != 1 else ""
        head = f"resilience: gave up after {self.attempt} attempt{plural} in {elapsed:.3g} s"
        lines = [f"{head}: {why}"]
        lines.extend(t.describe() for t in self.tries)
        exc.add_note("\n".join(lines))

    # --- partial failures: retry only the failed, retryable items

    def retry_partial(
        self, exc: PartialFailure, args: tuple[object, ...]
    ) -> tuple[float, tuple[object, ...]]:
        """After a PartialFailure: the wait, and the arguments with only the items to retry.

        Raises the final PartialFailure (every success, every last failure) when there is
        nothing left worth retrying.
        """
        items = self.partial_items(exc, None)
        delay = self.next_delay(exc) if items else None
        if delay is None:
            raise self.partial_give_up(exc) from None
        return delay, (items, *args[1:])

    def partial_items(self, exc: PartialFailure, classifier: Classifier | None) -> list[object]:
        """Record a PartialFailure; the items worth another attempt."""
        if self.partial is None:
            self.partial = _Partial([], {})
        partial = self.partial
        partial.succeeded.extend(exc.succeeded)
        classify = (classifier or self.policy._classifier).classify
        retry: list[object] = []
        for key, error in exc.failed.items():
            partial.failed[key] = error
            if isinstance(error, Exception) and classify(error).kind is _RETRYABLE:
                retry.append(key)
        return retry

    def partial_give_up(self, exc: PartialFailure) -> PartialFailure:
        """The PartialFailure to raise at the end: every success, every last failure."""
        partial = self.partial if self.partial is not None else _Partial([], dict(exc.failed))
        final = PartialFailure(succeeded=list(partial.succeeded), failed=dict(partial.failed))
        for note in getattr(exc, "__notes__", ()):
            final.add_note(note)
        return final


def _describe(verdict: Classification) -> str:
    return f"{verdict.kind.name}: {verdict.reason}" if verdict.reason else verdict.kind.name


class _Loop:
    """The shared state of one ``for attempt in policy`` loop."""

    __slots__ = ("delay", "policy", "run", "start")

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.start = policy._begin()
        self.run: _Run | None = None
        self.delay = 0.0


class Attempt:
    """One attempt of ``for attempt in policy: with attempt: ...``."""

    __slots__ = ("_failed", "_loop", "_number")

    def __init__(self, number: int, loop: _Loop) -> None:
        self._number = number
        self._loop = loop
        self._failed = False

    @property
    def number(self) -> int:
        """1 for the first attempt."""
        return self._number

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if not isinstance(exc, Exception):
            return False  # success, or a cancellation: never retried
        loop = self._loop
        if loop.run is None:
            loop.run = _Run(loop.policy, loop.start)
        delay = loop.run.next_delay(exc)
        if delay is None:
            return False  # give up: the exception propagates, with its note
        self._failed = True
        loop.delay = delay
        return True  # swallowed: the loop runs the next attempt


class RetryPolicy:
    """Retries a call that failed with a RETRYABLE error, with backoff, within bounds.

    Use it as a decorator (sync or async), through :meth:`call` / :meth:`acall`, or as
    ``for attempt in policy: with attempt: ...`` (``async for`` in coroutines).

    Args:
        attempts: Attempts in all, counting the first call. 3 by default; when ``stop``
            is given and ``attempts`` is not, ``stop`` alone decides.
        backoff: The waits between attempts; exponential with full jitter by default
            (0.1 s, 0.2 s, 0.4 s ... capped at 10 s, each drawn from zero to that).
        deadline: Seconds for the whole operation, attempts and waits together; a wait
            that would pass it ends the retrying at once.
        classifier: Decides what is RETRYABLE; :meth:`Classifier.default` by default.
        budget: A :class:`RetryBudget`, usually shared per remote; a retry it refuses
            is not made.
        respect_retry_after: Wait as long as a Retry-After header asks when that is
            longer than the computed wait.
        max_retry_after: The most any Retry-After may make us wait.
        wait_for_open_circuit: Seconds we may wait for an open circuit's next trial
            call. None (the default): a :class:`CircuitOpenError` is never retried and
            reaches the fallback or the caller at once. With a number, a rejection whose
            ``retry_after`` is at most that is waited out and the call tried again.
        stop: A tenacity stop strategy (``stop_after_delay(30) | stop_after_attempt(5)``).
        wait: A tenacity wait strategy, replacing ``backoff``.
        clock: Time source for waits and the deadline.
        on_retry: Called with a :class:`RetryScheduled` before each wait.
    """

    __slots__ = (
        "_attempts",
        "_backoff",
        "_bases",
        "_budget",
        "_classifier",
        "_clock",
        "_deadline",
        "_jitter",
        "_kwargs",
        "_max_retry_after",
        "_on_retry",
        "_plain",
        "_respect_retry_after",
        "_stop",
        "_wait",
        "_wait_for_open_circuit",
    )

    def __init__(
        self,
        *,
        attempts: int | None = None,
        backoff: Backoff | None = None,
        deadline: float | None = None,
        classifier: Classifier | None = None,
        budget: RetryBudget | None = None,
        respect_retry_after: bool = True,
        max_retry_after: float = 60.0,
        wait_for_open_circuit: float | None = None,
        stop: tenacity.stop.stop_base | None = None,
        wait: tenacity.wait.wait_base | None = None,
        clock: Clock | None = None,
        on_retry: Callable[[RetryScheduled], object] | None = None,
    ) -> None:
        config = _RetryConfig(
            attempts=attempts,
            deadline=deadline,
            max_retry_after=max_retry_after,
            respect_retry_after=respect_retry_after,
            wait_for_open_circuit=wait_for_open_circuit,
        )
        _check_type("backoff", backoff, Backoff)
        _check_type("classifier", classifier, Classifier)
        _check_type("budget", budget, RetryBudget)
        _check_type("stop", stop, tenacity.stop.stop_base)
        _check_type("wait", wait, tenacity.wait.wait_base)
        if on_retry is not None and not callable(on_retry):
            raise TypeError(f"on_retry must be callable, got {on_retry!r}")
        self._kwargs: dict[str, Any] = {
            "attempts": attempts,
            "backoff": backoff,
            "deadline": deadline,
            "classifier": classifier,
            "budget": budget,
            "respect_retry_after": respect_retry_after,
            "max_retry_after": max_retry_after,
            "wait_for_open_circuit": wait_for_open_circuit,
            "stop": stop,
            "wait": wait,
            "clock": clock,
            "on_retry": on_retry,
        }
        self._attempts = config.attempts
        if self._attempts is None and stop is None:
            self._attempts = _DEFAULT_ATTEMPTS
        self._backoff = backoff = backoff if backoff is not None else Backoff()
        self._bases = tuple(backoff.base(n) for n in range(1, _SCHEDULE + 1))
        self._jitter = backoff.jitter
        self._deadline = config.deadline
        self._classifier = classifier if classifier is not None else Classifier.default()
        self._budget = budget
        self._respect_retry_after = config.respect_retry_after
        self._max_retry_after = config.max_retry_after
        self._wait_for_open_circuit = config.wait_for_open_circuit
        self._stop = stop
        self._wait = wait
        self._clock = clock if clock is not None else SYSTEM_CLOCK
        self._on_retry = on_retry
        # A plain first attempt needs neither a budget deposit nor a start time (a
        # tenacity stop or wait reads the time since the first attempt began).
        self._plain = budget is None and deadline is None and stop is None and wait is None

    def replace(self, **changes: Any) -> RetryPolicy:  # noqa: ANN401 - mirrors __init__
        """A copy with some arguments changed, e.g. ``policy.replace(attempts=5)``."""
        unknown = set(changes) - set(self._kwargs)
        if unknown:
            raise TypeError(f"RetryPolicy.replace() got unknown arguments: {sorted(unknown)}")
        return RetryPolicy(**{**self._kwargs, **changes})

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self._kwargs.items() if v is not None)
        return f"RetryPolicy({shown})"

    @property
    def classifier(self) -> Classifier:
        """The classifier deciding what is retried."""
        return self._classifier

    # ------------------------------------------------------------------ forms

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Decorate ``fn`` (sync or async) so that failed calls are retried.

        A generator function (sync or async) is run again only when it fails before
        yielding its first item; a failure after that propagates, as the caller may have
        acted on the items already.
        """
        require_callable(fn, "@RetryPolicy(...)")
        if is_generator(fn):
            return generators(fn, retry=self)  # retried only until its first item
        if is_async(fn) or not self._plain:
            return shells(fn, self.call, self.acall)

        retry = self._retry

        # The plain first attempt inlined: no frame, no object, no clock read on success.
        @functools.wraps(fn)
        def plain_wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                run = _Run(self, None, fn, args, kwargs)
                delay = run.next_delay(exc)
                if delay is None:
                    raise
            return retry(run, delay, fn, args, kwargs)

        return plain_wrapper

    @overload
    @deprecated("an async function passed to call() is never awaited: use acall()")
    def call(
        self, fn: Callable[P, Awaitable[object]], /, *args: P.args, **kwargs: P.kwargs
    ) -> NoReturn: ...
    @overload
    def call(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R: ...
    def call(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call ``fn(*args, **kwargs)``, retrying as the policy says; its result.

        Raises:
            TypeError: ``fn`` returned an awaitable (a coroutine, a future): use
                :meth:`acall`.
        """
        start = self._begin()
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            run = _Run(self, start, fn, args, kwargs)
            delay = run.next_delay(exc)
            if delay is None:
                raise
        else:
            if type(result) in AWAITABLES:
                raise misused("RetryPolicy", fn, result)
            return result
        return self._retry(run, delay, fn, args, kwargs)

    def _call_as(
        self,
        attempt: Callable[..., R],
        attempt_args: tuple[object, ...],
        fn: Callable[..., object],
        args: tuple[object, ...],
        kwargs: dict[str, object],
    ) -> R:
        """:meth:`call` of ``attempt(*attempt_args)``, a wrapper of ``fn(*args, **kwargs)``.

        The retry state (tenacity's ``fn``, ``args``, ``kwargs``) names the caller's call,
        not the wrapper that runs it through more layers.
        """
        start = self._begin()
        try:
            return attempt(*attempt_args)
        except Exception as exc:
            run = _Run(self, start, fn, args, kwargs)
            delay = run.next_delay(exc)
            if delay is None:
                raise
        return self._retry(run, delay, attempt, attempt_args, {})

    async def _acall_as(
        self,
        attempt: Callable[..., Awaitable[R]],
        attempt_args: tuple[object, ...],
        fn: Callable[..., object],
        args: tuple[object, ...],
        kwargs: dict[str, object],
    ) -> R:
        """:meth:`_call_as` for coroutines."""
        start = self._begin()
        try:
            return await attempt(*attempt_args)
        except Exception as exc:
            run = _Run(self, start, fn, args, kwargs)
            delay = run.next_delay(exc)
            if delay is None:
                raise
        return await self._aretry(run, delay, attempt, attempt_args, {})

    async def acall(
        self, fn: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """Await ``fn(*args, **kwargs)``, retrying as the policy says; its result."""
        start = self._begin()
        try:
            return await fn(*args, **kwargs)
        except Exception as exc:
            run = _Run(self, start, fn, args, kwargs)
            delay = run.next_delay(exc)
            if delay is None:
                raise
        return await self._aretry(run, delay, fn, args, kwargs)

    def __iter__(self) -> Iterator[Attempt]:
        loop = _Loop(self)
        number = 1
        while True:
            attempt = Attempt(number, loop)
            yield attempt
            if not attempt._failed:
                return
            if loop.delay:
                self._clock.sleep(loop.delay)
            number += 1

    async def __aiter__(self) -> AsyncIterator[Attempt]:
        loop = _Loop(self)
        number = 1
        while True:
            attempt = Attempt(number, loop)
            yield attempt
            if not attempt._failed:
                return
            if loop.delay:
                await self._clock.asleep(loop.delay)
            number += 1

    def partial(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Decorate a multi-item ``fn`` so that only its failed items are retried.

        ``fn`` takes the items as its first positional argument and raises
        :class:`PartialFailure` ``(succeeded=..., failed={item: exc})`` when some
        fail. It is called again with a list of the failed items whose errors are
        RETRYABLE; its other arguments are passed unchanged. When items still fail at
        the end, a :class:`PartialFailure` holding every success and every last
        failure is raised.
        """
        require_callable(fn, "@RetryPolicy(...).partial")
        return shells(fn, self._partial, self._apartial)

    # --------------------------------------------------------------- engine

    def _begin(self) -> float | None:
        """Work before the first attempt: a budget deposit and a start time, if needed."""
        if self._plain:
            return None
        if self._budget is not None:
            self._budget.record_call()
        timed = self._deadline is not None or self._stop is not None or self._wait is not None
        return self._clock.monotonic() if timed else None

    def _retry(
        self,
        run: _Run,
        delay: float,
        fn: Callable[..., R],
        args: tuple[object, ...],
        kwargs: dict[str, object],
    ) -> R:
        sleep = self._clock.sleep
        while True:
            if delay:
                sleep(delay)
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:
                next_delay = run.next_delay(exc)
                if next_delay is None:
                    raise
                delay = next_delay
            else:
                if type(result) in AWAITABLES:
                    raise misused("RetryPolicy", fn, result)
                return result

    async def _aretry(
        self,
        run: _Run,
        delay: float,
        fn: Callable[..., Awaitable[R]],
        args: tuple[object, ...],
        kwargs: dict[str, object],
    ) -> R:
        asleep = self._clock.asleep
        while True:
            if delay:
                await asleep(delay)
            try:
                return await fn(*args, **kwargs)
            except Exception as exc:
                next_delay = run.next_delay(exc)
                if next_delay is None:
                    raise
                delay = next_delay

    def _partial(self, fn: Callable[..., R], /, *args: object, **kwargs: object) -> R:
        _items_first(fn, args)
        run = _Run(self, self._begin(), fn, args, kwargs)
        delay: float | None
        while True:
            try:
                return fn(*args, **kwargs)
            except PartialFailure as exc:
                delay, args = run.retry_partial(exc, args)
            except Exception as exc:
                delay = run.next_delay(exc)
                if delay is None:
                    raise
            if delay:
                self._clock.sleep(delay)

    async def _apartial(
        self, fn: Callable[..., Awaitable[R]], /, *args: object, **kwargs: object
    ) -> R:
        _items_first(fn, args)
        run = _Run(self, self._begin(), fn, args, kwargs)
        delay: float | None
        while True:
            try:
                return await fn(*args, **kwargs)
            except PartialFailure as exc:
                delay, args = run.retry_partial(exc, args)
            except Exception as exc:
                delay = run.next_delay(exc)
                if delay is None:
                    raise
            if delay:
                await self._clock.asleep(delay)


def _items_first(fn: Callable[..., object], args: tuple[object, ...]) -> None:
    if not args:
        raise TypeError(
            f"{getattr(fn, '__qualname__', fn)!r} is retried item by item: pass the "
            "items as its first positional argument"
        )


def _check_type(name: str, value: object, expected: type) -> None:
    if value is not None and not isinstance(value, expected):
        raise TypeError(
            f"RetryPolicy({name}=...) must be a {expected.__module__}.{expected.__qualname__}, "
            f"got {type(value).__name__}: {value!r}"
        )
