"""structlog: events logged through a bound logger, and stdlib records' fields lifted on top.

Two ways, whichever the application's logging already is:

- structlog-native: ``registry.add_listener(StructlogListener())`` logs each event
  through a structlog logger: ``event`` is the event's name (``"breaker.opened"``),
  ``message`` its one-line description, and its fields are top-level keys.
- stdlib records rendered by structlog's ``ProcessorFormatter``: add
  :func:`lift_event_fields` to the ``foreign_pre_chain``; a record of ``resilience`` then
  gets the same keys (its message moves to ``message``).

A field named like a key structlog or the renderer owns (``message``, ``level``,
``timestamp``, ``logger``) is written as ``resilience_<name>``. Needs the ``structlog``
extra.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping
from typing import Any, Final

from resilience._core.extras import missing

try:
    import structlog
except ImportError as _exc:  # pragma: no cover - the extra is installed in tests
    raise missing("structlog", "structlog") from _exc

from resilience._core.events import Event
from resilience.contrib.logging import flatten

__all__ = ["StructlogListener", "lift_event_fields"]

_RESERVED: Final = frozenset({"message", "level", "timestamp", "logger", "logger_name", "exc_info"})


def lift_event_fields(
    _logger: object, _method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor: a ``resilience`` record's event fields as top-level keys.

    For ``ProcessorFormatter(foreign_pre_chain=[..., lift_event_fields])``; it reads the
    fields from the record (``_record``), or from a ``resilience`` key that
    ``ExtraAdder(allow=["resilience"])`` put there. Other records pass unchanged.
    """
    fields = event_dict.pop("resilience", None)
    if fields is None:
        record = event_dict.get("_record")
        fields = getattr(record, "resilience", None) if record is not None else None
    if not isinstance(fields, Mapping):
        return event_dict
    event_dict["message"] = event_dict.get("event")
    lifted = flatten(fields, {}, _RESERVED)
    event_dict.update(lifted)
    return event_dict


class StructlogListener:
    """A listener logging each event through structlog, its fields as top-level keys.

    Add it where ``log_event`` would go: ``registry.add_listener(...)``,
    ``HealthRegistry(listeners=[...])``, ``RetryPolicy(on_retry=...)``. Each event is
    logged at its level (``breaker.call`` at DEBUG, transitions at INFO or WARNING), so
    the logger's filtering decides what is kept.

    Args:
        logger: A structlog logger (bound or not); ``structlog.get_logger("resilience")``
            by default.
        min_level: Events below this ``logging`` level are not logged at all (calls
            and rejections are DEBUG: many).
    """

    __slots__ = ("_logger", "_min_level")

    def __init__(self, logger: Any = None, *, min_level: int = logging.DEBUG) -> None:  # noqa: ANN401 - structlog's loggers are duck-typed
        self._logger = logger if logger is not None else structlog.get_logger("resilience")
        self._min_level = min_level

    def __call__(self, event: object) -> None:
        """Log ``event`` (anything that is not an ``Event`` is ignored)."""
        if not isinstance(event, Event):
            return
        level = event.level
        if level < self._min_level:
            return
        fields = event.fields()
        name = fields.pop("event", event.event_name)
        lifted = flatten(fields, {}, _RESERVED)
        self._logger.log(level, name, message=event.describe(), **lifted)

    def __repr__(self) -> str:
        return f"StructlogListener(min_level={logging.getLevelName(self._min_level)})"
