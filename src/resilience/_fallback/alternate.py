"""AlternateRemote: when a remote is unavailable, the same call to another, else a clear refusal.

A call names its remote in one of its arguments (``list_dir(remote="gdrive", path=...)``).
When it fails because the remote is unavailable (an open circuit, a RETRYABLE failure),
the call is made again with that argument set to each alternate in turn, through the
alternate's own circuit breaker when a registry is given. When none answers, the caller
gets :class:`RemoteUnavailableError`: "remote 'gdrive' is unavailable ...; retry in 42 s".
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from resilience._breaker.errors import CircuitOpenError
from resilience._breaker.events import CircuitState
from resilience._breaker.registry import BreakerRegistry
from resilience._classify.classifier import Classifier
from resilience._classify.verdict import RETRYABLE
from resilience._core.clock import SYSTEM_CLOCK, Clock
from resilience._core.drive import Segment
from resilience._core.errors import RejectedError
from resilience._core.misuse import MisusedCallError
from resilience._core.shells import Shell
from resilience._core.strategy import Replace
from resilience._core.text import safe_str

__all__ = ["AlternateRemote", "RemoteUnavailableError"]

Kwargs = dict[str, Any]
Token = tuple[Callable[..., Any] | None, tuple[Any, ...], Kwargs]
Alternates = Mapping[str, str | Sequence[str]] | Callable[[str], str | Sequence[str] | None]


class RemoteUnavailableError(RejectedError):
    """A remote, and every alternate of it, could not answer a call.

    Attributes:
        remote: The remote the call was for.
        tried: ``(remote, why)`` for the remote and each alternate tried, in order.
        retry_after: Seconds until the first of them expects to take a call again (its
            circuit's next trial call), or None when none of them can tell.
    """

    noun = "trial call"

    def __init__(
        self, remote: str, tried: Sequence[tuple[str, str]], retry_after: float | None
    ) -> None:
        self.remote = remote
        self.tried = tuple(tried)
        self.retry_after = retry_after
        super().__init__(self._message())

    @property
    def subject(self) -> str:
        """``"remote 'gdrive' is unavailable"``."""
        return f"remote {self.remote!r} is unavailable"

    def _message(self) -> str:
        (_, why), *alternates = self.tried
        text = f"remote {self.remote!r} is unavailable ({why})"
        if alternates:
            shown = "; ".join(f"{name!r}: {reason}" for name, reason in alternates)
            plural = "s" if len(alternates) > 1 else ""
            text += f", and so is its alternate{plural} ({shown})"
        if self.retry_after is not None:
            return f"{text}; retry in {max(self.retry_after, 0.0):.0f} s"
        return f"{text}; no remote says when it will answer again: check it, then retry"

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.remote, self.tried, self.retry_after))


class AlternateRemote(Shell):
    """When a call's remote is unavailable, makes it again with an alternate remote.

    Put it outermost, outside the retry and the breaker: ``resilient(remote=...,
    breaker=registry, fallback=AlternateRemote({"gdrive": "gdrive-mirror"},
    breakers=registry))``. It takes over from an open circuit's refusal and from a
    RETRYABLE failure (the remote is unavailable); a PERMANENT failure (not found, no
    permission) is about the request and goes on as it is. Sync and async.

    Args:
        alternates: For each remote, the alternates to try in order: a mapping of a
            remote to one name or a list of them, or a function of the remote returning
            them (None or an empty list: none).
        remote: The name of the call's argument that holds the remote.
        breakers: The registry whose breaker of each alternate admits and records the
            call to it (an alternate whose circuit is open is skipped), and tells when
            the remote itself takes calls again. Without it, alternates are called
            directly.
        classifier: Decides what is RETRYABLE; :meth:`Classifier.default` by default.
    """

    __slots__ = ("_alternates", "_arg", "_breakers", "_classifier", "_clock", "_segment")

    passive = True

    def __init__(
        self,
        alternates: Alternates,
        *,
        remote: str = "remote",
        breakers: BreakerRegistry | None = None,
        classifier: Classifier | None = None,
    ) -> None:
        if not (isinstance(alternates, Mapping) or callable(alternates)):
            raise TypeError(
                "AlternateRemote(alternates=...) must map a remote to its alternates, or be "
                f"a function of the remote returning them; got {alternates!r}"
            )
        if isinstance(alternates, Mapping):
            for name, alts in alternates.items():
                if not isinstance(name, str) or not _names(alts, allow_none=False):
                    raise TypeError(
                        "AlternateRemote(alternates=...) maps a remote's name to an alternate's "
                        f"name or a list of them; got {name!r}: {alts!r}"
                    )
        if not isinstance(remote, str) or not remote.isidentifier():
            raise TypeError(
                "AlternateRemote(remote=...) is the name of the call's argument that holds "
                f"the remote, e.g. remote='remote'; got {remote!r}"
            )
        if breakers is not None and not isinstance(breakers, BreakerRegistry):
            raise TypeError(
                f"AlternateRemote(breakers=...) must be a BreakerRegistry, got {breakers!r}"
            )
        if classifier is not None and not isinstance(classifier, Classifier):
            raise TypeError(
                f"AlternateRemote(classifier=...) must be a Classifier, got {classifier!r}"
            )
        self._alternates = alternates
        self._arg = remote
        self._breakers = breakers
        self._classifier = classifier if classifier is not None else Classifier.default()
        self._clock: Clock = breakers.clock if breakers is not None else SYSTEM_CLOCK
        self._segment: Segment | None = None

    def __repr__(self) -> str:
        return f"AlternateRemote({self._alternates!r}, remote={self._arg!r})"

    def alternates_of(self, remote: str) -> tuple[str, ...]:
        """The alternates of ``remote``, in the order they are tried."""
        found = self._alternates
        alts = found.get(remote) if isinstance(found, Mapping) else found(remote)
        names = _names(alts, allow_none=True)
        if names is None:
            raise TypeError(
                f"AlternateRemote: the alternates of {remote!r} must be a name or a list of "
                f"names, got {alts!r}"
            )
        return tuple(n for n in names if n != remote)

    # ------------------------------------------------------ the Strategy protocol

    def before(self, fn: Callable[..., Any] | None, args: tuple[Any, ...], kwargs: Kwargs) -> Token:
        """Keep the call, to make it again elsewhere."""
        return fn, args, kwargs

    def after(self, token: Token, value: object, error: BaseException | None) -> Replace | None:
        """On an unavailable remote: the result of an alternate, or RemoteUnavailableError."""
        if not isinstance(error, Exception) or isinstance(error, MisusedCallError):
            return None
        fn, args, kwargs = token
        if fn is None or not self._unavailable(error):
            return None
        try:
            bound = inspect.signature(fn).bind(*args, **kwargs)
        except (TypeError, ValueError):  # no signature to read (a builtin), or no match
            bound = None
        remote = bound.arguments.get(self._arg) if bound is not None else None
        if bound is None or not isinstance(remote, str):
            raise TypeError(
                f"AlternateRemote: {getattr(fn, '__qualname__', fn)!r} has no argument "
                f"{self._arg!r} holding a remote's name (got {remote!r}); pass remote= the "
                "name of the argument that does"
            ) from error
        tried = [(remote, _why(error))]
        waits = [self._retry_after(remote, error)]
        calls = [(alt, _with(bound, self._arg, alt)) for alt in self.alternates_of(remote)]
        if inspect.iscoroutinefunction(fn):
            return Replace(self._atry(fn, remote, calls, tried, waits, error))
        for alt, (a, kw) in calls:
            try:
                return Replace(self._call(alt, fn, a, kw))
            except Exception as exc:
                if not self._unavailable(exc):
                    raise
                tried.append((alt, _why(exc)))
                waits.append(self._retry_after(alt, exc))
        return Replace(error=_unavailable(remote, tried, waits, error))

    async def _atry(  # noqa: PLR0917 - the sync branch's state, carried over
        self,
        fn: Callable[..., Awaitable[Any]],
        remote: str,
        calls: list[tuple[str, tuple[tuple[Any, ...], Kwargs]]],
        tried: list[tuple[str, str]],
        waits: list[float | None],
        error: Exception,
    ) -> Any:  # noqa: ANN401 - the call's own result
        for alt, (a, kw) in calls:
            breaker = self._breakers.get(alt) if self._breakers is not None else None
            try:
                if breaker is not None:
                    return await breaker.acall(fn, *a, **kw)
                return await fn(*a, **kw)
            except Exception as exc:
                if not self._unavailable(exc):
                    raise
                tried.append((alt, _why(exc)))
                waits.append(self._retry_after(alt, exc))
        raise _unavailable(remote, tried, waits, error)

    def _call(self, alt: str, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Kwargs) -> Any:  # noqa: ANN401
        if self._breakers is not None:
            return self._breakers.get(alt).call(fn, *args, **kwargs)
        return fn(*args, **kwargs)

    def _unavailable(self, error: Exception) -> bool:
        """Whether ``error`` says the remote cannot answer now (not that the request is wrong)."""
        if isinstance(error, RejectedError):
            return True
        return self._classifier.classify(error).kind is RETRYABLE

    def _retry_after(self, remote: str, error: Exception) -> float | None:
        if isinstance(error, RejectedError) and error.retry_after is not None:
            return error.retry_after
        if self._breakers is not None and remote in self._breakers:
            snapshot = self._breakers.get(remote).snapshot()
            if snapshot.state is not CircuitState.CLOSED:  # a closed circuit tells no time
                return snapshot.retry_after
        return None


def _names(value: object, *, allow_none: bool) -> tuple[str, ...] | None:
    """``value`` as a tuple of non-empty names, or None when it is not one."""
    if value is None:
        return () if allow_none else None
    if isinstance(value, str):
        return (value,) if value else None
    if isinstance(value, Sequence) and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    return None


def _with(bound: inspect.BoundArguments, name: str, remote: str) -> tuple[tuple[Any, ...], Kwargs]:
    arguments = dict(bound.arguments)
    arguments[name] = remote
    again = inspect.BoundArguments(bound.signature, arguments)
    return again.args, again.kwargs


def _why(error: BaseException) -> str:
    if isinstance(error, CircuitOpenError):
        return error.subject
    return f"{type(error).__name__}: {safe_str(error, limit=120)}"


def _unavailable(
    remote: str, tried: list[tuple[str, str]], waits: list[float | None], error: Exception
) -> RemoteUnavailableError:
    known = [w for w in waits if w is not None]
    refusal = RemoteUnavailableError(remote, tried, min(known) if known else None)
    refusal.__cause__ = error
    return refusal
