"""What the web framework integrations answer alike: open circuits as 503s, Retry-After."""

from __future__ import annotations

import math
from typing import Final

from resilience._breaker.errors import CircuitOpenError
from resilience._core.text import json_bytes

__all__ = ["NO_TRIAL_WAIT", "circuit_open_reply", "retry_after_header"]

NO_TRIAL_WAIT: Final = 30.0
"""The ``Retry-After`` of a circuit with no trial scheduled (forced open): ask again later."""


def retry_after_header(seconds: float | None, default: float = NO_TRIAL_WAIT) -> str:
    """A ``Retry-After`` value: whole seconds, at least 1 (0 would invite a stampede)."""
    wait = default if seconds is None else seconds
    return str(max(1, math.ceil(wait)))


def circuit_open_reply(exc: CircuitOpenError) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a 503 for an open circuit; the framework makes the response.

    The JSON body says which remote, in which state; ``Retry-After``, when to ask again.
    """
    body = json_bytes({"error": "service unavailable", "remote": exc.name, "state": exc.state.name})
    return body, {"Retry-After": retry_after_header(exc.retry_after)}
