"""RateLimitedError: a rate limiter refused a call; it says when one would be admitted."""

from __future__ import annotations

from resilience._core.errors import RejectedError

__all__ = ["RateLimitedError"]


class RateLimitedError(RejectedError):
    """A rate limiter refused a call without running it.

    Attributes:
        name: The limiter's name.
        requested: The tokens asked for (1 for a call).
        retry_after: Seconds until the same request is admitted at once (nothing else
            being admitted meanwhile): exact for a limiter of this process, at least
            that long for a shared one. None when the limiter cannot tell (its shared
            store is unreachable and set to refuse every call).
        reason: Why, in words.
    """

    noun = "call"

    def __init__(
        self, name: str, requested: int, retry_after: float | None, reason: str
    ) -> None:
        self.name = name
        self.requested = requested
        self.retry_after = retry_after
        self.reason = reason
        super().__init__(self._message())

    @property
    def subject(self) -> str:
        """``"rate limiter 'api' is out of tokens"``: who refused, for messages."""
        return f"rate limiter {self.name!r} is out of tokens"

    def _message(self) -> str:
        what = f"rate limiter {self.name!r} refused {self.requested} token(s): {self.reason}"
        if self.retry_after is None:
            return f"{what}; retry once its store is reachable again"
        return f"{what}; retry in {self.retry_after:.3g} s, or allow a longer max_wait"
