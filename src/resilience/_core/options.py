"""Options: frozen pydantic models, validated once at construction, never on the hot path.

Every user-facing configuration is an :class:`Options` model: immutable, unknown fields
refused, errors naming the field. Durations are :data:`Seconds`: a number of seconds
or a :class:`datetime.timedelta`, stored as float seconds.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, TypeAlias, cast, overload

from pydantic import BaseModel, BeforeValidator, ConfigDict

__all__ = ["Options", "Seconds", "seconds"]


def _converted(value: object) -> object:
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


@overload
def seconds(value: float | timedelta) -> float: ...
@overload
def seconds(value: None) -> None: ...
def seconds(value: float | timedelta | None) -> float | None:
    """A duration as float seconds: a :class:`~datetime.timedelta` converted.

    Validation (a number, in range) is the options model's: this only converts.
    """
    return cast("float | None", _converted(value))


Seconds: TypeAlias = Annotated[float, BeforeValidator(_converted)]
"""A duration: seconds as a number, or a :class:`~datetime.timedelta`."""


class Options(BaseModel):
    """The base of every configuration model: frozen, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)
