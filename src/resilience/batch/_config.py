"""A batch job's configuration, validated once when its processor is made."""

from __future__ import annotations

from pydantic import Field

from resilience._core.options import Options, Seconds

__all__ = ["BatchConfig"]


class BatchConfig(Options):
    """What :class:`~resilience.batch.BatchProcessor` checks of its arguments.

    The durations accept a number of seconds or a :class:`~datetime.timedelta`.
    """

    job: str = Field(min_length=1)
    checkpoint_every: int = Field(default=100, ge=1)
    """Commit after this many outcomes."""
    checkpoint_seconds: Seconds | None = Field(default=None, gt=0)
    """Also commit once this long has passed since the last commit."""
    max_failures: int | None = Field(default=None, ge=0)
    max_failure_rate: float | None = Field(default=None, gt=0, le=1)
    concurrency: int = Field(default=1, ge=1)
    lease: Seconds = Field(default=60.0, gt=0)
    """How long a worker's hold on a shared job lasts unless renewed."""
