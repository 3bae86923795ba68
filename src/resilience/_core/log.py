"""Logging: each event as one record on the ``resilience`` logger, with its fields.

Every record carries ``record.resilience``: a dict with ``event`` (a dotted name such
as ``"breaker.opened"``) and the event's fields, so JSON formatters and structlog
(``ExtraAdder(allow=["resilience"])``) get them as data, not parsed text. Transitions,
retries, health changes and finished batches are logged by default, at the levels below;
calls and rejections only when :func:`log_event` is attached as a listener.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from resilience._core.events import (
    CallRecorded,
    CallRejected,
    CircuitState,
    RetryScheduled,
    StateChanged,
    StoreDegraded,
    StoreRecovered,
)

__all__ = ["log_event", "logger"]

logger = logging.getLogger("resilience")
# A library's records go where the application's logging sends them, and nowhere (not
# to logging's last-resort stderr handler) when it configured none.
logger.addHandler(logging.NullHandler())

_DEBUG: Final = logging.DEBUG
_INFO: Final = logging.INFO
_WARNING: Final = logging.WARNING
_STATE_EVENTS: Final = {
    CircuitState.CLOSED: "breaker.closed",
    CircuitState.OPEN: "breaker.opened",
    CircuitState.HALF_OPEN: "breaker.half_opened",
    CircuitState.FORCED_OPEN: "breaker.forced_open",
    CircuitState.DISABLED: "breaker.disabled",
    CircuitState.METRICS_ONLY: "breaker.metrics_only",
}


def log_event(event: object) -> None:
    """Log one event of ``resilience`` at its level (see ``docs/observability.md``).

    Takes breaker events, :class:`RetryScheduled`, health's ``ComponentChanged``, a
    :class:`BatchResult` and the shared stores' events; anything else is ignored. Use it
    as a listener to log every call too: ``registry.add_listener(log_event)``.
    """
    level = _level(event)
    if level is None or not logger.isEnabledFor(level):
        return
    message, fields = _describe(event)
    logger.log(level, message, extra={"resilience": fields})


def _level(event: object) -> int | None:
    if isinstance(event, StateChanged):
        opened = event.new is CircuitState.OPEN or event.new is CircuitState.FORCED_OPEN
        return _WARNING if opened else _INFO
    if isinstance(event, CallRecorded | CallRejected):
        return _DEBUG
    if isinstance(event, RetryScheduled | StoreRecovered):
        return _INFO
    if isinstance(event, StoreDegraded):
        return _WARNING
    # Health and batches import this module, so their types are imported late; the
    # events above (every call's) never get this far.
    from resilience.batch._processor import BatchResult  # noqa: PLC0415
    from resilience.health._registry import ComponentChanged, ComponentStatus  # noqa: PLC0415

    if isinstance(event, ComponentChanged):
        bad = event.new is ComponentStatus.ERROR or event.new is ComponentStatus.UNKNOWN
        return _WARNING if bad else _INFO
    if isinstance(event, BatchResult):
        return _WARNING if event.aborted or event.failed else _INFO
    return None


def _describe(event: Any) -> tuple[str, dict[str, object]]:  # noqa: ANN401 - any event
    """The message and the structured fields of an event ``_level`` accepted."""
    if isinstance(event, StateChanged):
        fields: dict[str, object] = {
            "event": _STATE_EVENTS[event.new],
            "remote": event.name,
            "old_state": event.old.name,
            "new_state": event.new.name,
            "reason": event.reason,
        }
        text = f"circuit {event.name!r} {event.old.name} -> {event.new.name}: {event.reason}"
        return text, fields
    if isinstance(event, CallRejected):
        after = "" if event.retry_after is None else f"; retry after {event.retry_after:.3g} s"
        fields = {
            "event": "breaker.rejected",
            "remote": event.name,
            "state": event.state.name,
            "retry_after": event.retry_after,
        }
        return f"circuit {event.name!r} rejected a call ({event.state.name}{after})", fields
    if isinstance(event, CallRecorded):
        error = None if event.error is None else type(event.error).__name__
        fields = {
            "event": "breaker.call",
            "remote": event.name,
            "outcome": event.outcome.name,
            "duration": event.duration,
            "error": error,
        }
        what = event.outcome.name.lower() + ("" if error is None else f" ({error})")
        return f"call to {event.name!r}: {what} in {event.duration:.3g} s", fields
    if isinstance(event, RetryScheduled):
        reason = event.classification.reason
        fields = {
            "event": "retry.scheduled",
            "attempt": event.attempt,
            "delay": event.delay,
            "elapsed": event.elapsed,
            "error": type(event.error).__name__,
            "reason": reason,
        }
        text = (
            f"attempt {event.attempt} failed ({type(event.error).__name__}: {reason}); "
            f"retrying in {event.delay:.3g} s"
        )
        return text, fields
    if isinstance(event, StoreDegraded):
        fields = {"event": "store.degraded", "store": event.store, "on_error": event.on_error}
        fields["error"] = f"{type(event.error).__name__}: {event.error}"
        text = (
            f"{event.store} cannot reach its server ({fields['error']}); breakers follow "
            f"on_error={event.on_error!r} until it is back"
        )
        return text, fields
    if isinstance(event, StoreRecovered):
        fields = {"event": "store.recovered", "store": event.store, "down_for": event.down_for}
        return f"{event.store} reached its server again after {event.down_for:.1f} s", fields
    from resilience.health._registry import ComponentChanged  # noqa: PLC0415 - see _level

    if isinstance(event, ComponentChanged):
        old = None if event.old is None else event.old.name
        fields = {
            "event": "health.changed",
            "component": event.name,
            "old_status": old,
            "new_status": event.new.name,
            "message": event.message,
        }
        text = f"health of {event.name!r} {old or 'new'} -> {event.new.name}: {event.message}"
        return text, fields
    fields = {  # a BatchResult
        "event": "batch.finished",
        "job": event.job,
        "total": event.total,
        "succeeded": event.succeeded,
        "skipped": event.skipped,
        "failed": len(event.failed),
        "deferred": len(event.deferred),
        "aborted": event.aborted,
        "reason": event.reason,
        "duration": event.duration,
    }
    return event.summary().splitlines()[0], fields
