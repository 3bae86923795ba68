"""Exceptions raised by ``resilience``: each says what happened, why, and what to do next."""

from __future__ import annotations

from resilience._breaker.events import CircuitState
from resilience._core.errors import RegistryFullError, RejectedError

__all__ = ["CircuitOpenError", "RegistryFullError"]


class CircuitOpenError(RejectedError):
    """A circuit breaker rejected a call without running it.

    Attributes:
        name: The breaker's name (usually the remote it protects).
        state: The state that rejected the call: OPEN, HALF_OPEN or FORCED_OPEN.
        retry_after: Seconds after which a call is not rejected for this reason again
            (a trial call will be let through, at the latest), 0.0 if one would be now;
            None when no automatic trial is coming: the circuit was forced open (only a
            manual transition or ``reset()`` ends that), or it is half-open with every
            trial permit taken and no ``half_open_timeout``.
        reason: Why the circuit opened, e.g. ``"5 consecutive failures; last: ..."``.
    """

    noun = "trial call"

    @property
    def subject(self) -> str:
        """``"circuit 'db' is OPEN"``: who refused, for messages."""
        return f"circuit {self.name!r} is {self.state.name}"

    def __init__(
        self,
        name: str,
        state: CircuitState,
        retry_after: float | None,
        reason: str,
    ) -> None:
        self.name = name
        self.state = state
        self.retry_after = retry_after
        self.reason = reason
        super().__init__(self._message())

    def _message(self) -> str:
        what = f"circuit {self.name!r} is {self.state.name}"
        if self.state is CircuitState.FORCED_OPEN:
            return (
                f"{what}: {self.reason}; calls are rejected until reset() or another "
                "manual transition"
            )
        if self.state is CircuitState.HALF_OPEN:
            # retry_after covers the trials timing out and the open period after them.
            when = "try again when they finish"
            if self.retry_after is not None:
                when += f", or in {self.retry_after:.1f} s at the latest"
            return (
                f"{what}: trial calls are in flight to decide whether {self.name!r} has "
                f"recovered; {when}"
            )
        when = (
            "a trial call is allowed now"
            if not self.retry_after
            else f"a trial call is allowed in {self.retry_after:.1f} s"
        )
        return f"{what}: {self.reason}; {when}"

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.name, self.state, self.retry_after, self.reason))
