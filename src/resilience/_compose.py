"""resilient(): the usual strategies around a call, as one pipeline."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from pydantic import Field

from resilience._breaker.breaker import CircuitBreaker
from resilience._breaker.registry import BreakerRegistry
from resilience._breaker.remote import RemoteBreakers
from resilience._classify.classifier import Classifier
from resilience._core.clock import SYSTEM_CLOCK, Clock
from resilience._core.fallback import Fallback
from resilience._core.options import Options, Seconds, seconds
from resilience._core.pipeline import Pipeline
from resilience._core.remotes import Remotes
from resilience._core.strategy import Strategy
from resilience._core.timeout import CallTimeoutError, Timeout
from resilience._hedge.hedge import Hedge
from resilience._limit.adaptive import AdaptiveLimiter
from resilience._limit.bulkhead import Bulkhead
from resilience._rate.limiter import RateLimiter
from resilience._retry.policy import RetryPolicy
from resilience.chaos import InjectFault, InjectLatency, InjectResult

_CHAOS = (InjectFault, InjectLatency, InjectResult)

__all__ = ["CallTimeoutError", "Resilient", "resilient"]


class _ComposeConfig(Options):
    timeout: Seconds | None = Field(default=None, gt=0)


class Resilient(Pipeline):
    """A composed policy: a :class:`~resilience.Pipeline` built by :func:`resilient`."""

    __slots__ = ("_shown",)

    def __init__(self, *strategies: Strategy, clock: Clock, shown: str) -> None:
        super().__init__(*strategies, clock=clock)
        self._shown = shown

    def __repr__(self) -> str:
        return self._shown

    def _shell_label(self) -> str:
        return "resilient(...)"


def resilient(
    remote: str | Callable[..., str] | None = None,
    *,
    retry: RetryPolicy | None = None,
    breaker: CircuitBreaker | BreakerRegistry | None = None,
    rate_limiter: RateLimiter | Remotes[RateLimiter] | None = None,
    bulkhead: Bulkhead | Remotes[Bulkhead] | None = None,
    limiter: AdaptiveLimiter | Remotes[AdaptiveLimiter] | None = None,
    hedge: Hedge | None = None,
    timeout: float | timedelta | None = None,
    chaos: InjectFault | InjectLatency | InjectResult | None = None,
    fallback: Callable[..., Any] | Strategy | Remotes[Any] | Sequence[Strategy] | None = None,
    classifier: Classifier | None = None,
    clock: Clock | None = None,
) -> Resilient:
    """Compose the layers around a call into one pipeline.

    Outermost first: fallback, retry, breaker, rate limiter, bulkhead, adaptive limiter,
    timeout.

    Args:
        remote: With a :class:`BreakerRegistry` or a :class:`Remotes`, which remote a
            call goes to: a name, or a function of the call's arguments returning one.
        retry: Retries failed attempts; each attempt passes through the breaker. An
            open circuit's rejection goes to the fallback at once, unless the policy's
            ``wait_for_open_circuit`` allows waiting for its trial call.
        breaker: A :class:`CircuitBreaker`, or a :class:`BreakerRegistry` with ``remote``.
        rate_limiter: A :class:`RateLimiter`, or :class:`Remotes` of them with ``remote``:
            inside the retry and the breaker, so each attempt takes a token and a
            refusal (:class:`RateLimitedError`) never counts against the remote.
        bulkhead: A :class:`Bulkhead` (each attempt takes a slot), or a
            :class:`Remotes` of them with ``remote``.
        limiter: An :class:`AdaptiveLimiter` (inside the bulkhead, outside the time
            limit: a timed-out attempt is a drop), or a :class:`Remotes` of them.
        hedge: Starts another attempt when one is slow (async calls only, idempotent
            ones only); each attempt it starts passes through the timeout and chaos.
        timeout: Seconds per attempt. A coroutine still running at the timeout is
            cancelled and :class:`CallTimeoutError` (a ``TimeoutError``, so RETRYABLE)
            raised; a ``TimeoutError`` the call raises itself passes through as it is.
            A sync call cannot be interrupted: it runs to the end, and a late result
            is returned (never discarded and retried), the overrun logged as a warning.
        chaos: A fault injection strategy, innermost: what it injects looks like the
            call's own doing to the retry and the breaker.
        fallback: ``fallback(exc, *args, **kwargs)`` gives the result when the final
            attempt failed with an ``Exception``; may be async for async calls. Or a
            fallback strategy (a :class:`CachedFallback`, an :class:`AlternateRemote`),
            a list of them (outermost first), or a :class:`Remotes` of them (with
            ``remote``: each call's remote has its own).
        classifier: Overrides the retry policy's classifier when the policy has none of
            its own. (A breaker keeps the classifier it was built with.)
        clock: Time source for the sync timeout.
    """
    config = _ComposeConfig(timeout=seconds(timeout))
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise TypeError(f"resilient(retry=...) must be a RetryPolicy, got {retry!r}")
    if hedge is not None and not isinstance(hedge, Hedge):
        raise TypeError(f"resilient(hedge=...) must be a Hedge, got {hedge!r}")
    if chaos is not None and not isinstance(chaos, _CHAOS):
        raise TypeError(
            "resilient(chaos=...) must be an InjectFault, InjectLatency or InjectResult, "
            f"got {chaos!r}"
        )
    fallbacks = _fallbacks(fallback, remote)
    if classifier is not None and retry is not None and not retry.has_classifier:
        retry = retry.replace(classifier=classifier)
    per_remote = any(isinstance(v, Remotes) for v in (rate_limiter, bulkhead, limiter, fallback))
    guard = _breaker(breaker, remote, per_remote=per_remote)
    strategies: list[Strategy] = [*fallbacks]
    if retry is not None:
        strategies.append(retry)
    if guard is not None:
        strategies.append(guard)
    for name, value, kind, what in (
        ("rate_limiter", rate_limiter, RateLimiter, "a RateLimiter"),
        ("bulkhead", bulkhead, Bulkhead, "a Bulkhead"),
        ("limiter", limiter, AdaptiveLimiter, "an AdaptiveLimiter"),
    ):
        if isinstance(value, Remotes):
            strategies.append(value.protect(remote))  # type: ignore[arg-type] # checked
        elif isinstance(value, kind):
            strategies.append(value)
        elif value is not None:
            raise TypeError(
                f"resilient({name}=...) must be {what} or a Remotes of them, got {value!r}"
            )
    if hedge is not None:
        strategies.append(hedge)
    timed = clock if clock is not None else SYSTEM_CLOCK
    if config.timeout is not None:
        strategies.append(Timeout(config.timeout, clock=timed))
    if chaos is not None:
        strategies.append(chaos)
    shown = [
        f"{name}={value!r}"
        for name, value in (
            ("retry", retry),
            ("breaker", breaker),
            ("rate_limiter", rate_limiter),
            ("bulkhead", bulkhead),
            ("limiter", limiter),
            ("hedge", hedge),
            ("timeout", config.timeout),
            ("chaos", chaos),
            ("fallback", fallback),
        )
        if value is not None
    ]
    # Waits are the retry policy's: its clock sleeps them.
    waits = retry.clock if retry is not None else timed
    return Resilient(*strategies, clock=waits, shown=f"resilient({', '.join(shown)})")


def _breaker(
    breaker: object, remote: str | Callable[..., str] | None, *, per_remote: bool
) -> Strategy | None:
    """The breaker strategy: the breaker itself, or its remote's from a registry."""
    if per_remote and not isinstance(breaker, BreakerRegistry):
        _check_remote(remote)
    if isinstance(breaker, BreakerRegistry):
        if remote is None:
            raise TypeError(
                "resilient(breaker=<BreakerRegistry>) needs remote=: a remote name, or a "
                "function of the call's arguments that returns one"
            )
        if not remote or not (isinstance(remote, str) or callable(remote)):
            raise TypeError(
                "resilient(remote=...) must be a non-empty remote name or a function of "
                f"the call's arguments returning one; got {remote!r}"
            )
        return RemoteBreakers(breaker, remote)
    if isinstance(breaker, CircuitBreaker):
        if remote is not None and not per_remote:
            raise TypeError(
                "resilient(remote=...) picks a breaker from a BreakerRegistry; with a "
                "single CircuitBreaker, leave remote out"
            )
        return breaker
    if breaker is not None:
        raise TypeError(
            f"resilient(breaker=...) must be a CircuitBreaker or a BreakerRegistry, got {breaker!r}"
        )
    return None


def _check_remote(remote: object) -> None:
    if not remote or not (isinstance(remote, str) or callable(remote)):
        raise TypeError(
            "resilient(...=<Remotes>) needs remote=: a "
            "non-empty remote name, or a function of the call's arguments that returns one; "
            f"got {remote!r}"
        )


def _fallbacks(
    fallback: Callable[..., Any] | Strategy | Remotes[Any] | Sequence[Strategy] | None,
    remote: str | Callable[..., str] | None,
) -> list[Strategy]:
    """The outermost strategies: a fallback function's Fallback, or the strategies given."""
    if fallback is None:
        return []
    if isinstance(fallback, Remotes):
        if remote is None:
            raise TypeError(
                "resilient(fallback=<Remotes>) needs remote=: a remote name, or a function "
                "of the call's arguments that returns one"
            )
        return [fallback.protect(remote)]
    if isinstance(fallback, Strategy):  # a CachedFallback, an AlternateRemote (callable too)
        return [fallback]
    if isinstance(fallback, list | tuple):
        if not fallback or not all(isinstance(f, Strategy) for f in fallback):
            raise TypeError(
                "resilient(fallback=[...]) takes fallback strategies (a CachedFallback, an "
                f"AlternateRemote, ...), outermost first; got {fallback!r}"
            )
        return list(fallback)
    if not callable(fallback):
        raise TypeError(f"resilient(fallback=...) must be callable, got {fallback!r}")
    return [Fallback(fallback)]
