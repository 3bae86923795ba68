"""Enums whose repr reads back as code: ``CircuitState.OPEN``, not ``<CircuitState.OPEN: ...>``."""

from __future__ import annotations

import enum

__all__ = ["ReadableEnum"]


class ReadableEnum(enum.Enum):
    """An enum shown as it is written, so that a failing test prints a replayable program."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}.{self.name}"
