"""Stages of a recovery: when to act, how often, and the default plan."""

from __future__ import annotations

from typing import Final

from pydantic import Field

from resilience._core.options import Options, Seconds

__all__ = ["DEFAULT_STAGES", "Stage"]


class Stage(Options):
    """One stage of a recovery: wait ``delay`` seconds, then try up to ``attempts`` times."""

    delay: Seconds = Field(default=0.0, ge=0)
    """Seconds (or a timedelta) before the stage's first attempt, counted from the end
    of the previous stage (from the trigger, for the first stage)."""
    attempts: int = Field(default=1, gt=0)
    """How many times the stage runs the component's actions."""
    interval: Seconds = Field(default=0.0, ge=0)
    """Seconds (or a timedelta) between the stage's attempts."""


DEFAULT_STAGES: Final = (
    Stage(delay=0, attempts=1),
    Stage(delay=60, attempts=2),
    Stage(delay=300, attempts=3),
)
