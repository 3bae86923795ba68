"""BatchProcessor and the checkpoint stores: semantics, bad input, threads and asyncio."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from resilience import (
    Backoff,
    BatchProcessor,
    BatchProgress,
    BreakerConfig,
    BreakerRegistry,
    CheckpointError,
    CheckpointStore,
    CircuitBreaker,
    FailureKind,
    ItemRecord,
    MemoryCheckpointStore,
    PartialFailure,
    RetryPolicy,
    SQLiteCheckpointStore,
)
from resilience.testing import FakeClock

NO_WAIT = Backoff(initial=0, jitter="none")


class Recorder:
    """A handler that records each item and fails the ones it is told to."""

    def __init__(self, fail: dict[object, BaseException] | None = None) -> None:
        self.fail = fail or {}
        self.seen: list[object] = []
        self.lock = threading.Lock()

    def __call__(self, item: object) -> None:
        with self.lock:
            self.seen.append(item)
        error = self.fail.get(item) if isinstance(item, str | int) else None
        if error is not None:
            raise error


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SQLiteCheckpointStore]:
    store = SQLiteCheckpointStore(tmp_path / "checkpoints.db")
    yield store
    store.close()


# ------------------------------------------------------------------- semantics


def test_rerun_skips_done_and_permanent_and_retries_the_rest(
    sqlite_store: SQLiteCheckpointStore,
) -> None:
    """A second run passes over done and permanently failed items only."""
    handler = Recorder({3: ValueError("bad"), 5: TimeoutError("slow")})
    processor = BatchProcessor("job", handler, store=sqlite_store, checkpoint_every=2)
    first = processor.run(range(8))
    assert (first.total, first.succeeded, first.skipped) == (8, 6, 0)
    assert [(f.key, f.classification.kind) for f in first.failed] == [
        (3, FailureKind.PERMANENT),
        (5, FailureKind.RETRYABLE),
    ]
    handler.fail.clear()
    handler.seen.clear()
    second = processor.run(range(8))
    assert handler.seen == [5]
    assert (second.succeeded, second.skipped, second.failed) == (1, 7, ())


def test_a_generator_is_read_once_and_string_keys_work() -> None:
    """Items may come from a one-shot generator; str items are their own keys."""
    handler = Recorder()

    def files() -> Iterator[str]:
        yield from ("a.txt", "b.txt", "c.txt")

    result = BatchProcessor("gen", handler).run(files())
    assert handler.seen == ["a.txt", "b.txt", "c.txt"]
    assert result.succeeded == 3


def test_key_function_for_other_items() -> None:
    """Items that are not str or int need key=; it picks a stable key."""
    handler = Recorder()
    items = [{"id": 1}, {"id": 2}]
    with pytest.raises(TypeError, match="pass key="):
        BatchProcessor("dicts", handler).run(items)
    processor = BatchProcessor("dicts", handler, key=lambda item: item["id"])
    assert processor.run(items).succeeded == 2
    assert set(processor.records()) == {1, 2}
    with pytest.raises(TypeError, match="keys must be str or int"):
        BatchProcessor("bad", handler, key=lambda item: (item["id"],)).run(items)  # type: ignore[arg-type, return-value]


def test_str_and_int_keys_stay_distinct_in_sqlite(sqlite_store: SQLiteCheckpointStore) -> None:
    """The key 5 and the key "5" are two items, in memory and on disk."""
    processor = BatchProcessor("mixed", Recorder(), store=sqlite_store)
    assert processor.run([5, "5"]).succeeded == 2
    assert set(sqlite_store.load("mixed")) == {5, "5"}


def test_duplicate_keys_are_refused() -> None:
    """Two items with one key would make one of them invisible: that is an error."""
    with pytest.raises(ValueError, match="appears twice"):
        BatchProcessor("dup", Recorder()).run(["a", "b", "a"])


def test_retryable_failures_are_retried_and_attempts_recorded(fake_clock: FakeClock) -> None:
    """A RETRYABLE failure goes through the retry policy; the record keeps the attempts."""
    clock = fake_clock
    tries: dict[int, int] = {}

    def flaky(item: int) -> None:
        tries[item] = tries.get(item, 0) + 1
        if item == 1 or tries[item] < 2:
            raise ConnectionResetError(f"reset {item}")

    processor = BatchProcessor(
        "retry", flaky, retry=RetryPolicy(attempts=3, backoff=NO_WAIT, clock=clock)
    )
    result = processor.run([0, 1, 2])
    assert result.succeeded == 2
    (failure,) = result.failed
    assert (failure.key, failure.attempts) == (1, 3)
    assert failure.error == "ConnectionResetError: reset 1"
    assert processor.records()[0].attempts == 2


def test_partial_failure_records_its_sub_items() -> None:
    """A handler's PartialFailure is kept with each failed sub-item and why."""

    def upload(item: str) -> None:
        raise PartialFailure(
            succeeded=["part-1"],
            failed={"part-2": TimeoutError("slow"), "part-3": PermissionError(13, "no")},
        )

    processor = BatchProcessor("parts", upload)
    (failure,) = processor.run(["file"]).failed
    assert failure.classification.kind is FailureKind.PARTIAL
    assert failure.details == {
        "part-2": "RETRYABLE: TimeoutError: slow",
        "part-3": "PERMANENT: PermissionError: [Errno 13] no",
    }
    record = processor.records()["file"]
    assert record.kind == "partial"
    assert json.loads(record.details or "{}") == failure.details


def test_open_circuit_defers_items_and_a_rerun_takes_them(fake_clock: FakeClock) -> None:
    """Items whose remote's circuit is open are deferred, not failed, and run later."""
    clock = fake_clock
    registry = BreakerRegistry(BreakerConfig(failure_threshold=1, open_for=60), clock=clock)
    handler = Recorder({"s3/a": ConnectionRefusedError("down")})
    processor = BatchProcessor(
        "copy",
        handler,
        breaker=registry,
        remote=lambda item: item.split("/")[0],
        clock=clock,
    )
    items = ["s3/a", "s3/b", "s3/c", "gdrive/a"]
    first = processor.run(items)
    assert first.deferred == ("s3/b", "s3/c")
    assert [f.key for f in first.failed] == ["s3/a"]
    assert first.succeeded == 1
    assert "open circuit" in first.summary()
    handler.fail.clear()
    handler.seen.clear()
    clock.advance(60)
    second = processor.run(items)
    assert handler.seen == ["s3/a", "s3/b", "s3/c"]
    assert (second.succeeded, second.skipped, second.deferred) == (3, 1, ())


def test_max_failures_stops_the_run_and_the_next_run_resumes() -> None:
    """Exceeding max_failures aborts with a reason; the next run resumes."""
    handler = Recorder({i: PermissionError(13, "denied") for i in range(2, 6)})
    processor = BatchProcessor("limit", handler, max_failures=2, checkpoint_every=100)
    first = processor.run(range(20))
    assert first.aborted
    assert first.reason == "3 items failed, more than max_failures=2"
    assert first.not_processed == 0
    assert "STOPPED" in first.summary()
    assert len(processor.records()) == 5  # committed although the run stopped early
    handler.fail.clear()
    second = processor.run(range(20))
    assert not second.aborted
    assert second.skipped == 5  # 0, 1 done; 2, 3, 4 permanently failed
    assert second.succeeded == 15


def test_max_failure_rate_is_judged_from_the_twentieth_item() -> None:
    """More than max_failure_rate of processed items failing stops the run."""
    handler = Recorder({i: PermissionError(13, "denied") for i in range(0, 100, 2)})
    result = BatchProcessor("rate", handler, max_failure_rate=0.4).run(range(100))
    assert result.aborted
    assert result.total == 20
    assert "max_failure_rate=0.4" in (result.reason or "")


def test_redrive_processes_only_failed_and_deferred_items() -> None:
    """redrive() runs the unsuccessful items again, permanent ones included."""
    handler = Recorder({1: PermissionError(13, "denied"), 2: TimeoutError()})
    processor = BatchProcessor("redrive", handler)
    processor.run(range(4))
    handler.fail.clear()
    handler.seen.clear()
    result = processor.redrive(range(6))
    assert handler.seen == [1, 2]
    assert result.redrive
    assert (result.succeeded, result.skipped) == (2, 4)
    processor.forget()
    assert processor.records() == {}


def test_checkpoint_seconds_commits_on_time(
    sqlite_store: SQLiteCheckpointStore, fake_clock: FakeClock
) -> None:
    """checkpoint_seconds commits when that long has passed, whatever the count."""
    clock = fake_clock
    committed: list[int] = []

    def slow(item: int) -> None:
        clock.advance(1)
        committed.append(len(sqlite_store.load("timed")))

    BatchProcessor(
        "timed",
        slow,
        store=sqlite_store,
        checkpoint_every=1000,
        checkpoint_seconds=2.5,
        clock=clock,
    ).run(range(6))
    assert committed == [0, 0, 0, 3, 3, 3]


def test_an_interrupted_run_keeps_what_finished(sqlite_store: SQLiteCheckpointStore) -> None:
    """KeyboardInterrupt mid-run commits the finished items before it propagates."""

    def handler(item: int) -> None:
        if item == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        BatchProcessor("ctrl-c", handler, store=sqlite_store, checkpoint_every=100).run(
            range(10)
        )
    assert set(sqlite_store.load("ctrl-c")) == set(range(7))


def test_progress_callback_sees_every_item() -> None:
    """The progress callback gets the counts after each item, starting from resumed."""
    events: list[BatchProgress] = []
    processor = BatchProcessor("progress", Recorder({2: ValueError()}), progress=events.append)
    processor.run([0, 1, 2])
    assert [(e.processed, e.succeeded, e.failed) for e in events] == [
        (1, 1, 0),
        (2, 2, 0),
        (3, 2, 1),
    ]
    assert events[-1].total == 3
    events.clear()
    processor.run([0, 1, 2, 3])
    assert events[0].resumed == 3
    assert events[-1].skipped == 3


def test_tqdm_bar_starts_at_the_resumed_position(capsys: pytest.CaptureFixture[str]) -> None:
    """progress="tqdm" draws a bar that starts where the job resumed."""
    store = MemoryCheckpointStore()
    BatchProcessor("bar", Recorder(), store=store).run(range(6))
    BatchProcessor("bar", Recorder(), store=store, progress="tqdm").run(range(10))
    err = capsys.readouterr().err
    assert "6/10" in err
    assert "10/10" in err


# ---------------------------------------------------------------- concurrency


def test_threads_process_every_item_once_with_concurrency(
    sqlite_store: SQLiteCheckpointStore,
) -> None:
    """concurrency=8 over threads: each item once, outcomes all recorded."""
    handler = Recorder({i: TimeoutError() for i in range(0, 500, 50)})
    processor = BatchProcessor(
        "threads", handler, store=sqlite_store, checkpoint_every=25, concurrency=8
    )
    result = processor.run(range(500))
    assert sorted(handler.seen) == list(range(500))  # type: ignore[type-var]
    assert (result.succeeded, len(result.failed)) == (490, 10)
    assert len(sqlite_store.load("threads")) == 500


def test_threads_run_items_at_the_same_time() -> None:
    """With concurrency=4, four handlers are in flight together."""
    barrier = threading.Barrier(4, timeout=10)

    def meet(item: int) -> None:
        barrier.wait()

    result = BatchProcessor("meet", meet, concurrency=4).run(range(8))
    assert result.succeeded == 8


async def test_async_path_with_bounded_concurrency() -> None:
    """arun runs async handlers, at most `concurrency` at once, over an async iterable."""
    running = 0
    most = 0

    async def handler(item: int) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0)
        running -= 1
        if item % 10 == 0:
            raise ConnectionResetError(item)

    async def items() -> AsyncIterator[int]:
        for i in range(100):
            yield i

    store = MemoryCheckpointStore()
    processor = BatchProcessor("async", handler, store=store, concurrency=5)
    result = await processor.arun(items())
    assert most == 5
    assert (result.succeeded, len(result.failed)) == (90, 10)
    again = await processor.arun(range(100))
    assert again.skipped == 90
    redriven = await processor.aredrive(range(100))
    assert redriven.total == 100


async def test_async_cancellation_keeps_what_finished() -> None:
    """Cancelling arun records the finished items and drops the unfinished."""
    store = MemoryCheckpointStore()
    gate = asyncio.Event()

    async def handler(item: int) -> None:
        if item >= 3:
            await gate.wait()

    task = asyncio.create_task(
        BatchProcessor("cancel", handler, store=store, concurrency=2).arun(range(10))
    )
    for _ in range(20):
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert set(store.load("cancel")) == {0, 1, 2}


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"job": ""}, "job"),
        ({"checkpoint_every": 0}, "checkpoint_every"),
        ({"checkpoint_seconds": 0}, "checkpoint_seconds"),
        ({"max_failures": -1}, "max_failures"),
        ({"max_failure_rate": 1.5}, "max_failure_rate"),
        ({"concurrency": 0}, "concurrency"),
    ],
)
def test_bad_config_names_the_field(fields: dict[str, Any], name: str) -> None:
    """Invalid settings raise ValidationError naming the field."""
    arguments: dict[str, Any] = {"job": "x", **fields}
    with pytest.raises(ValidationError) as info:
        BatchProcessor(handler=Recorder(), **arguments)
    assert {e["loc"][0] for e in info.value.errors()} == {name}


def test_bad_collaborators_are_refused() -> None:
    """A registry without remote=, or a store without the protocol, is a TypeError."""
    with pytest.raises(TypeError, match="needs remote="):
        BatchProcessor("x", Recorder(), breaker=BreakerRegistry())
    with pytest.raises(TypeError, match="CheckpointStore"):
        BatchProcessor("x", Recorder(), store=object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="progress"):
        BatchProcessor("x", Recorder(), progress="bar")
    assert isinstance(MemoryCheckpointStore(), CheckpointStore)
    assert isinstance(CircuitBreaker("b"), CircuitBreaker)


# ------------------------------------------------------------- SQLite store


def test_sqlite_store_refuses_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    """A text file is refused, named, and left exactly as it was."""
    path = tmp_path / "notes.txt"
    path.write_text("my notes\n" * 100)
    with pytest.raises(CheckpointError, match=r"notes\.txt") as info:
        SQLiteCheckpointStore(path)
    assert "not a readable SQLite database" in str(info.value)
    assert "move this file away" in str(info.value)
    assert path.read_text() == "my notes\n" * 100


def test_sqlite_store_refuses_another_applications_database(tmp_path: Path) -> None:
    """A SQLite database that is not ours is never written to."""
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("create table users (name text)")
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match="another application"):
        SQLiteCheckpointStore(path)
    assert path.read_bytes() == before


def test_sqlite_store_refuses_a_newer_schema(tmp_path: Path) -> None:
    """A store written by a newer version asks for an upgrade."""
    path = tmp_path / "new.db"
    SQLiteCheckpointStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version=99")
    with pytest.raises(CheckpointError, match="upgrade resilience"):
        SQLiteCheckpointStore(path)


def test_sqlite_store_refuses_a_corrupt_file(tmp_path: Path) -> None:
    """A damaged database is refused with what was found, not repaired or overwritten."""
    path = tmp_path / "damaged.db"
    store = SQLiteCheckpointStore(path)
    store.commit("job", [ItemRecord(i, "done") for i in range(2000)])
    store.close()
    data = bytearray(path.read_bytes())
    page = 4096
    data[page * 2 : page * 2 + 512] = b"\xff" * 512  # scribble over a b-tree page
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"damaged\.db"):
        SQLiteCheckpointStore(path)
    assert path.read_bytes() == bytes(data)


def test_sqlite_store_survives_reopening_and_lists_jobs(tmp_path: Path) -> None:
    """Commits persist across connections; jobs() counts records per job."""
    path = tmp_path / "c.db"
    store = SQLiteCheckpointStore(path, durable=False)
    store.commit("a", [ItemRecord("x", "done"), ItemRecord("y", "failed", kind="permanent")])
    store.commit("a", [ItemRecord("y", "done", attempts=2)])
    store.commit("b", [ItemRecord(1, "deferred")])
    store.close()
    reopened = SQLiteCheckpointStore(path)
    assert reopened.load("a")["y"] == ItemRecord("y", "done", attempts=2)
    assert dict(reopened.jobs()) == {"a": 2, "b": 1}
    reopened.forget("a")
    assert reopened.load("a") == {}
    reopened.close()


def test_snapshot_shows_the_current_run_then_how_it_ended() -> None:
    """snapshot() is None before a run, follows the run, then tells how it ended."""
    seen: list[BatchProgress | None] = []
    processor: BatchProcessor

    def handler(item: int) -> None:
        seen.append(processor.snapshot())

    processor = BatchProcessor("snap", handler)
    assert processor.snapshot() is None
    processor.run(range(3))
    assert [p.processed for p in seen if p is not None] == [0, 1, 2]
    assert all(p is not None and p.running for p in seen)
    assert processor.snapshot() == BatchProgress(
        job="snap", processed=3, succeeded=3, failed=0, deferred=0, skipped=0, resumed=0,
        total=3, running=False,
    )


# ------------------------------------------------------- retries: time base, hostile errors
def test_a_batch_deadline_counts_from_the_first_attempt(fake_clock: FakeClock) -> None:
    """An item whose first attempt used 8 s of a 10 s deadline is not retried after 5 s more."""
    clock = fake_clock
    calls: list[float] = []

    def slow(item: int) -> None:
        calls.append(clock.monotonic())
        clock.advance(8)
        raise ConnectionResetError(f"reset {item}")

    retry = RetryPolicy(
        attempts=5, deadline=10, backoff=Backoff(initial=5, jitter="none"), clock=clock
    )
    result = BatchProcessor("deadline", slow, retry=retry).run([1])
    (failure,) = result.failed
    assert failure.attempts == 1
    assert calls == [0.0]


async def test_an_async_batch_deadline_counts_from_the_first_attempt(fake_clock: FakeClock) -> None:
    """The async processor starts the deadline at the first attempt too."""
    clock = fake_clock

    async def slow(item: int) -> None:
        clock.advance(8)
        raise ConnectionResetError(f"reset {item}")

    retry = RetryPolicy(
        attempts=5, deadline=10, backoff=Backoff(initial=5, jitter="none"), clock=clock
    )
    result = await BatchProcessor("deadline", slow, retry=retry).arun([1])
    (failure,) = result.failed
    assert failure.attempts == 1


class _Unprintable:
    """An exception argument whose repr raises."""

    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")


class _HostileError(ConnectionResetError):
    """A retryable error whose str raises."""

    def __str__(self) -> str:
        raise RuntimeError("str exploded")


def test_a_hostile_error_is_recorded_as_itself_after_retries(fake_clock: FakeClock) -> None:
    """An error whose repr and str raise is retried and recorded, never replaced."""
    clock = fake_clock

    def broken(item: int) -> None:
        raise _HostileError(_Unprintable(), "y" * 10_000)

    retry = RetryPolicy(attempts=2, backoff=NO_WAIT, clock=clock)
    result = BatchProcessor("hostile", broken, retry=retry).run([1])
    (failure,) = result.failed
    assert failure.attempts == 2
    assert failure.error == "_HostileError: <_HostileError object; its __str__ raised RuntimeError>"


def test_a_huge_error_message_is_recorded_bounded() -> None:
    """An error with a huge message is recorded on one bounded line."""

    def huge(item: int) -> None:
        raise ValueError("line\n" * 100_000)

    result = BatchProcessor("huge", huge).run([1])
    (failure,) = result.failed
    assert "\n" not in failure.error
    assert len(failure.error) < 1_000
