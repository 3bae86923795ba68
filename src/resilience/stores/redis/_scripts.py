"""The Redis stores' Lua scripts, read once, at import, from the ``*.lua`` files beside this one.

Each breaker script is the prelude (the shared state and its moves) followed by its own
part; the checkpoint and rate limiter scripts stand alone. The files are package data: a
wheel carries them.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Final

__all__ = [
    "BREAKER_ADMIT",
    "BREAKER_FLUSH",
    "BREAKER_READ",
    "BREAKER_TRIAL",
    "CHECKPOINT_ACQUIRE",
    "CHECKPOINT_COMMIT_LEASED",
    "CHECKPOINT_FORGET",
    "CHECKPOINT_RELEASE",
    "CHECKPOINT_RENEW",
    "RATE_ACQUIRE",
]


def _read(name: str) -> str:
    return files(__package__).joinpath(f"{name}.lua").read_text(encoding="utf-8")


_PRELUDE: Final = _read("breaker_prelude")

BREAKER_FLUSH: Final = _PRELUDE + _read("breaker_flush")
"""Add one process's outcomes to the fleet's counts and judge the trip rules on them."""
BREAKER_ADMIT: Final = _PRELUDE + _read("breaker_admit")
"""Ask for one of the fleet's trial permits once the open period is over."""
BREAKER_TRIAL: Final = _PRELUDE + _read("breaker_trial")
"""Report a trial call's outcome, or give its permit back."""
BREAKER_READ: Final = _PRELUDE + _read("breaker_read")
"""Read the shared state, changing nothing."""

CHECKPOINT_ACQUIRE: Final = _read("checkpoint_acquire")
CHECKPOINT_RENEW: Final = _read("checkpoint_renew")
CHECKPOINT_COMMIT_LEASED: Final = _read("checkpoint_commit_leased")
CHECKPOINT_RELEASE: Final = _read("checkpoint_release")
CHECKPOINT_FORGET: Final = _read("checkpoint_forget")

RATE_ACQUIRE: Final = _read("rate_acquire")
"""Take tokens from a shared GCRA rate limiter: one atomic call per request."""
