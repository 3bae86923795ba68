"""resilient(): fallback ∘ retry ∘ breaker ∘ timeout ∘ call, as one pipeline."""

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
from resilience._retry.policy import RetryPolicy

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
    timeout: float | timedelta | None = None,
    fallback: Callable[..., Any] | Strategy | Remotes[Any] | Sequence[Strategy] | None = None,
    classifier: Classifier | None = None,
    clock: Clock | None = None,
) -> Resilient:
    """Compose the layers around a call: fallback(retry(breaker(timeout(call)))).

    Args:
        remote: With a :class:`BreakerRegistry`, which remote a call goes to: a name,
            or a function of the call's arguments returning one.
        retry: Retries failed attempts; each attempt passes through the breaker. An
            open circuit's rejection goes to the fallback at once, unless the policy's
            ``wait_for_open_circuit`` allows waiting for its trial call.
        breaker: A :class:`CircuitBreaker`, or a :class:`BreakerRegistry` with ``remote``.
        timeout: Seconds per attempt. A coroutine still running at the timeout is
            cancelled and :class:`CallTimeoutError` (a ``TimeoutError``, so RETRYABLE)
            raised; a ``TimeoutError`` the call raises itself passes through as it is.
            A sync call cannot be interrupted: it runs to the end, and a late result
            is returned (never discarded and retried), the overrun logged as a warning.
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
    fallbacks = _fallbacks(fallback, remote)
    if classifier is not None and retry is not None and not retry.has_classifier:
        retry = retry.replace(classifier=classifier)
    registry: BreakerRegistry | None = None
    fixed: CircuitBreaker | None = None
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
        registry = breaker
    elif isinstance(breaker, CircuitBreaker):
        if remote is not None and not isinstance(fallback, Remotes):
            raise TypeError(
                "resilient(remote=...) picks a breaker from a BreakerRegistry; with a "
                "single CircuitBreaker, leave remote out"
            )
        fixed = breaker
    elif breaker is not None:
        raise TypeError(
            f"resilient(breaker=...) must be a CircuitBreaker or a BreakerRegistry, got {breaker!r}"
        )
    strategies: list[Strategy] = [*fallbacks]
    if retry is not None:
        strategies.append(retry)
    if registry is not None:
        strategies.append(RemoteBreakers(registry, remote))  # type: ignore[arg-type]
    elif fixed is not None:
        strategies.append(fixed)
    timed = clock if clock is not None else SYSTEM_CLOCK
    if config.timeout is not None:
        strategies.append(Timeout(config.timeout, clock=timed))
    shown = [
        f"{name}={value!r}"
        for name, value in (
            ("retry", retry),
            ("breaker", breaker),
            ("timeout", config.timeout),
            ("fallback", fallback),
        )
        if value is not None
    ]
    # Waits are the retry policy's: its clock sleeps them.
    waits = retry.clock if retry is not None else timed
    return Resilient(*strategies, clock=waits, shown=f"resilient({', '.join(shown)})")


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
