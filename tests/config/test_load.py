"""resilience.config: every section read, built and round-tripped; environment overrides; errors."""

from __future__ import annotations

import importlib
import json
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from resilience import BreakerConfig, CircuitOpenError, CircuitState
from resilience._core.options import Options
from resilience.config import (
    SECTIONS,
    CheckConfig,
    ConfigError,
    NotifierConfig,
    RecoveryConfig,
    RetryConfig,
    StoreConfig,
    load,
)
from resilience.health import ComponentStatus
from resilience.recovery import (
    LoggingNotifier,
    RecoveryManager,
    RestartBudget,
    Severity,
    WebhookNotifier,
)
from resilience.testing import FakeClock
from servers import unavailable

FULL: dict[str, Any] = {
    "defaults": {
        "breaker": {"failure_threshold": 4, "open_for": 20},
        "retry": {"attempts": 2, "backoff": {"initial": 0.1, "max": 1.0, "jitter": "none"}},
        "timeout": 3.0,
        "limiter": {"max_limit": 64, "backoff_ratio": 0.75},
    },
    "remotes": {
        "s3": {
            "breaker": {"open_for": 60, "open_for_max": 600},
            "retry": {"attempts": 5, "deadline": 30, "max_retry_after": 10},
            "timeout": 1.5,
            "check": {"tcp": "db.internal:5432", "timeout": 1, "critical": False},
            "bulkhead": {"max_concurrent": 4, "max_queue": 2, "queue_timeout": 0.5},
            "rate_limiter": {"rate": 10, "per": 2, "burst": 3, "max_wait": 0.1},
            "hedge": {"delay": 0.05, "max_hedges": 2, "percentile": 90, "window": 50,
                      "min_samples": 10},
            "chaos": {"latency": 0.2, "rate": 0.1, "seed": 7},
        },
        "billing": {
            "breaker": {"failure_rate": 0.5, "window": 20, "minimum_calls": 5},
            "check": {"http": "https://billing.internal/health"},
            "limiter": {"algorithm": "gradient2", "initial_limit": 8, "smoothing": 0.5},
        },
        "search-*": {
            "breaker": {"window_seconds": 30, "failure_rate": 0.25, "slow_call_duration": 2,
                        "slow_call_rate": 0.5},
            "check": {"sqlite": "/var/lib/app/search.db"},
        },
    },
    "store": {"redis": "redis://127.0.0.1:6379/0", "namespace": "app"},
    "recovery": {
        "budget": {"max_recoveries": 3, "period": 300, "reset_after": 900},
        "notify_timeout": 15,
        "notifiers": [
            {"webhook": "https://hooks.example/incident", "min_severity": "P1",
             "timeout": 5, "headers": {"Authorization": "Bearer x"}},
            {"log": "app.incidents", "min_severity": "P3"},
        ],
    },
}


def _toml(value: Any) -> str:
    """A JSON value as a TOML inline value (enough for the data above)."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def write(tmp_path: Path, name: str, data: dict[str, Any]) -> Path:
    """``data`` as a file of the kind its name says."""
    path = tmp_path / name
    if name.endswith(".json"):
        path.write_text(json.dumps(data, indent=2))
    elif name.endswith(".toml"):
        path.write_text("".join(f"{json.dumps(k)} = {_toml(v)}\n" for k, v in data.items()))
    else:
        yaml = _yaml()
        path.write_text(yaml.safe_dump(data))
    return path


def _yaml() -> Any:
    try:
        return importlib.import_module("yaml")
    except ImportError:
        unavailable("PyYAML is not installed: pip install -e '.[test]'")


@pytest.mark.parametrize(
    "model",
    [
        BreakerConfig(failure_rate=0.3, window_seconds=60, minimum_calls=4, open_for=5,
                      open_for_max=50, half_open_max_calls=2, success_threshold=2,
                      half_open_timeout=9, count_permanent=True),
        RetryConfig(attempts=4, deadline=12, max_retry_after=3),
        CheckConfig(http="http://127.0.0.1:8080/health", timeout=0.5, critical=False),
        CheckConfig(tcp="db:5432"),
        CheckConfig(sqlite="/tmp/app.db"),  # noqa: S108 - a name, never opened
        StoreConfig(redis="rediss://cache:6380/1", namespace="n"),
        NotifierConfig(webhook="https://h/x", min_severity=Severity.P0, timeout=2,
                       headers={"X-Key": "k"}),
        NotifierConfig(log="app"),
        RecoveryConfig(budget=RestartBudget(max_recoveries=2), notify_timeout=4,
                       notifiers=(NotifierConfig(log="a"),)),
    ],
    ids=lambda model: type(model).__name__,
)
def test_every_config_type_round_trips_through_its_json_form(model: Options) -> None:
    """Each section's model, dumped as JSON data and validated again, is equal to itself."""
    data = json.loads(json.dumps(model.model_dump(mode="json", exclude_unset=True)))
    assert type(model).model_validate(data) == model


@pytest.mark.parametrize("name", ["full.toml", "full.json", "full.yaml"])
def test_a_whole_configuration_round_trips_through_every_format(
    tmp_path: Path, name: str, fake_clock: FakeClock
) -> None:
    """Written as TOML, JSON or YAML and loaded again, a configuration is the same settings."""
    first = load(FULL, env={}, clock=fake_clock)
    dumped = first.settings.model_dump(mode="json", exclude_unset=True)
    again = load(write(tmp_path, name, dumped), env={}, clock=fake_clock)
    assert again.settings == first.settings
    assert again.settings.model_dump(mode="json", exclude_unset=True) == dumped
    for remote in ("s3", "billing", "search-eu", "other"):
        assert again.breaker(remote) == first.breaker(remote)
        assert repr(again.retry(remote)) == repr(first.retry(remote))
        assert repr(again.policy(remote)) == repr(first.policy(remote))


def test_each_section_builds_what_it_describes(fake_clock: FakeClock) -> None:
    """Breakers merge with the defaults, retries and timeouts build, patterns match names."""
    config = load(FULL, env={}, clock=fake_clock)
    s3 = config.breaker("s3")
    assert (s3.failure_threshold, s3.open_for, s3.open_for_max) == (4, 60, 600)
    billing = config.breaker("billing")
    assert (billing.failure_rate, billing.failure_threshold, billing.window) == (0.5, None, 20)
    assert config.breaker("search-eu").window_seconds == 30
    assert config.breaker("other") == BreakerConfig(failure_threshold=4, open_for=20)
    assert config.section("s3", "timeout") == 1.5
    assert config.section("billing", "timeout") == 3.0  # the defaults'
    assert config.section("search-eu", "check") == CheckConfig(sqlite="/var/lib/app/search.db")
    assert config.store == StoreConfig(redis="redis://127.0.0.1:6379/0", namespace="app")
    assert list(SECTIONS) == [
        "retry", "breaker", "rate_limiter", "bulkhead", "limiter", "hedge", "timeout", "chaos",
        "check",
    ]
    with pytest.raises(KeyError, match="no section 'cache'"):
        config.section("s3", "cache")


def test_a_remotes_policy_retries_through_its_breaker(fake_clock: FakeClock) -> None:
    """policy() is retry, then the registry's breaker, then the timeout, on the injected clock."""
    config = load(
        {"remotes": {"s3": {"retry": {"attempts": 3, "backoff": {"initial": 1, "jitter": "none"}},
                            "breaker": {"failure_threshold": 5}, "timeout": 2}}},
        env={}, clock=fake_clock,
    )
    calls = []

    def flaky() -> str:
        calls.append(fake_clock.monotonic())
        if len(calls) < 3:
            raise ConnectionResetError("reset")
        return "ok"

    assert config.policy("s3").call(flaky) == "ok"
    assert calls == [0.0, 1.0, 3.0]  # waits of 1 s and 2 s, slept on the fake clock
    assert config.registry.get("s3").snapshot().calls == 0  # the consecutive rule: no window

    def down() -> None:
        raise ConnectionResetError("down")

    with pytest.raises(ConnectionResetError):
        config.policy("s3").call(down)  # 3 failures
    with pytest.raises(CircuitOpenError):
        config.policy("s3").call(down)  # 2 more open it; the third attempt is refused
    assert config.registry.get("s3").state is CircuitState.OPEN


@pytest.fixture
def listening() -> Iterator[str]:
    """A TCP port on loopback that accepts connections."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield f"127.0.0.1:{server.getsockname()[1]}"


def test_health_runs_the_configured_checks(tmp_path: Path, listening: str) -> None:
    """health() registers each remote's check: a real TCP listener and a real SQLite file."""
    database = tmp_path / "app.db"
    sqlite3.connect(database).close()
    config = load(
        {"remotes": {
            "db": {"check": {"tcp": listening}},
            "files": {"check": {"sqlite": str(database), "critical": False}},
            "gone": {"check": {"sqlite": str(tmp_path / "missing.db"), "critical": False}},
            "nocheck": {},
        }},
        env={},
    )
    health = config.health()
    try:
        report = health.run()
    finally:
        health.close()
    statuses = {name: c.status for name, c in report.components.items()}
    assert statuses == {
        "db": ComponentStatus.OK, "files": ComponentStatus.OK, "gone": ComponentStatus.ERROR
    }


def test_recovery_builds_the_manager_and_its_notifiers(fake_clock: FakeClock) -> None:
    """recovery() gives a RecoveryManager; each [recovery] notifier builds its notifier."""
    config = load(FULL, env={}, clock=fake_clock)
    assert isinstance(config.recovery(), RecoveryManager)
    settings = config.settings.recovery  # type: ignore[attr-defined]
    webhook, logs = (n.notifier() for n in settings.notifiers)
    assert isinstance(webhook, WebhookNotifier)
    assert webhook.min_severity is Severity.P1
    assert isinstance(logs, LoggingNotifier)
    assert logs.logger.name == "app.incidents"
    assert isinstance(load({"remotes": {"a": {}}}, env={}).recovery(), RecoveryManager)


def test_environment_variables_override_keys(fake_clock: FakeClock) -> None:
    """RESILIENCE__REMOTES__S3__BREAKER__OPEN_FOR=60 sets that key; JSON values are typed."""
    env = {
        "RESILIENCE__REMOTES__S3__BREAKER__OPEN_FOR": "90",
        "resilience__remotes__search_eu__timeout": "4",  # matches "search-eu"
        "RESILIENCE__REMOTES__NEW__RETRY": '{"attempts": 7}',
        "RESILIENCE__STORE__NAMESPACE": "fleet",
        "RESILIENCE__REMOTES__S3__FAILURE_THRESHOLD": "2",  # a breaker field, shortened
        "RESILIENCE__DEFAULTS__OPEN_FOR": "15",
        "UNRELATED": "1",
    }
    config = load(
        {"remotes": {"S3": {}, "search-eu": {}}, "store": {"redis": "redis://h/0"}},
        env=env, clock=fake_clock,
    )
    assert config.breaker("S3").open_for == 90
    assert config.breaker("S3").failure_threshold == 2
    assert config.breaker("other").open_for == 15
    assert config.section("search-eu", "timeout") == 4
    assert config.section("new", "retry") == RetryConfig(attempts=7)
    assert config.store is not None
    assert config.store.namespace == "fleet"


def test_an_environment_error_names_the_variable() -> None:
    """A bad value set by a variable is reported at the variable, with the field."""
    with pytest.raises(ConfigError) as caught:
        load({"remotes": {"s3": {}}}, env={"RESILIENCE__REMOTES__S3__BREAKER__OPEN_FOR": "-1"})
    assert caught.value.problems == (
        (
            "RESILIENCE__REMOTES__S3__BREAKER__OPEN_FOR (environment): "
            "remotes.s3.breaker.open_for: Input should be greater than 0 (got -1)"
        ),
    )
    with pytest.raises(ConfigError, match=r"remotes\.s3\.timeout is a value, not a table"):
        load({"remotes": {"s3": {"timeout": 1}}}, env={"RESILIENCE__REMOTES__S3__TIMEOUT__X": "1"})
    with pytest.raises(ConfigError, match="an empty key"):
        load({"remotes": {"s3": {}}}, env={"RESILIENCE__REMOTES____X": "1"})


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        ("bad.toml", "[remotes.s3]\nretry = { attempts = 3 }\n\ntimeout = 0\n", 4),
        ("bad.json", '{\n  "remotes": {\n    "s3": {\n      "timeout": 0\n    }\n  }\n}\n', 4),
        ("bad.yaml", "remotes:\n  s3:\n    retry: {attempts: 3}\n    timeout: 0\n", 4),
    ],
)
def test_errors_name_the_file_the_line_and_the_field(
    tmp_path: Path, name: str, text: str, line: int
) -> None:
    """Whatever the format, an error says file:line (from the parser) and the field."""
    path, problems = _problems(tmp_path / name, text)
    assert problems == (
        f"{path}:{line}: remotes.s3.timeout: Input should be greater than 0 (got 0)",
    )


def _problems(path: Path, text: str) -> tuple[Path, tuple[str, ...]]:
    """``path`` holding ``text``, and the problems loading it raised."""
    if path.suffix == ".yaml":
        _yaml()
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load(path, env={})
    return path, caught.value.problems


_DEEP = '{"a": ' + '{"n": ' * 16 + "{}" + "}" * 17
"""17 levels of tables: one more than a configuration may have (JSON is YAML too)."""
_TOO_DEEP = "a" + ".n" * 16 + ": nested deeper than 16 levels; no setting is that deep"


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("list.json", "[1, 2]", "expected a table of settings, got a JSON list"),
        ("list.yaml", "- 1\n- 2\n", "expected a mapping of settings, got list"),
        ("deep.json", _DEEP, _TOO_DEEP),
        ("deep.yaml", _DEEP, _TOO_DEEP),
    ],
)
def test_a_file_that_is_no_table_of_settings_says_so(
    tmp_path: Path, name: str, text: str, problem: str
) -> None:
    """Settings are a table (a mapping in YAML) at most 16 levels deep, whatever the format."""
    path, problems = _problems(tmp_path / name, text)
    assert problems == (f"{path}: {problem}",)


def test_an_override_conflicting_with_the_defaults_is_a_config_error(tmp_path: Path) -> None:
    """An override inheriting a field that does not fit it is reported at the override's line."""
    path = tmp_path / "app.toml"
    path.write_text(
        "[defaults.breaker]\nfailure_rate = 0.5\nwindow = 10\n\n"
        "[remotes.s3]\nbreaker = { minimum_calls = 50 }\n"
    )
    with pytest.raises(ConfigError, match=rf"^{path}:6: remotes.s3.breaker: overrides\['s3'\]"):
        load(path, env={})


def test_a_mapping_error_says_where_without_a_line() -> None:
    """A mapping has no lines: its errors say <mapping> and the field."""
    with pytest.raises(ConfigError) as caught:
        load({"remotes": {"a": {"retry": {"attempts": 0}}}}, env={})
    assert caught.value.problems == (
        "<mapping>: remotes.a.retry.attempts: Input should be greater than or equal to 1 (got 0)",
    )


def test_yaml_without_pyyaml_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without PyYAML a .yaml file is refused with the extra to install."""
    import sys  # noqa: PLC0415

    monkeypatch.setitem(sys.modules, "yaml", None)  # an import of it now fails
    path = tmp_path / "app.yaml"
    path.write_text("remotes: {a: {}}\n")
    with pytest.raises(ConfigError, match=r"pip install 'resilience-engine\[yaml\]'"):
        load(path, env={})
