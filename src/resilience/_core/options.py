"""Options: frozen pydantic models, validated once at construction, never on the hot path.

Every user-facing configuration is an :class:`Options` model: immutable, unknown fields
refused, errors naming the field. Durations are :data:`Seconds`: a number of seconds
or a :class:`datetime.timedelta`, stored as float seconds.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, TypeAlias

from pydantic import BaseModel, BeforeValidator, ConfigDict

__all__ = ["Options", "Seconds", "seconds"]


def seconds(value: object) -> object:
    """A duration as float seconds: a :class:`~datetime.timedelta` converted, else as given."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


Seconds: TypeAlias = Annotated[float, BeforeValidator(seconds)]
"""A duration: seconds as a number, or a :class:`~datetime.timedelta`."""


class Options(BaseModel):
    """The base of every configuration model: frozen, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)
