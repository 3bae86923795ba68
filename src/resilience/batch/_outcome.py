"""The outcome of one item: the record it leaves in the store, and its failure if any."""

from __future__ import annotations

import json
from typing import TypeAlias

from resilience._breaker.errors import CircuitOpenError
from resilience._classify.classifier import Classification, Classifier, PartialFailure
from resilience._core.text import safe_str
from resilience.batch._checkpoint import DEFERRED, FAILED, ItemKey, ItemRecord
from resilience.batch._results import ItemFailure

__all__ = ["Outcome", "deferred", "error_text", "failed"]

Outcome: TypeAlias = tuple[ItemRecord, ItemFailure | None]
"""What processing one item gave: its record, and for a failed item its failure."""


def error_text(exc: BaseException) -> str:
    """An error as ``"TypeName: message"``, bounded, whatever its ``__str__`` does."""
    message = safe_str(exc)  # the caller's exception: its str may raise, or run to megabytes
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def deferred(key: ItemKey, attempts: int, exc: CircuitOpenError) -> Outcome:
    """An item put off because its remote's circuit is open: a later run takes it."""
    return ItemRecord(key, DEFERRED, reason=str(exc), attempts=attempts), None


def failed(
    key: ItemKey,
    attempts: int,
    exc: Exception,
    verdict: Classification,
    classifier: Classifier,
) -> Outcome:
    """An item that failed for good in this run; a partial failure lists its sub-items."""
    details: dict[str, str] | None = None
    if isinstance(exc, PartialFailure):
        details = {}
        for sub, sub_error in exc.failed.items():
            sub_verdict = classifier.classify(sub_error)
            details[str(sub)] = f"{sub_verdict.kind.name}: {error_text(sub_error)}"
    error = error_text(exc)
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
