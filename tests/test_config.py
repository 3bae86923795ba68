"""BreakerConfig: validated at construction, every error naming its field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from resilience import BreakerConfig

INVALID: list[tuple[dict[str, Any], str]] = [
    ({"failure_threshold": 0}, "failure_threshold"),
    ({"failure_threshold": -1}, "failure_threshold"),
    ({"failure_rate": 0}, "failure_rate"),
    ({"failure_rate": -0.5}, "failure_rate"),
    ({"failure_rate": 1.5}, "failure_rate"),
    ({"failure_rate": 0.5, "window": 0}, "window"),
    ({"failure_rate": 0.5, "window": -3}, "window"),
    ({"failure_rate": 0.5, "window_seconds": 0}, "window_seconds"),
    ({"failure_rate": 0.5, "window": 10, "window_seconds": 60}, "window_seconds"),
    ({"minimum_calls": 0}, "minimum_calls"),
    ({"slow_call_duration": 0, "slow_call_rate": 0.5}, "slow_call_duration"),
    ({"slow_call_duration": 1, "slow_call_rate": 0}, "slow_call_rate"),
    ({"slow_call_duration": 1, "slow_call_rate": 2}, "slow_call_rate"),
    ({"slow_call_rate": 0.5}, "slow_call_rate"),
    ({"slow_call_duration": 1.0, "failure_threshold": 3}, "slow_call_rate"),
    ({"open_for": 0}, "open_for"),
    ({"open_for": -5}, "open_for"),
    ({"open_for": 30, "open_for_max": 10}, "open_for_max"),
    ({"half_open_max_calls": 0}, "half_open_max_calls"),
    ({"success_threshold": 0}, "success_threshold"),
    ({"half_open_timeout": 0}, "half_open_timeout"),
    ({"failure_threshold": None}, "failure_threshold"),
    ({"failure_threshold": "five"}, "failure_threshold"),
    ({"failure_treshold": 5}, "failure_treshold"),
]


@pytest.mark.parametrize(("fields", "name"), INVALID, ids=[str(f) for f, _ in INVALID])
def test_invalid_config_is_rejected_naming_the_field(fields: dict[str, Any], name: str) -> None:
    """Each invalid value raises ValidationError whose error location is the field."""
    with pytest.raises(ValidationError) as info:
        BreakerConfig(**fields)
    locations = {error["loc"][0] for error in info.value.errors()}
    assert locations == {name}
    assert name in str(info.value)


def test_defaults_trip_on_five_consecutive_failures() -> None:
    """With no rule given, the consecutive rule with 5 failures applies."""
    config = BreakerConfig()
    assert config.failure_threshold == 5
    assert config.failure_rate is None
    assert not config.uses_window
    assert config.open_for == 30
    assert config.half_open_max_calls == 1
    assert config.success_threshold == 1
    assert config.count_permanent is False


def test_a_rate_alone_turns_the_consecutive_rule_off_and_uses_a_100_call_window() -> None:
    """failure_rate without failure_threshold: the rate rule only, over 100 calls."""
    config = BreakerConfig(failure_rate=0.5)
    assert config.failure_threshold is None
    assert config.uses_window
    assert config.window_size == 100


def test_both_rules_can_be_set_together() -> None:
    """failure_threshold and failure_rate may both apply."""
    config = BreakerConfig(failure_threshold=3, failure_rate=0.5, window=20)
    assert config.failure_threshold == 3
    assert config.window_size == 20


def test_slow_call_rule_alone_is_a_rule() -> None:
    """slow_call_rate with slow_call_duration is a trip rule by itself."""
    config = BreakerConfig(slow_call_duration=2.0, slow_call_rate=0.8)
    assert config.failure_threshold is None
    assert config.uses_window


def test_config_is_frozen() -> None:
    """A built config cannot be changed."""
    config = BreakerConfig()
    with pytest.raises(ValidationError):
        config.open_for = 5


def test_open_for_max_equal_to_open_for_is_allowed() -> None:
    """open_for_max may equal open_for (a period that never grows)."""
    assert BreakerConfig(open_for=10, open_for_max=10).open_for_max == 10
