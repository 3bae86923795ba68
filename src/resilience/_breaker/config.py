"""BreakerConfig: how a breaker trips and recovers, validated once at construction."""

from __future__ import annotations

from typing import Any

from pydantic import (
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from resilience._core.options import Options

__all__ = ["BreakerConfig"]

_DEFAULT_FAILURE_THRESHOLD = 5
_DEFAULT_MINIMUM_CALLS = 10
_DEFAULT_WINDOW = 100
MAX_WINDOW: int = 100_000
"""The longest count window, in calls: a ring of one byte per call."""
MAX_WINDOW_SECONDS: float = 86_400.0
"""The longest time window: one day."""


class BreakerConfig(Options):
    """How a :class:`~resilience.CircuitBreaker` decides to open, and when to try again.

    Two trip rules, either of which opens the circuit: ``failure_threshold``
    consecutive failures (the default rule, 5), or a ``failure_rate`` over a window of
    the last ``window`` calls or the last ``window_seconds`` seconds, judged once the
    window holds ``minimum_calls`` outcomes. Setting ``failure_rate`` alone turns the
    consecutive rule off; set both to use both.
    """

    failure_rate: float | None = Field(default=None, gt=0, le=1)
    """Share of failed calls in the window, in (0, 1], that opens the circuit."""
    window: int | None = Field(default=None, gt=0, le=MAX_WINDOW)
    """Count-based window: the last N calls (100 when a rate is set and no window is)."""
    window_seconds: float | None = Field(default=None, gt=0, le=MAX_WINDOW_SECONDS)
    """Time-based window: the calls of the last T seconds, kept in about 1 s buckets."""
    minimum_calls: int = Field(default=_DEFAULT_MINIMUM_CALLS, gt=0)
    """Outcomes the window must hold before a rate is judged (at most a count window's
    length; 10, or the count window's length if shorter, when not given)."""
    slow_call_duration: float | None = Field(default=None, gt=0)
    """A call that takes longer than this many seconds is slow."""
    slow_call_rate: float | None = Field(default=None, gt=0, le=1)
    """Share of slow calls in the window, in (0, 1], that opens the circuit."""
    failure_threshold: int | None = Field(default=None, gt=0)
    """Consecutive failures that open the circuit (5 unless a rate is set)."""
    open_for: float = Field(default=30.0, gt=0)
    """Seconds the circuit stays open before a trial call is let through."""
    open_for_max: float | None = Field(default=None, gt=0)
    """If set, the open period doubles on each consecutive re-open up to this."""
    half_open_max_calls: int = Field(default=1, gt=0)
    """Trial calls admitted at once while half-open; others are rejected at once."""
    success_threshold: int = Field(default=1, gt=0)
    """Successful trial calls that close the circuit again."""
    half_open_timeout: float | None = Field(default=None, gt=0)
    """Seconds a half-open circuit waits for its trials before it re-opens."""
    count_permanent: bool = False
    """Count PERMANENT failures (a 404, a ``ValueError``) too, not only RETRYABLE ones."""

    @model_validator(mode="wrap")
    @classmethod
    def _defaults(cls, data: Any, handler: ModelWrapValidatorHandler[BreakerConfig]) -> Any:  # noqa: ANN401 - pydantic passes raw input
        # Defaults that depend on other fields. They are filled in without entering
        # model_fields_set, which keeps saying what the user chose: a registry's override
        # inherits every field it did not set (see BreakerRegistry).
        default_rule = (
            isinstance(data, dict)
            and "failure_threshold" not in data
            and data.get("failure_rate") is None
            and data.get("slow_call_rate") is None
        )
        if default_rule:
            data = {**data, "failure_threshold": _DEFAULT_FAILURE_THRESHOLD}
        config = handler(data)
        if default_rule:
            config.__pydantic_fields_set__.discard("failure_threshold")
        window = config.count_window
        if window is None:
            return config
        if "minimum_calls" not in config.model_fields_set:
            # A rate must be judgeable: a window shorter than 10 calls never holds 10.
            object.__setattr__(config, "minimum_calls", min(_DEFAULT_MINIMUM_CALLS, window))
        elif config.minimum_calls > window:
            given = f"window={window}" if config.window is not None else f"the default {window}"
            raise ValidationError.from_exception_data(
                cls.__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "minimum_calls_above_window",
                            "minimum_calls={minimum_calls} is more than the count window "
                            "({given} calls) can hold, so the rate would never be judged: "
                            "lower minimum_calls or make the window longer",
                            {"minimum_calls": config.minimum_calls, "given": given},
                        ),
                        loc=("minimum_calls",),
                        input=config.minimum_calls,
                    )
                ],
            )
        return config

    @field_validator("window_seconds")
    @classmethod
    def _one_window(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is not None and info.data.get("window") is not None:
            raise ValueError(
                "window and window_seconds are both set: choose a count-based window "
                "(window=N calls) or a time-based one (window_seconds=T), not both"
            )
        return value

    @field_validator("slow_call_rate")
    @classmethod
    def _slow_pair(cls, value: float | None, info: ValidationInfo) -> float | None:
        # A field that failed its own validation is missing from info.data: judge the
        # pair only when both are known, so that one mistake gives one error.
        if "slow_call_duration" not in info.data:
            return value
        if (value is None) != (info.data["slow_call_duration"] is None):
            raise ValueError(
                "slow_call_rate and slow_call_duration go together: set both to trip on "
                "slow calls, or neither"
            )
        return value

    @field_validator("failure_threshold")
    @classmethod
    def _some_rule(cls, value: int | None, info: ValidationInfo) -> int | None:
        rates = ("failure_rate", "slow_call_rate")
        if value is None and all(r in info.data and info.data[r] is None for r in rates):
            raise ValueError(
                "nothing would ever open the circuit: set failure_threshold, "
                "failure_rate or slow_call_rate"
            )
        return value

    @field_validator("open_for_max")
    @classmethod
    def _cap_above_base(cls, value: float | None, info: ValidationInfo) -> float | None:
        base = info.data.get("open_for")
        if value is not None and base is not None and value < base:
            raise ValueError(
                f"open_for_max ({value}) is shorter than open_for ({base}): it caps the "
                "growing open period, so it must be at least open_for"
            )
        return value

    @property
    def uses_window(self) -> bool:
        """Whether outcomes are kept in a window (a rate rule is configured)."""
        return self.failure_rate is not None or self.slow_call_rate is not None

    @property
    def window_size(self) -> int:
        """The count window's length: ``window``, or 100 when a rate needs one."""
        return self.window if self.window is not None else _DEFAULT_WINDOW

    @property
    def count_window(self) -> int | None:
        """The length of the count window a breaker keeps, or None if it keeps none."""
        if self.window_seconds is not None or not self.uses_window:
            return None
        return self.window_size
