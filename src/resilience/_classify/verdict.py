"""The verdict on a failure: its kind and why, shared by the classifier and its rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from resilience._core.enums import ReadableEnum

__all__ = ["Classification", "FailureKind"]


class FailureKind(ReadableEnum):
    """What trying again can do about a failure."""

    RETRYABLE = "retryable"
    """Transient: trying again may succeed."""
    PERMANENT = "permanent"
    """Trying again will fail the same way."""
    PARTIAL = "partial"
    """Some items of a multi-item operation failed; only those are worth retrying."""


# Members read through their enum cost a lookup each: the hot paths import these.
RETRYABLE: Final = FailureKind.RETRYABLE
PERMANENT: Final = FailureKind.PERMANENT
PARTIAL: Final = FailureKind.PARTIAL


@dataclass(frozen=True, slots=True)
class Classification:
    """The verdict on one failure."""

    kind: FailureKind
    reason: str
    """A short human reason, e.g. ``"HTTP 503"`` or ``"errno ENOSPC"``."""
    retry_after: float | None = None
    """Seconds the remote asked us to wait (Retry-After), if it said."""
