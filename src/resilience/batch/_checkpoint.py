"""Checkpoint stores: where a batch job records what is done, so a re-run can resume.

A store keeps, per job, one record per item key: done, failed (with its kind, reason,
attempts and last error) or deferred. Commits are atomic: a crash keeps every commit
before it and loses only what was not yet committed.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable
from typing import Final, NamedTuple, Protocol, TypeAlias, runtime_checkable

from resilience._core.errors import ResilienceError

__all__ = [
    "DEFERRED",
    "DONE",
    "FAILED",
    "HOLDER_SPAN",
    "CheckpointError",
    "CheckpointStore",
    "ItemKey",
    "ItemRecord",
    "JobBusyError",
    "JobLeases",
    "LeaseLostError",
    "MemoryCheckpointStore",
    "new_holder",
]

ItemKey: TypeAlias = str | int
"""An item's stable key: a str or an int."""

DONE: Final = "done"
FAILED: Final = "failed"
DEFERRED: Final = "deferred"


class ItemRecord(NamedTuple):
    """What a job recorded about one item.

    A named tuple, not a dataclass: a batch makes one per item, and this is the cheapest
    immutable record Python has.
    """

    key: ItemKey
    status: str
    """``"done"``, ``"failed"`` or ``"deferred"``."""
    kind: str | None = None
    """For a failed item: ``"retryable"``, ``"permanent"`` or ``"partial"``."""
    reason: str | None = None
    attempts: int = 1
    error: str | None = None
    """The last error's text."""
    details: str | None = None
    """For a partial failure: the failed sub-items, as JSON text."""


class CheckpointError(ResilienceError):
    """A checkpoint store cannot be used: what is wrong with it and what to do."""


@runtime_checkable
class CheckpointStore(Protocol):
    """Where batch jobs keep their checkpoints.

    ``commit`` must be atomic: after a crash, a store holds every commit that
    returned and nothing of one that did not.
    """

    def load(self, job: str) -> dict[ItemKey, ItemRecord]:
        """Every record of ``job``, by key (empty for a new job)."""
        ...

    def commit(self, job: str, records: Iterable[ItemRecord]) -> None:
        """Record these outcomes, replacing earlier records of the same keys, atomically."""
        ...

    def forget(self, job: str) -> None:
        """Drop every record of ``job``."""
        ...

    def close(self) -> None:
        """Release what the store holds open."""
        ...


class JobBusyError(CheckpointError):
    """Another worker holds the job's lease: it is running the job now."""


class LeaseLostError(CheckpointError):
    """This worker's lease on the job lapsed and another worker took it over.

    Its commits are refused (the lease's fencing token is stale), so that two workers
    never both record the same job; the new holder processes the uncommitted items.
    """


@runtime_checkable
class JobLeases(Protocol):
    """A checkpoint store shared by workers that lets one worker at a time run a job.

    A lease lasts ``ttl`` seconds unless renewed, so a dead worker's job is free again
    once its lease expires. Each acquisition gets a larger fencing token, and a commit
    with a token that is no longer the job's is refused. A token also names its holder:
    its last six decimal digits are a random id drawn for that acquisition (see
    :func:`new_holder`), kept with the lease and checked with it, so that a store
    which forgot its counter (a Redis restarted with nothing on disk) and hands the
    same count out again still refuses the commits of the lease it lost.
    """

    def acquire(self, job: str, *, owner: str, ttl: float) -> int:
        """Take the job's lease; its fencing token. JobBusyError while another holds it."""
        ...

    def renew(self, job: str, token: int, *, ttl: float) -> None:
        """Extend the lease by ``ttl`` from now; LeaseLostError if it is no longer ours."""
        ...

    def commit_leased(
        self, job: str, records: Iterable[ItemRecord], *, token: int, ttl: float
    ) -> None:
        """:meth:`CheckpointStore.commit` and :meth:`renew` in one atomic step."""
        ...

    def release(self, job: str, token: int) -> None:
        """Give the lease up (nothing happens if it is no longer ours)."""
        ...


HOLDER_SPAN: Final = 1_000_000
"""A fencing token is ``count * HOLDER_SPAN + holder``.

Decimal, so that the Lua and SQL of the shared stores compose a token exactly.
"""


def new_holder() -> int:
    """A random holder id for one acquisition of a lease: the last digits of its token.

    A :class:`JobLeases` store draws one per :meth:`~JobLeases.acquire` and keeps it with
    the lease, as described there.
    """
    return secrets.randbelow(HOLDER_SPAN)


# The shared stores' earlier names for the two above.


class MemoryCheckpointStore:
    """Checkpoints in memory: resumes within one process, for tests and short jobs."""

    __slots__ = ("_jobs", "_lock")

    def __init__(self) -> None:
        self._jobs: dict[str, dict[ItemKey, ItemRecord]] = {}
        self._lock = threading.Lock()

    def load(self, job: str) -> dict[ItemKey, ItemRecord]:
        """Every record of ``job``, by key."""
        with self._lock:
            return dict(self._jobs.get(job, {}))

    def commit(self, job: str, records: Iterable[ItemRecord]) -> None:
        """Record these outcomes at once."""
        batch = {record.key: record for record in records}
        with self._lock:
            self._jobs.setdefault(job, {}).update(batch)

    def forget(self, job: str) -> None:
        """Drop every record of ``job``."""
        with self._lock:
            self._jobs.pop(job, None)

    def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return f"MemoryCheckpointStore({len(self._jobs)} jobs)"
