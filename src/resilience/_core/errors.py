"""The root of the errors ``resilience`` raises of its own, and of its rejections."""

from __future__ import annotations

__all__ = ["RegistryFullError", "RejectedError", "ResilienceError"]


class ResilienceError(Exception):
    """Raised by ``resilience`` itself (never a wrapper of your call's own errors)."""


class RejectedError(ResilienceError):
    """A strategy refused a call without running it: an open circuit, say.

    Attributes:
        retry_after: Seconds until the strategy expects to admit a call again, 0.0 if it
            would now, or None when it cannot tell (nothing automatic is coming).
    """

    retry_after: float | None = None
    noun = "admission"
    """What the strategy would let through next, for messages: "a trial call", say."""

    @property
    def subject(self) -> str:
        """Who refused, for messages: ``"circuit 'db' is OPEN"``, say."""
        return type(self).__name__


class RegistryFullError(ResilienceError, RuntimeError):
    """A per-remote registry holds its maximum and none of its entries can be evicted."""
