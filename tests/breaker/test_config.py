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
    """A zero or negative count or duration is refused, naming its field."""
    if bad == -0.5 and field in INT_FIELDS:
        bad = -2  # int fields: a fractional value would fail as "not an int" instead
    with pytest.raises(ValidationError) as info:
        BreakerConfig(**_complete(field, bad))
    assert _locs(info.value) == [(field,)]
    assert "greater than 0" in str(info.value)


@pytest.mark.parametrize("field", ["failure_rate", "slow_call_rate"])
@pytest.mark.parametrize("bad", [0, -0.1, 1.0001, 2, math.nan])
def test_rates_outside_zero_to_one_are_rejected_naming_the_field(field: str, bad: float) -> None:
    """A rate outside (0, 1], or NaN, is refused, naming its field."""
    fields: dict[str, Any] = {field: bad}
    if field == "slow_call_rate":
        fields["slow_call_duration"] = 1.0
    with pytest.raises(ValidationError) as info:
        BreakerConfig(**fields)
    assert (field,) in _locs(info.value)


@pytest.mark.parametrize("field", ["failure_rate", "slow_call_rate"])
@pytest.mark.parametrize("good", [1e-9, 0.5, 1.0])
def test_rates_inside_zero_to_one_inclusive_are_accepted(field: str, good: float) -> None:
    """A rate in (0, 1], 1 included, is accepted as given."""
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
    """Inconsistent, unknown or mistyped settings are refused with one error naming the field."""
    with pytest.raises(ValidationError) as info:
        BreakerConfig(**fields)
    assert _locs(info.value) == [(loc,)]
    assert message in str(info.value)


def test_one_mistake_gives_exactly_one_error() -> None:
    """One mistake gives exactly one error, not a cascade."""
    with pytest.raises(ValidationError) as info:
        BreakerConfig(slow_call_duration=-1, slow_call_rate=0.5)
    assert _locs(info.value) == [("slow_call_duration",)]


def test_defaults_use_five_consecutive_failures_and_no_window() -> None:
    """By default a breaker opens on five consecutive failures and keeps no window."""
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
    """A failure rate alone turns the consecutive rule off and judges the last 100 calls."""
    config = BreakerConfig(failure_rate=0.5)
    assert config.failure_threshold is None
    assert config.uses_window is True
    assert config.window_size == 100


def test_a_slow_call_rate_alone_turns_the_consecutive_rule_off() -> None:
    """A slow call rate alone turns the consecutive rule off and keeps a window."""
    config = BreakerConfig(slow_call_rate=0.5, slow_call_duration=1.0)
    assert config.failure_threshold is None
    assert config.uses_window is True


def test_a_rate_and_a_threshold_can_be_set_together() -> None:
    """A failure rate and a failure threshold can be set together."""
    config = BreakerConfig(failure_rate=0.5, failure_threshold=3, window=20)
    assert config.failure_threshold == 3
    assert config.window_size == 20


def test_an_explicit_none_rate_keeps_the_default_threshold() -> None:
    """failure_rate=None keeps the default threshold of five."""
    assert BreakerConfig(failure_rate=None).failure_threshold == 5


def test_time_window_alone_is_accepted() -> None:
    """A time window alone is accepted, with no count window."""
    config = BreakerConfig(failure_rate=0.5, window_seconds=60)
    assert config.window_seconds == 60.0
    assert config.window is None


def test_open_for_max_equal_to_open_for_is_accepted() -> None:
    """open_for_max equal to open_for is accepted."""
    assert BreakerConfig(open_for=5, open_for_max=5).open_for_max == 5.0


def test_config_is_frozen() -> None:
    """A config cannot be changed after it is built."""
    config = BreakerConfig()
    with pytest.raises(ValidationError) as info:
        config.failure_threshold = 1
    assert _locs(info.value) == [("failure_threshold",)]
    assert config.failure_threshold == 5


def test_config_is_hashable_and_compares_by_value() -> None:
    """Configs compare and hash by value."""
    assert BreakerConfig(open_for=3) == BreakerConfig(open_for=3)
    assert hash(BreakerConfig(open_for=3)) == hash(BreakerConfig(open_for=3))
    assert BreakerConfig(open_for=3) != BreakerConfig(open_for=4)


@pytest.mark.parametrize(("window", "expected"), [(1, 1), (5, 5), (10, 10), (11, 10), (100, 10)])
def test_a_rate_breaker_can_always_trip_as_minimum_calls_defaults_to_at_most_the_window(
    window: int, expected: int
) -> None:
    """Without minimum_calls, a count window shorter than 10 calls is judged when full."""
    config = BreakerConfig(failure_rate=0.5, window=window)
    assert config.minimum_calls == expected
    assert "minimum_calls" not in config.model_fields_set


def test_the_default_minimum_calls_of_a_time_window_or_no_window_is_ten() -> None:
    """Only a count window bounds the default minimum_calls."""
    assert BreakerConfig(failure_rate=0.5, window_seconds=2).minimum_calls == 10
    assert BreakerConfig(window=3).minimum_calls == 10  # no rate: no window is kept


@pytest.mark.parametrize(
    ("fields", "shown"),
    [
        ({"failure_rate": 0.5, "window": 5, "minimum_calls": 6}, "window=5 calls"),
        ({"failure_rate": 0.5, "minimum_calls": 101}, "the default 100 calls"),
        (
            {"slow_call_rate": 0.5, "slow_call_duration": 1, "window": 3, "minimum_calls": 4},
            "window=3 calls",
        ),
    ],
)
def test_an_explicit_minimum_calls_above_the_count_window_is_rejected_naming_the_field(
    fields: dict[str, Any], shown: str
) -> None:
    """A window that can never hold minimum_calls outcomes would never trip."""
    with pytest.raises(ValidationError) as info:
        BreakerConfig(**fields)
    assert _locs(info.value) == [("minimum_calls",)]
    assert shown in str(info.value)
    assert "lower minimum_calls or make the window longer" in str(info.value)


def test_an_explicit_minimum_calls_equal_to_the_window_is_accepted() -> None:
    """A window of N calls judges its rate once it is full."""
    assert BreakerConfig(failure_rate=0.5, window=5, minimum_calls=5).minimum_calls == 5


@pytest.mark.parametrize(
    ("fields", "loc", "limit"),
    [
        ({"failure_rate": 0.5, "window": 100_001}, "window", "100000"),
        ({"failure_rate": 0.5, "window": 10**9}, "window", "100000"),
        ({"failure_rate": 0.5, "window_seconds": 86_400.5}, "window_seconds", "86400"),
        ({"failure_rate": 0.5, "window_seconds": math.inf}, "window_seconds", "86400"),
    ],
)
def test_absurd_windows_are_rejected_with_the_limit_in_the_message(
    fields: dict[str, Any], loc: str, limit: str
) -> None:
    """A count window of 10**9 calls would allocate a gigabyte: past the limit it is an error."""
    with pytest.raises(ValidationError) as info:
        BreakerConfig(**fields)
    assert _locs(info.value) == [(loc,)]
    assert f"less than or equal to {limit}" in str(info.value)


def test_the_longest_windows_are_accepted() -> None:
    """The limits themselves are valid windows."""
    assert BreakerConfig(failure_rate=0.5, window=100_000).window == 100_000
    assert BreakerConfig(failure_rate=0.5, window_seconds=86_400).window_seconds == 86_400


def test_model_fields_set_says_only_what_was_given() -> None:
    """Defaults filled in from other fields are not reported as given."""
    assert BreakerConfig().model_fields_set == set()
    assert BreakerConfig(open_for=3).model_fields_set == {"open_for"}
    assert BreakerConfig(failure_rate=0.5, window=4).model_fields_set == {"failure_rate", "window"}
    assert BreakerConfig(failure_threshold=5).model_fields_set == {"failure_threshold"}
