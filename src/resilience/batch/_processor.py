"""The batch processor: runs a handler over many items and checkpoints each outcome.

The bookkeeping of a run is one :class:`~resilience.batch._pass.Pass`; this module holds
the shells that feed it (sync and async, one item at a time or several at once) and the
processing of one item, with its retries and breaker.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import timedelta
from typing import Any, TypeAlias, cast

from resilience._breaker.breaker import CircuitBreaker
from resilience._breaker.errors import CircuitOpenError
from resilience._breaker.registry import BreakerRegistry
from resilience._breaker.remote import RemoteBreakers
from resilience._classify.classifier import Classifier
from resilience._core import drive
from resilience._core.clock import SYSTEM_CLOCK, Clock
from resilience._core.drive import Segment
from resilience._core.strategy import Strategy
from resilience._retry.policy import RetryPolicy
from resilience.batch._checkpoint import (
    DONE,
    CheckpointStore,
    ItemKey,
    ItemRecord,
    MemoryCheckpointStore,
)
from resilience.batch._config import BatchConfig
from resilience.batch._outcome import Outcome as _Outcome
from resilience.batch._outcome import deferred as _deferred
from resilience.batch._outcome import failed as _failed
from resilience.batch._pass import Pass
from resilience.batch._progress import Progress, make_progress
from resilience.batch._results import BatchProgress, BatchResult, ItemFailure

# The results are named here too, for the imports that still use this module's path.
__all__ = ["BatchProcessor", "BatchProgress", "BatchResult", "ItemFailure"]


Handler: TypeAlias = Callable[[Any], object]
"""Called with each item; a coroutine function for :meth:`BatchProcessor.arun`."""


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
            does not survive the process: use
            :class:`~resilience.stores.SQLiteCheckpointStore` for that).
        key: The item's key, a str or int, stable across runs.
        checkpoint_every: Commit after this many outcomes.
        checkpoint_seconds: Also commit when this long has passed since the last one
            (seconds, or a :class:`~datetime.timedelta`).
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
            :class:`JobLeases`), how long a worker's hold on the job lasts unless renewed
            (seconds, or a :class:`~datetime.timedelta`);
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
        checkpoint_seconds: float | timedelta | None = None,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | BreakerRegistry | None = None,
        remote: Callable[[Any], str] | None = None,
        classifier: Classifier | None = None,
        max_failures: int | None = None,
        max_failure_rate: float | None = None,
        concurrency: int = 1,
        progress: Progress | str | None = None,
        lease: float | timedelta = 60.0,
        clock: Clock | None = None,
    ) -> None:
        # Validated from a mapping: the durations may be timedeltas, stored as seconds.
        self._config = BatchConfig.model_validate(
            {
                "job": job,
                "checkpoint_every": checkpoint_every,
                "checkpoint_seconds": checkpoint_seconds,
                "max_failures": max_failures,
                "max_failure_rate": max_failure_rate,
                "concurrency": concurrency,
                "lease": lease,
            }
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
        self._segment = _item_segment(retry, breaker, remote, classifier)
        self._progress = make_progress(progress)
        self._pass: Pass | None = None  # the current or last run, for snapshot()
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

    def _start(self, items: object, *, redrive: bool) -> Pass:
        """Begin a run: its lease taken, the job's records loaded."""
        run = self._pass = Pass(
            job=self._job,
            store=self._store,
            config=self._config,
            clock=self._clock,
            key_of=self._key_of,
            progress=self._progress,
            owner=self._owner,
            items=items,
            redrive=redrive,
        )
        return run

    def _run(self, items: Iterable[Any], *, redrive: bool) -> BatchResult:
        run = self._start(items, redrive=redrive)
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

    def _run_threads(self, run: Pass, items: Iterable[Any], concurrency: int) -> None:
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
                        run.finish_all(done)
                        if run.stopped:
                            break
            finally:
                # Items already started finish and are recorded, whatever stopped the loop.
                run.finish_all(in_flight)

    def _process(self, item: Any, key: ItemKey) -> _Outcome:  # noqa: ANN401 - items are the user's
        """Run the handler on one item through the retry and the breaker: its outcome."""
        handler = self._handler
        if self._retry is None:  # one attempt at most: nothing to count, maybe no strategy
            segment = self._segment
            try:
                if segment.strategies:
                    drive.call(segment, handler, (item,), {}, "BatchProcessor")
                else:
                    handler(item)
            except CircuitOpenError as exc:
                return _deferred(key, 0, exc)
            except Exception as exc:
                return _failed(key, 1, exc, self._classifier.classify(exc), self._classifier)
            return ItemRecord(key, DONE, attempts=1), None
        calls = 0

        def attempt(item: Any) -> object:  # noqa: ANN401
            nonlocal calls
            calls += 1
            return handler(item)

        try:
            drive.call(self._segment, attempt, (item,), {}, "BatchProcessor")
        except CircuitOpenError as exc:
            return _deferred(key, calls, exc)
        except Exception as exc:
            return _failed(key, calls, exc, self._classifier.classify(exc), self._classifier)
        return ItemRecord(key, DONE, attempts=calls), None

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
        run = self._start(items, redrive=redrive)
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
        handler = cast("Callable[[Any], Awaitable[object]]", self._handler)
        calls = 0

        async def attempt(item: Any) -> object:  # noqa: ANN401
            nonlocal calls
            calls += 1
            return await handler(item)

        try:
            await drive.acall(self._segment, attempt, (item,), {})
        except CircuitOpenError as exc:
            return _deferred(key, calls, exc)
        except Exception as exc:
            return _failed(key, calls, exc, self._classifier.classify(exc), self._classifier)
        return ItemRecord(key, DONE, attempts=calls), None

    # ---------------------------------------------------------------- shared

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


def _item_segment(
    retry: RetryPolicy | None,
    breaker: CircuitBreaker | BreakerRegistry | None,
    remote: Callable[[Any], str] | None,
    classifier: Classifier,
) -> Segment:
    """The strategies of each item: the retry (judging by the batch's classifier), the breaker."""
    strategies: list[Strategy] = []
    if retry is not None:
        if classifier is not retry.classifier:
            retry = retry.replace(classifier=classifier)
        strategies.append(retry)
    if isinstance(breaker, BreakerRegistry):
        strategies.append(RemoteBreakers(breaker, cast("Callable[..., str]", remote)))
    elif breaker is not None:
        strategies.append(breaker)
    return Segment(strategies, retry.clock if retry is not None else SYSTEM_CLOCK)


async def _each(items: Iterable[Any] | AsyncIterable[Any]) -> Any:  # noqa: ANN401
    """The items one by one, whether the iterable is sync or async."""
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item
