"""resilience.config's chaos section: off unless ``enabled = true``, then logged and injected."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from resilience.chaos import InjectFault, InjectLatency
from resilience.config import ChaosConfig, ConfigError, load
from resilience.testing import FakeClock


def test_a_chaos_section_without_enabled_adds_nothing(
    tmp_path: Path, fake_clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """``enabled`` defaults to false: no strategy in the pipeline, no warning, calls untouched."""
    path = tmp_path / "resilience.toml"
    path.write_text('[remotes.s3]\nchaos = { fault = "connection_reset", rate = 1 }\n')
    config = load(path, env={}, clock=fake_clock)
    assert config.section("s3", "chaos") == ChaosConfig(fault="connection_reset", rate=1)
    assert [type(s).__name__ for s in config.policy("s3").strategies] == ["RemoteBreakers"]
    assert config.live("s3").call(lambda: "untouched") == "untouched"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_an_enabled_fault_is_injected_innermost_with_a_warning(
    tmp_path: Path, fake_clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """``enabled = true`` logs a WARNING naming the remote; each call then raises the fault."""
    path = tmp_path / "resilience.toml"
    path.write_text(
        '[remotes.s3]\ntimeout = 5\nchaos = { enabled = true, fault = "connection_reset", '
        "rate = 1 }\n"
    )
    config = load(path, env={}, clock=fake_clock)
    with caplog.at_level(logging.WARNING, logger="resilience"):
        strategies = config.policy("s3").strategies
    assert [type(s).__name__ for s in strategies] == ["RemoteBreakers", "Timeout", "InjectFault"]
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "chaos ENABLED" in warning.getMessage()
    assert "s3 (enabled = true in the configuration)" in warning.getMessage()
    called: list[str] = []
    with pytest.raises(ConnectionResetError, match="chaos section of 's3'"):
        config.live("s3").call(called.append, "never")
    assert called == []


def test_an_enabled_latency_waits_on_the_clock_and_is_kept_across_reloads(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    """A latency of 0.5 s delays the call on the clock; an unchanged section keeps its switch."""
    path = tmp_path / "resilience.toml"
    path.write_text("[remotes.s3]\nretry = { attempts = 2 }\n"
                    "chaos = { enabled = true, latency = 0.5, rate = 1 }\n")
    config = load(path, env={}, clock=fake_clock)
    assert config.live("s3").call(fake_clock.monotonic) == pytest.approx(0.5)
    injected = config.policy("s3").strategies[-1]
    assert isinstance(injected, InjectLatency)
    path.write_text(path.read_text().replace("attempts = 2", "attempts = 3"))
    assert config.reload()
    assert config.policy("s3").strategies[-1] is injected
    path.write_text(path.read_text().replace("enabled = true", "enabled = false"))
    assert config.reload()
    assert not any(isinstance(s, InjectFault | InjectLatency)
                   for s in config.policy("s3").strategies)
    assert config.live("s3").call(fake_clock.monotonic) == pytest.approx(0.5)  # no wait now


def test_a_chaos_section_is_validated_at_load(tmp_path: Path) -> None:
    """A fault the file cannot name, or both kinds at once, are errors with their lines."""
    path = tmp_path / "resilience.toml"
    path.write_text(
        '[remotes.s3]\nchaos = { fault = "MemoryError", rate = 1 }\n'
        '[remotes.db]\nchaos = { fault = "timeout", latency = 1, rate = 0.5 }\n'
    )
    with pytest.raises(ConfigError) as caught:
        load(path, env={})
    fault = "Input should be 'connection_reset', 'connection_refused' or 'timeout'"
    both = "Value error, a chaos section needs exactly one of fault or latency"
    assert caught.value.problems == (
        f"{path}:2: remotes.s3.chaos.fault: {fault} (got 'MemoryError')",
        f"{path}:4: remotes.db.chaos: {both}",
    )
