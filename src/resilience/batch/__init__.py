"""Checkpointed batches: process many items, record each outcome, resume after a crash.

A :class:`BatchProcessor` runs a handler over the items and commits their outcomes to a
:class:`CheckpointStore`; a re-run of the same job skips what is done. The durable stores
are in :mod:`resilience.stores` (SQLite for one machine; PostgreSQL and Redis for workers
that share a job through :class:`JobLeases`).
"""

from resilience.batch._checkpoint import (
    CheckpointError,
    CheckpointStore,
    ItemKey,
    ItemRecord,
    JobBusyError,
    JobLeases,
    LeaseLostError,
    MemoryCheckpointStore,
)
from resilience.batch._processor import BatchProcessor
from resilience.batch._results import BatchProgress, BatchResult, ItemFailure

__all__ = [
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
