"""The status as JSON: breakers, health, batches, strategies, and what a stream compares."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from resilience._breaker.registry import BreakerRegistry
from resilience._core.measure import Measured
from resilience._core.redact import redact_text
from resilience._core.text import json_bytes
from resilience.batch import BatchProcessor
from resilience.health import HealthRegistry, aggregate

__all__ = ["batch", "breakers", "components", "fingerprint", "finite", "strategies", "to_json"]


def breakers(registry: BreakerRegistry | None) -> list[dict[str, Any]] | None:
    """The breakers' rows: one per remote, by name; None without a registry."""
    if registry is None:
        return None
    return [
        {
            "remote": remote,
            "state": snap.state.name,
            "failure_rate": finite(snap.failure_rate),
            "calls": snap.calls,
            "failures": snap.failures,
            "consecutive_failures": snap.consecutive_failures,
            "rejected": snap.rejected,
            # None, not Infinity (which JSON has not): no trial is scheduled.
            "retry_after": finite(snap.retry_after),
            "reason": redact_text(snap.reason) if snap.reason else snap.reason,
        }
        for remote, snap in sorted(registry.snapshot().items())
    ]


def components(health: HealthRegistry | None) -> dict[str, Any] | None:
    """The health components as last checked, and their aggregate; None without health."""
    if health is None:
        return None
    latest = health.latest()
    return {
        "status": aggregate(latest.values()).name if latest else None,
        "components": [
            {
                "name": c.name,
                "status": c.status.name,
                "message": redact_text(c.message) if c.message else c.message,
                "critical": c.critical,
                "last_checked": finite(c.last_checked),
            }
            for c in latest.values()
        ],
    }


def batch(processor: BatchProcessor) -> dict[str, Any]:
    """One batch processor's progress (zeros before its first run)."""
    progress = processor.snapshot()
    if progress is None:
        return {
            "job": processor.job,
            "started": False,
            "running": False,
            "processed": 0,
            "succeeded": 0,
            "failed": 0,
            "deferred": 0,
            "skipped": 0,
            "resumed": 0,
            "total": None,
        }
    return {
        "job": progress.job,
        "started": True,
        "running": progress.running,
        "processed": progress.processed,
        "succeeded": progress.succeeded,
        "failed": progress.failed,
        "deferred": progress.deferred,
        "skipped": progress.skipped,
        "resumed": progress.resumed,
        "total": progress.total,
    }


def strategies(measured: Sequence[Measured]) -> list[dict[str, Any]] | None:
    """The strategies' rows: one per measurement, by kind and name; None without any.

    A (kind, name) that two sources show (a strategy given alone and in its registry)
    is one row, the first source's.
    """
    if not measured:
        return None
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for source in measured:
        for m in source.measurements():
            rows.setdefault(
                (m.kind, m.name),
                {
                    "kind": m.kind,
                    "name": m.name,
                    "state": redact_text(m.state) if m.state else m.state,
                    "healthy": bool(m.healthy),
                    "gauges": {key: finite(float(v)) for key, v in m.gauges.items()},
                    "totals": {key: finite(float(v)) for key, v in m.totals.items()},
                },
            )
    return [rows[key] for key in sorted(rows)]


def fingerprint(version: int, status: dict[str, Any]) -> str:
    """What a stream compares: the status without its clock readings (countdowns, time)."""
    if status.get("public"):
        return to_json([status["status"], status["services"]], sort_keys=True).decode()
    rows = status["breakers"]
    if rows is not None:
        rows = [{**b, "retry_after": None} for b in rows]
    parts = [
        version,
        rows,
        status["health"],
        status["batches"],
        status.get("strategies"),
        status.get("incidents"),
    ]
    return to_json(parts, sort_keys=True).decode()


def to_json(value: object, *, sort_keys: bool = False) -> bytes:
    """Every JSON answer: strict JSON, with no NaN or infinity (see ``json_bytes``)."""
    return json_bytes(value, sort_keys=sort_keys)


def finite(value: float | None) -> float | None:
    """A number for JSON, to the millisecond: None when it is None, infinite or NaN."""
    if value is None or not math.isfinite(value):
        return None
    return round(value, 3)
