"""The ``RESILIENCE`` Django setting, validated into a frozen model, read once."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from resilience._core.extras import missing

try:
    from django.conf import settings as django_settings  # type: ignore[import-untyped]
    from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped]
    from django.core.signals import setting_changed  # type: ignore[import-untyped]
    from django.utils.module_loading import import_string  # type: ignore[import-untyped]
except ImportError as _exc:  # pragma: no cover - the extra is installed in tests
    raise missing("django", "Django") from _exc

from resilience._breaker.registry import BreakerRegistry
from resilience.health import HealthRegistry

__all__ = ["ResilienceSettings", "settings"]


def _resolve(value: object, kind: type[Any], field: str) -> object:
    if isinstance(value, str):
        try:
            value = import_string(value)
        except ImportError as exc:
            raise ValueError(f"{field}: cannot import {value!r}: {exc}") from None
    if not isinstance(value, kind):
        # pydantic reports a ValueError as a validation error of the field; a TypeError escapes.
        raise ValueError(  # noqa: TRY004
            f"{field} must be a {kind.__name__} or its dotted path, got {value!r}"
        )
    return value


class ResilienceSettings(BaseModel):
    """``settings.RESILIENCE``: what the views and the command use.

    Attributes:
        health: The checks (a ``HealthRegistry`` or its dotted path).
        breakers: The breakers the status command lists, if any.
        token: A bearer token that shows the probes' details.
        show_details: Show them to every caller.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    health: HealthRegistry = Field(alias="HEALTH")
    breakers: BreakerRegistry | None = Field(default=None, alias="BREAKERS")
    token: str | None = Field(default=None, alias="TOKEN", min_length=1)
    show_details: bool = Field(default=False, alias="SHOW_DETAILS", strict=True)

    @field_validator("health", mode="before")
    @classmethod
    def _health(cls, value: object) -> object:
        return _resolve(value, HealthRegistry, "HEALTH")

    @field_validator("breakers", mode="before")
    @classmethod
    def _breakers(cls, value: object) -> object:
        return None if value is None else _resolve(value, BreakerRegistry, "BREAKERS")


@functools.cache
def settings() -> ResilienceSettings:
    """The validated setting; ``ImproperlyConfigured`` naming the field when it is wrong."""
    raw = getattr(django_settings, "RESILIENCE", None)
    if not isinstance(raw, dict):
        raise ImproperlyConfigured(
            "settings.RESILIENCE must be a dict with at least HEALTH (a HealthRegistry or its "
            f"dotted path), got {raw!r}"
        )
    try:
        return ResilienceSettings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'RESILIENCE'}: {error['msg']}"
            for error in exc.errors()
        )
        raise ImproperlyConfigured(f"settings.RESILIENCE is not valid: {problems}") from None


def _reload(*, setting: str, **_: object) -> None:
    # override_settings() in tests (and any settings change) is seen by the next request.
    if setting == "RESILIENCE":
        settings.cache_clear()


setting_changed.connect(_reload)
