"""JSON logging with the standard library: one JSON object per record, events' fields at the top.

::

    handler = logging.StreamHandler()
    handler.setFormatter(JSONFormatter())
    logging.getLogger().addHandler(handler)

A record of ``resilience`` becomes ``{"time": ..., "level": "WARNING", "logger":
"resilience", "message": "circuit 'db' CLOSED -> OPEN: ...", "event": "breaker.opened",
"remote": "db", ...}``: its event's fields (``record.resilience``) as top-level keys. The
formatter's own keys are never overwritten: a field of the same name is written as
``resilience_<name>`` (a health change's ``message`` is ``resilience_message``). Any
other record is formatted the same, without event fields. No extra is needed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Final

from resilience._core.text import safe_repr

__all__ = ["RESERVED", "JSONFormatter", "flatten"]

RESERVED: Final = frozenset({"time", "level", "logger", "message", "exception", "stack"})
"""The keys of the formatter's own; an event field of one of these names is renamed."""


def flatten(
    fields: Mapping[str, object], into: dict[str, object], reserved: Iterable[str] = RESERVED
) -> dict[str, object]:
    """Put an event's ``fields`` into ``into`` as top-level keys, renaming the reserved ones.

    A field whose name is reserved is written as ``resilience_<name>``; ``into`` is
    returned.
    """
    taken = frozenset(reserved)
    for name, value in fields.items():
        key = f"resilience_{name}" if name in taken else name
        into[key] = value
    return into


def _default(value: object) -> str:
    # An application's extras may hold anything; a record must still be written.
    return safe_repr(value)


class JSONFormatter(logging.Formatter):
    """Formats each record as one line of JSON, with a ``resilience`` event's fields on top.

    Args:
        extras: Names of other record attributes to include (``extra={...}`` of the
            application's own records), when present.
        ensure_ascii: Escape non-ASCII characters (JSON stays valid either way).
    """

    def __init__(self, *, extras: Iterable[str] = (), ensure_ascii: bool = False) -> None:
        super().__init__()
        self._extras = tuple(extras)
        self._ascii = ensure_ascii

    def format(self, record: logging.LogRecord) -> str:
        """The record as one JSON object, on one line."""
        data: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "resilience", None)
        if isinstance(fields, Mapping):
            flatten(fields, data)
        for name in self._extras:
            if hasattr(record, name) and name not in data:
                data[name] = getattr(record, name)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return json.dumps(data, default=_default, ensure_ascii=self._ascii)
