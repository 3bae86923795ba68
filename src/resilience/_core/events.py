"""Events: what every event says about itself, and the dispatch that keeps listeners harmless.

Each event type of the library (a breaker's transition, a scheduled retry, a health change,
a finished batch, ...) lives beside the part that emits it and derives from :class:`Event`:
it names itself (``"breaker.opened"``), gives the level it is logged at, a one-line message
and its structured fields. Logging, metrics and the status page read those, never the
event's type.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, TypeVar

from resilience._core.text import safe_repr

__all__ = ["DEBUG", "INFO", "WARNING", "Event", "emit"]

logger = logging.getLogger("resilience")

# The levels events are logged at, so that an event module needs no logging import.
DEBUG = logging.DEBUG
INFO = logging.INFO
WARNING = logging.WARNING


class Event:
    """What every event of ``resilience`` says about itself.

    Events are frozen, slotted dataclasses deriving from this class; their own fields are
    their data, and these four members describe them to logs, metrics and the status
    page. An event's :attr:`event_name` and :meth:`fields` are what
    ``record.resilience`` holds when it is logged (see ``docs/observability.md``).
    A subclass declares :attr:`event_name` and :attr:`level` (class attributes, or
    properties when they depend on the content) and :meth:`describe`; it overrides
    :meth:`fields` only where they differ from its dataclass fields (one renamed,
    computed or left out).
    """

    __slots__ = ()

    # Every subclass is a dataclass: declared so that dataclasses.fields() takes an Event.
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    @property
    def event_name(self) -> str:
        """The dotted name, such as ``"breaker.opened"`` (it may depend on the content)."""
        raise NotImplementedError

    @property
    def level(self) -> int:
        """The ``logging`` level the event is logged at (it may depend on the content)."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line that says what happened, for people: the log record's message."""
        raise NotImplementedError

    def fields(self) -> dict[str, object]:
        """The structured fields, ``"event"`` (the :attr:`event_name`) first; a new dict.

        By default, each dataclass field after it, in declaration order, under its name.
        """
        names = _FIELD_NAMES.get(type(self))
        if names is None:
            names = _FIELD_NAMES[type(self)] = tuple(f.name for f in dataclasses.fields(self))
        fields: dict[str, object] = {"event": self.event_name}
        for name in names:
            fields[name] = getattr(self, name)
        return fields


# The names of each event type's dataclass fields, read once per type, not at every fields().
_FIELD_NAMES: dict[type[Event], tuple[str, ...]] = {}


E = TypeVar("E")

_reported: set[int] = set()


def emit(listeners: Iterable[Callable[[E], object]], event: E) -> None:
    """Deliver ``event`` to each listener; a listener that raises is logged, once."""
    for listener in listeners:
        try:
            listener(event)
        except Exception:
            key = id(listener)
            if key not in _reported:
                _reported.add(key)
                logger.exception(
                    "resilience listener %s raised while handling %s; the call it reported "
                    "on is unaffected. Further errors from this listener are not logged.",
                    safe_repr(listener),  # its repr may raise too, and must not escape
                    type(event).__name__,
                )
