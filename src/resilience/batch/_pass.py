"""One pass of a batch job over its items: what to skip, record, commit, and when to stop.

The processor's sync and async shells differ only in how one item is processed and how
many run at once; this bookkeeping is the same for both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sized
from concurrent.futures import Future
from typing import Any, Final

from resilience._classify.verdict import PERMANENT
from resilience._core.clock import Clock
from resilience._core.log import log_event
from resilience.batch._checkpoint import (
    DEFERRED,
    DONE,
    FAILED,
    CheckpointStore,
    ItemKey,
    ItemRecord,
    JobLeases,
    LeaseLostError,
)
from resilience.batch._config import BatchConfig
from resilience.batch._lease import Lease
from resilience.batch._outcome import Outcome
from resilience.batch._progress import Progress
from resilience.batch._results import BatchProgress, BatchResult, ItemFailure

__all__ = ["Pass", "skips"]

_MIN_ITEMS_FOR_RATE: Final = 20
"""max_failure_rate is judged once this many items were processed in the run."""


def skips(record: ItemRecord | None, *, redrive: bool) -> bool:
    """Whether a run passes over an item with this record."""
    if redrive:
        return record is None or record.status == DONE
    return record is not None and (
        record.status == DONE or (record.status == FAILED and record.kind == PERMANENT.value)
    )


class Pass:
    """The bookkeeping of one run: skips, records, checkpoints, thresholds, counts.

    Made when a run starts: it takes the job's lease (from a store that implements
    :class:`JobLeases`) and loads the job's records; :meth:`close` commits what is
    pending and gives the lease up, however the run ends.

    Args:
        job: The job's name in the store.
        store: Where the job's checkpoints are.
        config: The processor's validated configuration.
        clock: Time source for durations and ``checkpoint_seconds``.
        key_of: The key of an item (raises TypeError for an item without one).
        progress: Called with a :class:`BatchProgress` after each item, if given.
        owner: Who runs the job, for a shared store's lease.
        items: The run's items, to tell their number when they know it.
        redrive: Process only the items recorded failed or deferred.
    """

    def __init__(
        self,
        *,
        job: str,
        store: CheckpointStore,
        config: BatchConfig,
        clock: Clock,
        key_of: Callable[[Any], ItemKey],
        progress: Progress | None,
        owner: str,
        items: object,
        redrive: bool,
    ) -> None:
        self.job = job
        self.store = store
        self.config = config
        self.clock = clock
        self.key_of = key_of
        self.redrive = redrive
        self.lease = (
            Lease(store, job=job, owner=owner, ttl=config.lease)
            if isinstance(store, JobLeases)
            else None
        )
        try:
            self.state = store.load(job)
        except BaseException:
            if self.lease is not None:
                self.lease.release()
            raise
        self.resumed = sum(1 for r in self.state.values() if skips(r, redrive=False))
        self.sized_total = len(items) if isinstance(items, Sized) else None
        self.seen: set[ItemKey] = set()
        self.pending: list[ItemRecord] = []
        self.total = self.skipped = self.processed = self.succeeded = 0
        self.failures: list[ItemFailure] = []
        self.deferred: list[ItemKey] = []
        self.reason: str | None = None
        self.start = self.last_commit = self.clock.monotonic()
        self.progress = progress
        self.running = True

    @property
    def stopped(self) -> bool:
        """Whether the run must stop: a threshold was crossed, or the lease was lost."""
        if self.reason is None and self.lease is not None and self.lease.lost is not None:
            self.reason = f"{self.lease.lost}; another worker runs the job now"
        return self.reason is not None

    def admit(self, item: Any) -> ItemKey | None:  # noqa: ANN401
        """The key of an item to process now, or None if the run passes over it."""
        key = self.key_of(item)
        if key in self.seen:
            raise ValueError(
                f"batch job {self.job!r}: key {key!r} appears twice; every item "
                "needs its own stable key (pass key= that tells these items apart)"
            )
        self.seen.add(key)
        self.total += 1
        record = self.state.get(key)
        if (record is not None or self.redrive) and skips(record, redrive=self.redrive):
            self.skipped += 1
            if self.progress is not None:
                self.report()
            return None
        return key

    def finish(self, outcome: Outcome) -> None:
        """Record one processed item; checkpoint and judge the thresholds."""
        record, failure = outcome
        self.pending.append(record)
        self.processed += 1
        if record.status == DONE:
            self.succeeded += 1
        elif record.status == DEFERRED:
            self.deferred.append(record.key)
        elif failure is not None:
            self.failures.append(failure)
        config = self.config
        if config.max_failures is not None or config.max_failure_rate is not None:
            self.judge()
        if len(self.pending) >= config.checkpoint_every or (
            config.checkpoint_seconds is not None
            and self.clock.monotonic() - self.last_commit >= config.checkpoint_seconds
        ):
            self.commit()
        if self.progress is not None:
            self.report()

    def judge(self) -> None:
        """Stop the run if it failed more than ``max_failures`` or ``max_failure_rate``."""
        config = self.config
        failed = len(self.failures)
        if config.max_failures is not None and failed > config.max_failures:
            self.reason = (
                f"{failed} items failed, more than max_failures={config.max_failures}"
            )
        elif (
            config.max_failure_rate is not None
            and self.processed >= _MIN_ITEMS_FOR_RATE
            and failed > config.max_failure_rate * self.processed
        ):
            self.reason = (
                f"{failed} of {self.processed} processed items failed "
                f"({failed / self.processed:.0%}), more than "
                f"max_failure_rate={config.max_failure_rate:g}"
            )

    def commit(self) -> None:
        """Commit the pending records (renewing the lease with them)."""
        if self.lease is not None:
            try:
                self.lease.commit(self.pending)
            except LeaseLostError as exc:
                # Another worker runs the job now and redoes what this one did not commit.
                self.lease.lost = str(exc)
            self.pending = []
        elif self.pending:
            self.store.commit(self.job, self.pending)
            self.pending = []
        self.last_commit = self.clock.monotonic()

    def close(self) -> None:
        """Commit what is pending and give the lease up: the run is over."""
        try:
            self.commit()
        finally:
            self.running = False
            if self.lease is not None:
                self.lease.release()

    def report(self) -> None:
        """Tell the progress callback where the run is."""
        assert self.progress is not None  # noqa: S101 - callers check
        self.progress(self.snapshot())

    def snapshot(self) -> BatchProgress:
        """Where the run is (or how it ended)."""
        return BatchProgress(
            job=self.job,
            processed=self.processed,
            succeeded=self.succeeded,
            failed=len(self.failures),
            deferred=len(self.deferred),
            skipped=self.skipped,
            resumed=self.resumed,
            total=self.sized_total,
            running=self.running,
        )

    def finished(self) -> BatchResult:
        """The run's result, logged."""
        result = BatchResult(
            job=self.job,
            total=self.total,
            succeeded=self.succeeded,
            skipped=self.skipped,
            failed=tuple(self.failures),
            deferred=tuple(self.deferred),
            aborted=self.reason is not None,
            reason=self.reason,
            duration=self.clock.monotonic() - self.start,
            redrive=self.redrive,
            not_processed=self.total - self.skipped - self.processed,
        )
        log_event(result)
        return result

    def finish_all(self, futures: Iterable[Future[Outcome]]) -> None:
        """Record every finished item, even when one of them raised; then raise that."""
        error: BaseException | None = None
        for future in futures:
            try:
                self.finish(future.result())
            except BaseException as exc:
                error = error or exc
        if error is not None:
            raise error

