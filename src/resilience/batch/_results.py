"""What a batch run reports: its progress as it goes, its result, the items that failed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from resilience._classify.classifier import Classification
from resilience._classify.verdict import PERMANENT
from resilience._core.events import INFO, WARNING, Event
from resilience.batch._checkpoint import ItemKey

__all__ = ["BatchProgress", "BatchResult", "ItemFailure"]

_SHOWN_FAILURES: Final = 10
"""The summary lists this many failures, then counts the rest."""


@dataclass(frozen=True, slots=True)
class ItemFailure:
    """An item that failed, as recorded."""

    key: ItemKey
    classification: Classification
    attempts: int
    error: str
    """The last error, as ``"TypeName: message"``."""
    details: dict[str, str] | None = None
    """For a PARTIAL failure: each failed sub-item and why."""


@dataclass(frozen=True, slots=True)
class BatchProgress:
    """Where a run is: delivered to the ``progress`` callback after each item."""

    job: str
    processed: int
    """Items handled in this run, whatever their outcome."""
    succeeded: int
    failed: int
    deferred: int
    skipped: int
    """Items passed over: already done (or permanently failed) in an earlier run."""
    resumed: int
    """Items the job had finished before this run started."""
    total: int | None
    """How many items there are, when the iterable knows its length."""
    running: bool = True
    """Whether the run is still going (False in :meth:`BatchProcessor.snapshot` after it)."""


@dataclass(frozen=True, slots=True)
class BatchResult(Event):
    """What one run of a batch job did."""

    job: str
    total: int
    """Items read from the iterable in this run."""
    succeeded: int
    skipped: int
    failed: tuple[ItemFailure, ...]
    deferred: tuple[ItemKey, ...]
    """Items not attempted because their remote's circuit was open; a re-run takes them."""
    aborted: bool
    reason: str | None
    """Why the run stopped early, if it did."""
    duration: float
    redrive: bool = False
    not_processed: int = field(default=0)
    """Items read but not processed because the run stopped early."""

    event_name = "batch.finished"

    @property
    def level(self) -> int:
        """WARNING when the run stopped early or items failed, else INFO."""
        return WARNING if self.aborted or self.failed else INFO

    def describe(self) -> str:
        """The first line of :meth:`summary`."""
        return self.summary().splitlines()[0]

    def fields(self) -> dict[str, object]:
        """The job, the counts of each outcome, whether it stopped early and why, the time."""
        return {
            "event": self.event_name,
            "job": self.job,
            "total": self.total,
            "succeeded": self.succeeded,
            "skipped": self.skipped,
            "failed": len(self.failed),
            "deferred": len(self.deferred),
            "aborted": self.aborted,
            "reason": self.reason,
            "duration": self.duration,
        }

    def summary(self) -> str:
        """A readable report: what happened, and what to do next."""
        kind = "redrive" if self.redrive else "run"
        head = (
            f"batch job {self.job!r}: {kind} of {self.total} items in {self.duration:.3g} s: "
            f"{self.succeeded} succeeded, {self.skipped} skipped (finished before), "
            f"{len(self.failed)} failed, {len(self.deferred)} deferred"
        )
        lines = [head]
        if self.aborted:
            lines.append(f"  STOPPED: {self.reason}")
        for failure in self.failed[:_SHOWN_FAILURES]:
            c = failure.classification
            lines.append(
                f"  failed {failure.key!r} after {failure.attempts} attempt"
                f"{'s' if failure.attempts != 1 else ''} [{c.kind.name}: {c.reason}]: "
                f"{failure.error}"
            )
        if len(self.failed) > _SHOWN_FAILURES:
            lines.append(f"  ... and {len(self.failed) - _SHOWN_FAILURES} more failures")
        advice = []
        if self.aborted:
            advice.append("fix the cause, then run the job again: it resumes where it stopped")
        if self.deferred:
            advice.append(
                f"{len(self.deferred)} items waited for an open circuit: run the job again "
                "(or redrive) once the remote is back"
            )
        retryable = sum(1 for f in self.failed if f.classification.kind is not PERMANENT)
        if retryable:
            advice.append(
                f"{retryable} failures may pass on another try: run the job again, or "
                "redrive(items)"
            )
        if len(self.failed) > retryable:
            advice.append(
                f"{len(self.failed) - retryable} failures are permanent: fix the items or "
                "the handler, then redrive(items)"
            )
        if not advice:
            advice.append("nothing left to do")
        lines.extend(f"  next: {a}" for a in advice)
        return "\n".join(lines)
