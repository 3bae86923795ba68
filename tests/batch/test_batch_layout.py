"""The batch namespace, where the checkpoint stores live, and durations as timedelta."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

import resilience
import resilience.batch
from resilience.batch import BatchProcessor, ItemRecord, JobLeases, MemoryCheckpointStore
from resilience.batch._checkpoint import HOLDER_SPAN, new_holder
from resilience.stores.sqlite._checkpoint import SQLiteCheckpointStore
from resilience.testing import FakeClock

PUBLIC = [
    "BatchProcessor",
    "BatchProgress",
    "BatchResult",
    "CheckpointError",
    "CheckpointStore",
    "ItemFailure",
    "ItemKey",
    "ItemRecord",
    "JobBusyError",
    "JobLeases",
    "LeaseLostError",
    "MemoryCheckpointStore",
]


class LeasingStore(MemoryCheckpointStore):
    """A memory store that grants leases and remembers the ttl it was asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.ttls: list[float] = []

    def acquire(self, job: str, *, owner: str, ttl: float) -> int:
        """Grant the lease; token 1."""
        self.ttls.append(ttl)
        return 1

    def renew(self, job: str, token: int, *, ttl: float) -> None:
        """Note the renewal's ttl."""
        self.ttls.append(ttl)

    def commit_leased(
        self, job: str, records: Iterable[ItemRecord], *, token: int, ttl: float
    ) -> None:
        """Commit, noting the ttl."""
        self.ttls.append(ttl)
        self.commit(job, records)

    def release(self, job: str, token: int) -> None:
        """Nothing to give up."""


def test_the_batch_namespace_exports_what_resilience_exports_from_it() -> None:
    """resilience.batch has a sorted __all__ whose names are the objects resilience exports."""
    assert resilience.batch.__all__ == sorted(resilience.batch.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(resilience.batch, name) is getattr(resilience, name)


def test_the_sqlite_store_lives_with_the_stores() -> None:
    """SQLiteCheckpointStore is defined in resilience.stores.sqlite and exported as before."""
    assert SQLiteCheckpointStore.__module__ == "resilience.stores.sqlite._checkpoint"
    assert resilience.SQLiteCheckpointStore is SQLiteCheckpointStore


def test_a_fencing_holder_fits_in_the_token_span() -> None:
    """new_holder draws the last digits of a fencing token: below HOLDER_SPAN."""
    assert all(0 <= new_holder() < HOLDER_SPAN for _ in range(100))


def test_checkpoint_seconds_accepts_a_timedelta(tmp_path: Path, fake_clock: FakeClock) -> None:
    """checkpoint_seconds=timedelta(seconds=2) commits every two seconds of the clock."""
    store = SQLiteCheckpointStore(tmp_path / "checkpoints.db")
    committed: list[int] = []

    def slow(item: int) -> None:
        fake_clock.advance(1)
        committed.append(len(store.load("timed")))

    try:
        BatchProcessor(
            "timed",
            slow,
            store=store,
            checkpoint_every=1_000,
            checkpoint_seconds=timedelta(seconds=2),
            clock=fake_clock,
        ).run(range(5))
    finally:
        store.close()
    assert committed == [0, 0, 2, 2, 4]


def test_a_lease_accepts_a_timedelta() -> None:
    """lease=timedelta(minutes=2) asks a shared store for a 120-second lease."""
    store = LeasingStore()
    assert isinstance(store, JobLeases)
    processor = BatchProcessor(
        "leased", lambda _item: None, store=store, lease=timedelta(minutes=2)
    )
    result = processor.run(range(3))
    assert result.succeeded == 3
    assert store.ttls
    assert set(store.ttls) == {120.0}


@pytest.mark.parametrize("duration", ["checkpoint_seconds", "lease"])
def test_a_duration_of_zero_is_refused_as_a_timedelta_too(duration: str) -> None:
    """A zero timedelta is refused like 0 seconds, naming the argument."""
    with pytest.raises(ValidationError, match=duration):
        BatchProcessor("zero", lambda _item: None, **{duration: timedelta(0)})  # type: ignore[arg-type]
