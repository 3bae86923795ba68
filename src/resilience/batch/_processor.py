"""Checkpointed batches: process many items, record each outcome, resume after a crash.

One pass over the items (:class:`_Pass`) does the bookkeeping: which items to skip,
what to record, when to commit a checkpoint, when to stop. The sync and async shells
differ only in how one item is processed and how many run at once.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import AsyncIterable, Callable, Iterable, Sized
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import Field

from resilience._breaker.breaker import CircuitBreaker
from resilience._breaker.errors import CircuitOpenError
from resilience._breaker.registry import BreakerRegistry
from resilience._classify.classifier import Classification, Classifier, FailureKind, PartialFailure
from resilience._core.clock import SYSTEM_CLOCK, Clock
from resilience._core.log import log_event
from resilience._core.options import Options
from resilience._core.text import safe_str
from resilience._retry.policy import RetryPolicy, _Run
from resilience.batch._checkpoint import (
    DEFERRED,
    DONE,
    FAILED,
    CheckpointStore,
    ItemKey,
    ItemRecord,
    JobLeases,
    LeaseLostError,
    MemoryCheckpointStore,
)

__all__ = ["BatchProcessor", "BatchProgress", "BatchResult", "ItemFailure"]

logger = logging.getLogger("resilience")

_RETRYABLE: Final = FailureKind.RETRYABLE
_PERMANENT: Final = FailureKind.PERMANENT
_PARTIAL: Final = FailureKind.PARTIAL
_KINDS: Final = {kind.value: kind for kind in FailureKind}
_MIN_ITEMS_FOR_RATE: Final = 20
"""max_failure_rate is judged once this many items were processed in the run."""


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
class BatchResult:
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
        for failure in self.failed[:10]:
            c = failure.classification
            lines.append(
                f"  failed {failure.key!r} after {failure.attempts} attempt"
                f"{'s' if failure.attempts != 1 else ''} [{c.kind.name}: {c.reason}]: "
                f"{failure.error}"
            )
        if len(self.failed) > 10:  # noqa: PLR2004
            lines.append(f"  ... and {len(self.failed) - 10} more failures")
        advice = []
        if self.aborted:
            advice.append("fix the cause, then run the job again: it resumes where it stopped")
        if self.deferred:
            advice.append(
                f"{len(self.deferred)} items waited for an open circuit: run the job again "
                "(or redrive) once the remote is back"
            )
        retryable = sum(1 for f in self.failed if f.classification.kind is not _PERMANENT)
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


class _BatchConfig(Options):
    job: str = Field(min_length=1)
    checkpoint_every: int = Field(default=100, ge=1)
    checkpoint_seconds: float | None = Field(default=None, gt=0)
    max_failures: int | None = Field(default=None, ge=0)
    max_failure_rate: float | None = Field(default=None, gt=0, le=1)
    concurrency: int = Field(default=1, ge=1)
    lease: float = Field(default=60.0, gt=0)


Handler = Callable[[Any], object]
Progress = Callable[[BatchProgress], object]


class BatchProcessor:
    """Runs ``handler`` over many items, checkpointing each outcome so a re-run resumes.

    Every item has a stable key (``key(item)``; str and int items are their own).
    Outcomes are committed to ``store`` every ``checkpoint_every`` items (or
    ``checkpoint_seconds``) and when the run ends, however it ends. A re-run of the same
    job skips the items recorded done or permanently failed and processes the rest; a
    crash loses at most the uncommitted tail, which is processed again (at least once:
    make the handler idempotent).

    Args:
        job: The job's name in the store; the same name resumes the same job.
        handler: Called with each item; sync for :meth:`run`, async for :meth:`arun`.
            It may raise :class:`PartialFailure` for an item made of sub-items.
        store: Where checkpoints go; a :class:`MemoryCheckpointStore` by default (it
            does not survive the process: use :class:`SQLiteCheckpointStore` for that).
        key: The item's key, a str or int, stable across runs.
        checkpoint_every: Commit after this many outcomes.
        checkpoint_seconds: Also commit when this long has passed since the last one.
        retry: Retries RETRYABLE failures of an item.
        breaker: A :class:`CircuitBreaker`, or a :class:`BreakerRegistry` with
            ``remote``; while the circuit is open, items are deferred, not failed.
        remote: With a registry: the remote of an item, ``remote(item)``.
        classifier: Sorts failures; the retry policy's, or :meth:`Classifier.default`.
        max_failures: Stop the run once more items than this have failed in it.
        max_failure_rate: Stop the run once more than this share of its processed
            items failed (judged from the 20th item on).
        concurrency: Items processed at once (threads for :meth:`run`, tasks for
            :meth:`arun`).
        progress: Called with a :class:`BatchProgress` after each item; or ``"tqdm"``
            for a progress bar (the ``progress`` extra) that starts where the job
            resumed.
        lease: With a store that several workers share (one that implements
            :class:`JobLeases`), seconds a worker's hold on the job lasts unless renewed;
            it is renewed at every checkpoint and a third of the way through each lease.
            While one worker runs the job, another's ``run`` raises
            :class:`JobBusyError`; a dead worker's job is free once its lease expires.
        clock: Time source for durations and ``checkpoint_seconds``.
    """

    def __init__(
        self,
        job: str,
        handler: Handler,
        *,
        store: CheckpointStore | None = None,
        key: Callable[[Any], ItemKey] | None = None,
        checkpoint_every: int = 100,
        checkpoint_seconds: float | None = None,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | BreakerRegistry | None = None,
        remote: Callable[[Any], str] | None = None,
        classifier: Classifier | None = None,
        max_failures: int | None = None,
        max_failure_rate: float | None = None,
        concurrency: int = 1,
        progress: Progress | str | None = None,
        lease: float = 60.0,
        clock: Clock | None = None,
    ) -> None:
        self._config = _BatchConfig(
            job=job,
            checkpoint_every=checkpoint_every,
            checkpoint_seconds=checkpoint_seconds,
            max_failures=max_failures,
            max_failure_rate=max_failure_rate,
            concurrency=concurrency,
            lease=lease,
        )
        if not callable(handler):
            raise TypeError(f"BatchProcessor handler must be callable, got {handler!r}")
        if key is not None and not callable(key):
            raise TypeError(f"BatchProcessor key must be a function of the item, got {key!r}")
        if store is not None and not isinstance(store, CheckpointStore):
            raise TypeError(
                f"BatchProcessor store must implement CheckpointStore (load, commit, "
                f"forget, close), got {type(store).__name__}"
            )
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError(f"BatchProcessor retry must be a RetryPolicy, got {retry!r}")
        if isinstance(breaker, BreakerRegistry):
            if remote is None or not callable(remote):
                raise TypeError(
                    "BatchProcessor(breaker=<BreakerRegistry>) needs remote=: a function "
                    "of the item that returns its remote's name"
                )
        elif breaker is not None and not isinstance(breaker, CircuitBreaker):
            raise TypeError(
                "BatchProcessor breaker must be a CircuitBreaker or a BreakerRegistry, "
                f"got {breaker!r}"
            )
        self._job = job
        self._handler = handler
        self._store: CheckpointStore = store if store is not None else MemoryCheckpointStore()
        self._key = key
        self._retry = retry
        self._breaker = breaker
        self._remote = remote
        if classifier is None:
            classifier = retry.classifier if retry is not None else Classifier.default()
        self._classifier = classifier
        self._progress = _make_progress(progress)
        self._pass: _Pass | None = None  # the current or last run, for snapshot()
        self._clock = clock if clock is not None else SYSTEM_CLOCK
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    @property
    def job(self) -> str:
        """The job's name."""
        return self._job

    @property
    def store(self) -> CheckpointStore:
        """Where the job's checkpoints are."""
        return self._store

    def __repr__(self) -> str:
        return f"BatchProcessor({self._job!r}, store={self._store!r})"

    # ------------------------------------------------------------------ sync

    def run(self, items: Iterable[Any]) -> BatchResult:
        """Process the items not yet done; commit as it goes; return what happened."""
        return self._run(items, redrive=False)

    def redrive(self, items: Iterable[Any]) -> BatchResult:
        """Process only the items recorded failed or deferred; skip every other."""
        return self._run(items, redrive=True)

    def forget(self) -> None:
        """Drop every checkpoint of the job: the next run starts from scratch."""
        self._store.forget(self._job)

    def records(self) -> dict[ItemKey, ItemRecord]:
        """What the store holds for the job, by key."""
        return self._store.load(self._job)

    def snapshot(self) -> BatchProgress | None:
        """Where the current run is (or how the last one ended); None before any run."""
        run = self._pass
        return run.snapshot() if run is not None else None

    def _run(self, items: Iterable[Any], *, redrive: bool) -> BatchResult:
        run = self._pass = _Pass(self, items, redrive=redrive)
        concurrency = self._config.concurrency
        try:
            if concurrency == 1:
                for item in items:
                    key = run.admit(item)
                    if key is not None:
                        run.finish(self._process(item, key))
                        if run.stopped:
                            break
            else:
                self._run_threads(run, items, concurrency)
        finally:
            run.close()  # what finished is kept, however the run ends
        return run.finished()

    def _run_threads(self, run: _Pass, items: Iterable[Any], concurrency: int) -> None:
        with ThreadPoolExecutor(concurrency, thread_name_prefix=f"batch-{self._job}") as pool:
            in_flight: set[Future[_Outcome]] = set()
            try:
                for item in items:
                    key = run.admit(item)
                    if key is None:
                        continue
                    in_flight.add(pool.submit(self._process, item, key))
                    if len(in_flight) >= concurrency:
                        done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                        _finish_all(run, done)
                        if run.stopped:
                            break
            finally:
                # Items already started finish and are recorded, whatever stopped the loop.
                _finish_all(run, in_flight)

    def _process(self, item: Any, key: ItemKey) -> _Outcome:  # noqa: ANN401 - items are the user's
        """Run the handler on one item, with retries, through its breaker."""
        retry = self._retry
        attempt_run: _Run | None = None
        # A deadline counts from the start of the first attempt, as in every other form.
        start = retry._begin() if retry is not None else None
        attempts = 0
        while True:
            breaker = self._breaker_for(item)
            attempts += 1
            try:
                if breaker is None:
                    self._handler(item)
                else:
                    breaker.call(self._handler, item)
            except CircuitOpenError as exc:
                return _deferred(key, attempts - 1, exc)
            except Exception as exc:
                verdict = self._classifier.classify(exc)
                if verdict.kind is _RETRYABLE and retry is not None:
                    if attempt_run is None:
                        attempt_run = _Run(retry, start, self._handler, (item,), {})
                    delay = attempt_run.next_delay(exc, self._classifier)
                    if delay is not None:
                        if delay:
                            retry._clock.sleep(delay)
                        continue
                return _failed(key, attempts, exc, verdict, self._classifier)
            return ItemRecord(key, DONE, attempts=attempts), None

    # ----------------------------------------------------------------- async

    async def arun(self, items: Iterable[Any] | AsyncIterable[Any]) -> BatchResult:
        """:meth:`run` for an async handler; ``items`` may be an async iterable."""
        return await self._arun(items, redrive=False)

    async def aredrive(self, items: Iterable[Any] | AsyncIterable[Any]) -> BatchResult:
        """:meth:`redrive` for an async handler."""
        return await self._arun(items, redrive=True)

    async def _arun(
        self, items: Iterable[Any] | AsyncIterable[Any], *, redrive: bool
    ) -> BatchResult:
        run = self._pass = _Pass(self, items, redrive=redrive)
        concurrency = self._config.concurrency
        in_flight: set[asyncio.Task[_Outcome]] = set()
        try:
            async for item in _each(items):
                key = run.admit(item)
                if key is None:
                    continue
                if concurrency == 1:
                    run.finish(await self._aprocess(item, key))
                else:
                    in_flight.add(asyncio.ensure_future(self._aprocess(item, key)))
                    if len(in_flight) >= concurrency:
                        done, in_flight = await asyncio.wait(
                            in_flight, return_when=asyncio.FIRST_COMPLETED
                        )
                        for task in done:
                            run.finish(task.result())
                if run.stopped:
                    break
            while in_flight:
                done, in_flight = await asyncio.wait(
                    in_flight, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    run.finish(task.result())
        finally:
            for task in in_flight:  # cancelled or failed: unfinished items are not recorded
                task.cancel()
            for task in in_flight:
                if task.done() and not task.cancelled() and task.exception() is None:
                    run.finish(task.result())
            run.close()
        return run.finished()

    async def _aprocess(self, item: Any, key: ItemKey) -> _Outcome:  # noqa: ANN401
        retry = self._retry
        attempt_run: _Run | None = None
        # A deadline counts from the start of the first attempt, as in every other form.
        start = retry._begin() if retry is not None else None
        attempts = 0
        handler = self._handler
        while True:
            breaker = self._breaker_for(item)
            attempts += 1
            try:
                if breaker is None:
                    await handler(item)  # type: ignore[misc]
                else:
                    await breaker.acall(handler, item)  # type: ignore[arg-type]
            except CircuitOpenError as exc:
                return _deferred(key, attempts - 1, exc)
            except Exception as exc:
                verdict = self._classifier.classify(exc)
                if verdict.kind is _RETRYABLE and retry is not None:
                    if attempt_run is None:
                        attempt_run = _Run(retry, start, self._handler, (item,), {})
                    delay = attempt_run.next_delay(exc, self._classifier)
                    if delay is not None:
                        if delay:
                            await retry._clock.asleep(delay)
                        continue
                return _failed(key, attempts, exc, verdict, self._classifier)
            return ItemRecord(key, DONE, attempts=attempts), None

    # ---------------------------------------------------------------- shared

    def _breaker_for(self, item: Any) -> CircuitBreaker | None:  # noqa: ANN401
        breaker = self._breaker
        if isinstance(breaker, BreakerRegistry):
            return breaker.get(self._remote(item))  # type: ignore[misc]
        return breaker

    def _key_of(self, item: Any) -> ItemKey:  # noqa: ANN401
        key = self._key(item) if self._key is not None else item
        if isinstance(key, str) or (isinstance(key, int) and not isinstance(key, bool)):
            return key
        if self._key is None:
            raise TypeError(
                f"batch job {self._job!r}: item {item!r} of type {type(item).__name__} has "
                "no key: str and int items are their own keys; for others pass key=, a "
                "function that returns a stable str or int per item (an id, a path)"
            )
        raise TypeError(
            f"batch job {self._job!r}: key({item!r}) returned {key!r}; keys must be str "
            "or int, stable across runs"
        )


_Outcome = tuple[ItemRecord, "ItemFailure | None"]


def _error_text(exc: BaseException) -> str:
    message = safe_str(exc)  # the caller's exception: its str may raise, or run to megabytes
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _deferred(key: ItemKey, attempts: int, exc: CircuitOpenError) -> _Outcome:
    return ItemRecord(key, DEFERRED, reason=str(exc), attempts=attempts), None


def _failed(
    key: ItemKey,
    attempts: int,
    exc: Exception,
    verdict: Classification,
    classifier: Classifier,
) -> _Outcome:
    details: dict[str, str] | None = None
    if isinstance(exc, PartialFailure):
        details = {}
        for sub, sub_error in exc.failed.items():
            sub_verdict = classifier.classify(sub_error)
            details[str(sub)] = f"{sub_verdict.kind.name}: {_error_text(sub_error)}"
    error = _error_text(exc)
    record = ItemRecord(
        key,
        FAILED,
        kind=verdict.kind.value,
        reason=verdict.reason,
        attempts=attempts,
        error=error,
        details=json.dumps(details) if details is not None else None,
    )
    return record, ItemFailure(key, verdict, attempts, error, details)


def _skips(record: ItemRecord | None, *, redrive: bool) -> bool:
    """Whether a run passes over an item with this record."""
    if redrive:
        return record is None or record.status == DONE
    return record is not None and (
        record.status == DONE or (record.status == FAILED and record.kind == _PERMANENT.value)
    )


async def _each(items: Iterable[Any] | AsyncIterable[Any]) -> Any:  # noqa: ANN401
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item


def _finish_all(run: _Pass, futures: Iterable[Future[_Outcome]]) -> None:
    """Record every finished item, even when one of them raised; then raise that."""
    error: BaseException | None = None
    for future in futures:
        try:
            run.finish(future.result())
        except BaseException as exc:
            error = error or exc
    if error is not None:
        raise error


class _Pass:
    """The bookkeeping of one run: skips, records, checkpoints, thresholds, counts."""

    def __init__(self, processor: BatchProcessor, items: object, *, redrive: bool) -> None:
        self.processor = processor
        self.config = processor._config
        self.clock = processor._clock
        self.redrive = redrive
        store = processor._store
        self.lease = _Lease(store, processor) if isinstance(store, JobLeases) else None
        try:
            self.state = store.load(processor._job)
        except BaseException:
            if self.lease is not None:
                self.lease.release()
            raise
        self.resumed = sum(1 for r in self.state.values() if _skips(r, redrive=False))
        self.sized_total = len(items) if isinstance(items, Sized) else None
        self.seen: set[ItemKey] = set()
        self.pending: list[ItemRecord] = []
        self.total = self.skipped = self.processed = self.succeeded = 0
        self.failures: list[ItemFailure] = []
        self.deferred: list[ItemKey] = []
        self.reason: str | None = None
        self.start = self.last_commit = self.clock.monotonic()
        self.progress = processor._progress
        self.running = True

    @property
    def stopped(self) -> bool:
        if self.reason is None and self.lease is not None and self.lease.lost is not None:
            self.reason = f"{self.lease.lost}; another worker runs the job now"
        return self.reason is not None

    def admit(self, item: Any) -> ItemKey | None:  # noqa: ANN401
        """The key of an item to process now, or None if the run passes over it."""
        key = self.processor._key_of(item)
        if key in self.seen:
            raise ValueError(
                f"batch job {self.processor._job!r}: key {key!r} appears twice; every item "
                "needs its own stable key (pass key= that tells these items apart)"
            )
        self.seen.add(key)
        self.total += 1
        record = self.state.get(key)
        if (record is not None or self.redrive) and _skips(record, redrive=self.redrive):
            self.skipped += 1
            if self.progress is not None:
                self.report()
            return None
        return key

    def finish(self, outcome: _Outcome) -> None:
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
        if self.lease is not None:
            try:
                self.lease.commit(self.pending)
            except LeaseLostError as exc:
                # Another worker runs the job now and redoes what this one did not commit.
                self.lease.lost = str(exc)
            self.pending = []
        elif self.pending:
            self.processor._store.commit(self.processor._job, self.pending)
            self.pending = []
        self.last_commit = self.clock.monotonic()

    def close(self) -> None:
        try:
            self.commit()
        finally:
            self.running = False
            if self.lease is not None:
                self.lease.release()

    def report(self) -> None:
        assert self.progress is not None  # noqa: S101 - callers check
        self.progress(self.snapshot())

    def snapshot(self) -> BatchProgress:
        return BatchProgress(
            job=self.processor._job,
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
            job=self.processor._job,
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


class _Lease:
    """A worker's hold on a job in a shared store, renewed on a thread while it runs."""

    def __init__(self, store: JobLeases, processor: BatchProcessor) -> None:
        self.store, self.job = store, processor._job
        self.ttl = processor._config.lease
        self.token = store.acquire(self.job, owner=processor._owner, ttl=self.ttl)
        self.lost: str | None = None
        self.lock = threading.Lock()  # a commit and a renewal never overlap
        self.stop = threading.Event()
        # Real time on purpose: the lease expires in the store's time, not the job's clock.
        threading.Thread(target=self.keep, name=f"lease-{self.job}", daemon=True).start()

    def keep(self) -> None:
        while not self.stop.wait(self.ttl / 3):
            try:
                with self.lock:
                    if self.stop.is_set():  # released meanwhile
                        return
                    self.store.renew(self.job, self.token, ttl=self.ttl)
            except LeaseLostError as exc:
                self.lost = str(exc)
                return
            except Exception as exc:
                logger.warning(
                    "batch job %r: could not renew its lease (%s: %s); retrying in %g s. "
                    "If the lease lapses another worker may take the job over, and this "
                    "worker's next checkpoint is then refused.",
                    self.job,
                    type(exc).__name__,
                    exc,
                    self.ttl / 3,
                )

    def commit(self, records: list[ItemRecord]) -> None:
        with self.lock:
            self.store.commit_leased(self.job, records, token=self.token, ttl=self.ttl)

    def release(self) -> None:
        with self.lock:
            self.stop.set()
            self.store.release(self.job, self.token)


def _make_progress(progress: Progress | str | None) -> Progress | None:
    if progress is None or callable(progress):
        return progress
    if progress == "tqdm":
        return _TqdmProgress()
    raise TypeError(
        f"BatchProcessor progress must be a callable taking a BatchProgress, or 'tqdm'; "
        f"got {progress!r}"
    )


class _TqdmProgress:
    """A tqdm bar that starts at the items done before this run."""

    def __init__(self) -> None:
        try:
            tqdm = importlib.import_module("tqdm")  # an optional extra, loaded when asked for
        except ImportError as exc:
            raise ImportError(
                "progress='tqdm' needs tqdm: pip install 'resilience[progress]'"
            ) from exc
        self._tqdm = tqdm.tqdm
        self._bar: Any = None
        self._shown = 0

    def __call__(self, event: BatchProgress) -> None:
        if self._bar is None:
            self._bar = self._tqdm(
                total=event.total, initial=event.resumed, desc=event.job, unit="item"
            )
            self._shown = event.resumed
        # Items done before usually come first: while they are skipped the bar stays
        # at the resumed position, then moves with each item processed.
        position = max(event.resumed, event.skipped + event.processed)
        if position > self._shown:
            self._bar.update(position - self._shown)
            self._shown = position
        if event.total is not None and position >= event.total:
            self._bar.close()
