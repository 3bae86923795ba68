"""BreakerConfig: every invalid configuration is rejected at construction, naming the field."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from resilience import BreakerConfig

POSITIVE_FIELDS = (
    "failure_threshold",
    "minimum_calls",
    "half_open_max_calls",
    "success_threshold",
    "open_for",
    "window",
    "window_seconds",
    "slow_call_duration",
    "half_open_timeout",
    "open_for_max",
)
INT_FIELDS = {
    "failure_threshold",
    "minimum_calls",
    "half_open_max_calls",
    "success_threshold",
    "window",
}


def _complete(field: str, value: object) -> dict[str, Any]:
    """A config that is valid except for ``field=value``."""
    fields: dict[str, Any] = {field: value}
    if field in {"window", "window_seconds"}:
        fields["failure_rate"] = 0.5
    if field == "slow_call_duration":
        fields["slow_call_rate"] = 0.5
    return fields


def _locs(error: ValidationError) -> list[tuple[int | str, ...]]:
    return [tuple(e["loc"]) for e in error.errors()]


@pytest.mark.parametrize("bad", [0, -1, -0.5])
@pytest.mark.parametrize("field", POSITIVE_FIELDS)
def test_zero_or_negative_values_are_rejected_naming_the_field(field: str, bad: float) -> None:
    if bad == -0.5 and field in INT_FIELDS:
        bad = -2  # int fields: a fractional value would fail as "not an int" instead
    with pytest.raises(ValidationError) as info:
        BreakerConfig(**_complete(field, bad))
    assert _locs(info.value) == [(field,)]
    assert "greater than 0" in str(info.value)


@pytest.mark.parametrize("field", ["failure_rate", "slow_call_rate"])
@pytest.mark.parametrize("bad", [0, -0.1, 1.0001, 2, math.nan])
def test_rates_outside_zero_to_one_are_rejected_naming_the_field(field: str, bad: float) -> None:
    fields: dict[str, Any] = {field: bad}
    if field == "slow_call_rate":
        fields["slow_call_duration"] = 1.0
    with pytest.raises(ValidationError) as info:
        BreakerConfig(**fields)
    assert (field,) in _locs(info.value)


@pytest.mark.parametrize("field", ["failure_rate", "slow_call_rate"])
@pytest.mark.parametrize("good", [1e-9, 0.5, 1.0])
def test_rates_inside_zero_to_one_inclusive_are_accepted(field: str, good: float) -> None:
    fields: dict[str, Any] = {field: good}
    if field == "slow_call_rate":
        fields["slow_call_duration"] = 1.0
    assert getattr(BreakerConfig(**fields), field) == good


@pytest.mark.parametrize(
    ("fields", "loc", "message"),
    [
        (
            {"failure_rate": 0.5, "window": 10, "window_seconds": 5.0},
            "window_seconds",
            "window and window_seconds are both set",
        ),
        (
            {"slow_call_rate": 0.5},
            "slow_call_rate",
            "slow_call_rate and slow_call_duration go together",
        ),
        (
            {"slow_call_duration": 2.0},
            "slow_call_rate",
            "slow_call_rate and slow_call_duration go together",
        ),
        (
            {"open_for": 10.0, "open_for_max": 5.0},
            "open_for_max",
            "open_for_max (5.0) is shorter than open_for (10.0)",
        ),
        (
            {"failure_threshold": None},
            "failure_threshold",
            "nothing would ever open the circuit",
        ),
        ({"bogus": 1}, "bogus", "Extra inputs are not permitted"),
        ({"failure_treshold": 3}, "failure_treshold", "Extra inputs are not permitted"),
        ({"minimum_calls": "many"}, "minimum_calls", "valid integer"),
        ({"open_for": "soon"}, "open_for", "valid number"),
    ],
)
def test_inconsistent_configs_are_rejected_naming_the_field(
    fields: dict[str, Any], loc: str, message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        BreakerConfig(**fields)
    assert _locs(info.value) == [(loc,)]
    assert message in str(info.value)


def test_one_mistake_gives_exactly_one_error() -> None:
    with pytest.raises(ValidationError) as info:
        BreakerConfig(slow_call_duration=-1, slow_call_rate=0.5)
    assert _locs(info.value) == [("slow_call_duration",)]


def test_defaults_use_five_consecutive_failures_and_no_window() -> None:
    config = BreakerConfig()
    assert config.failure_threshold == 5
    assert config.failure_rate is None
    assert config.slow_call_rate is None
    assert config.uses_window is False
    assert config.window_size == 100
    assert config.minimum_calls == 10
    assert config.open_for == 30.0
    assert config.open_for_max is None
    assert config.half_open_max_calls == 1
    assert config.success_threshold == 1
    assert config.half_open_timeout is None
    assert config.count_permanent is False


def test_a_failure_rate_alone_turns_the_consecutive_rule_off_with_a_100_call_window() -> None:
    config = BreakerConfig(failure_rate=0.5)
    assert config.failure_threshold is None
    assert config.uses_window is True
    assert config.window_size == 100


def test_a_slow_call_rate_alone_turns_the_consecutive_rule_off() -> None:
    config = BreakerConfig(slow_call_rate=0.5, slow_call_duration=1.0)
    assert config.failure_threshold is None
    assert config.uses_window is True


def test_a_rate_and_a_threshold_can_be_set_together() -> None:
    config = BreakerConfig(failure_rate=0.5, failure_threshold=3, window=20)
    assert config.failure_threshold == 3
    assert config.window_size == 20


def test_an_explicit_none_rate_keeps_the_default_threshold() -> None:
    assert BreakerConfig(failure_rate=None).failure_threshold == 5


def test_time_window_alone_is_accepted() -> None:
    config = BreakerConfig(failure_rate=0.5, window_seconds=60)
    assert config.window_seconds == 60.0
    assert config.window is None


def test_open_for_max_equal_to_open_for_is_accepted() -> None:
    assert BreakerConfig(open_for=5, open_for_max=5).open_for_max == 5.0


def test_config_is_frozen() -> None:
    config = BreakerConfig()
    with pytest.raises(ValidationError) as info:
        config.failure_threshold = 1
    assert _locs(info.value) == [("failure_threshold",)]
    assert config.failure_threshold == 5


def test_config_is_hashable_and_compares_by_value() -> None:
    assert BreakerConfig(open_for=3) == BreakerConfig(open_for=3)
    assert hash(BreakerConfig(open_for=3)) == hash(BreakerConfig(open_for=3))
    assert BreakerConfig(open_for=3) != BreakerConfig(open_for=4)
