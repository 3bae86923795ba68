"""Logging: each event as one record on the ``resilience`` logger, with its fields.

Every record carries ``record.resilience``: a dict with ``event`` (a dotted name such
as ``"breaker.opened"``) and the event's fields, so JSON formatters and structlog
(``ExtraAdder(allow=["resilience"])``) get them as data, not parsed text. Transitions,
retries, health changes and finished batches are logged by default, at the levels their
events give; calls and rejections only when :func:`log_event` is attached as a listener.
"""

from __future__ import annotations

import logging

from resilience._core.events import Event

__all__ = ["log_event", "logger"]

logger = logging.getLogger("resilience")
# A library's records go where the application's logging sends them, and nowhere (not
# to logging's last-resort stderr handler) when it configured none.
logger.addHandler(logging.NullHandler())


def log_event(event: object) -> None:
    """Log one event of ``resilience`` at its level (see ``docs/observability.md``).

    Takes every :class:`~resilience.events.Event` (each says its level, its message and
    its fields); anything else is ignored. Use it as a listener to log every call too:
    ``registry.add_listener(log_event)``.
    """
    if not isinstance(event, Event):
        return
    level = event.level
    if logger.isEnabledFor(level):
        logger.log(level, event.describe(), extra={"resilience": event.fields()})
