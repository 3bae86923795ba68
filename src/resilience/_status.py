"""``python -m resilience status --config FILE``: check a configuration, report health.

The file (TOML or JSON) describes the application's remotes: each one's breaker, retry
policy and health check, under ``[defaults]`` and ``[remotes.<name>]``, and optionally
the Redis store whose shared breaker state to show. It is validated as a whole; each
error names the field and the line it is on.
"""

from __future__ import annotations

import json
import re
import socket
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Self, TextIO

from pydantic import Field, ValidationError, field_validator, model_validator

from resilience._classify import Classifier
from resilience._config import BreakerConfig, _Config
from resilience._health import CheckResult, ComponentStatus, HealthRegistry
from resilience._retry import Backoff, RetryPolicy

__all__ = ["ConfigError", "StatusConfig", "load_config", "run_status"]


class RetryConfig(_Config):
    """A remote's retry policy, as :class:`RetryPolicy` takes it."""

    attempts: int = Field(default=3, ge=1)
    backoff: Backoff = Backoff()
    deadline: float | None = Field(default=None, gt=0)
    max_retry_after: float = Field(default=60.0, ge=0)


class CheckConfig(_Config):
    """A remote's health check: an HTTP GET, a TCP connect, or an SQLite file."""

    http: str | None = None
    """A URL whose GET must answer below 400."""
    tcp: str | None = None
    """``host:port`` that must accept a connection."""
    sqlite: str | None = None
    """The path of an SQLite database that must pass ``PRAGMA quick_check``."""
    timeout: float = Field(default=2.0, gt=0)
    critical: bool = True

    @field_validator("tcp")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[^:\s]+:\d{1,5}", value):
            raise ValueError("expected host:port, e.g. 'db.internal:5432'")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        kinds = [k for k in ("http", "tcp", "sqlite") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                f"a check needs exactly one of http, tcp or sqlite, got {kinds or 'none'}"
            )
        return self


class RemoteConfig(_Config):
    """One remote: its breaker, its retry policy, its health check (each optional)."""

    breaker: BreakerConfig | None = None
    retry: RetryConfig | None = None
    check: CheckConfig | None = None


class StoreConfig(_Config):
    """Where a fleet shares its breakers, to show their shared state."""

    redis: str
    namespace: str = "resilience"


class StatusConfig(_Config):
    """The whole file."""

    defaults: RemoteConfig = RemoteConfig()
    remotes: dict[str, RemoteConfig] = Field(min_length=1)
    store: StoreConfig | None = None

    def breaker(self, name: str) -> BreakerConfig:
        return self.remotes[name].breaker or self.defaults.breaker or BreakerConfig()

    def retry(self, name: str) -> RetryPolicy:
        config = self.remotes[name].retry or self.defaults.retry or RetryConfig()
        return RetryPolicy(
            attempts=config.attempts,
            backoff=config.backoff,
            deadline=config.deadline,
            max_retry_after=config.max_retry_after,
        )


class ConfigError(ValueError):
    """A configuration file that cannot be used; ``str()`` lists every problem."""


def load_config(path: Path) -> StatusConfig:
    """Read and validate ``path`` (``.toml`` or ``.json``); :class:`ConfigError` if bad."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it: {exc.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        kind = "JSON" if path.suffix == ".json" else "TOML"
        raise ConfigError(f"{path}: not valid {kind}: {exc}") from None
    try:
        return StatusConfig.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            line = _line_of(text, error["loc"])
            at = f"{path}:{line}" if line else str(path)
            got = f" (got {error['input']!r})" if not isinstance(error["input"], dict) else ""
            lines.append(f"{at}: {where}: {error['msg']}{got}")
        raise ConfigError("\n".join(lines)) from None


def _line_of(text: str, loc: Sequence[int | str]) -> int | None:
    """The line of the innermost key of ``loc`` that can be found, in order, in ``text``."""
    position, found = 0, None
    for part in loc:
        if isinstance(part, int):
            continue
        key = re.escape(str(part))
        # A key: `name =`, `"name":`, or part of a table header `[remotes.name...]`.
        pattern = rf'(?m)(^\s*"?{key}"?\s*[=:])|("{key}"\s*:)|(\[[^\]\n]*\b{key}\b[^\]\n]*\])'
        match = re.compile(pattern).search(text, position)
        if match is None:
            break
        position, found = match.end(), text.count("\n", 0, match.start()) + 1
    return found


def _check(config: CheckConfig) -> Callable[[], CheckResult]:
    timeout = config.timeout
    if config.http is not None:
        url = config.http

        def http() -> CheckResult:
            request = urllib.request.Request(url, method="GET")  # noqa: S310 - the user's URL
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                    return CheckResult(ComponentStatus.OK, f"HTTP {response.status}")
            except urllib.error.HTTPError as exc:
                return CheckResult(ComponentStatus.ERROR, f"HTTP {exc.code}")

        return http
    if config.tcp is not None:
        host, port = config.tcp.rsplit(":", 1)

        def tcp() -> CheckResult:
            with socket.create_connection((host, int(port)), timeout=timeout):
                return CheckResult(ComponentStatus.OK, f"{host}:{port} accepts connections")

        return tcp
    from resilience.contrib.sqlite import sqlite_check  # noqa: PLC0415

    assert config.sqlite is not None  # noqa: S101 - the model allows no other case
    return sqlite_check(config.sqlite)


def run_status(path: Path, *, out: TextIO) -> int:
    """Validate, run the checks, print health and breakers; 0 healthy, 1 not, 2 bad config."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(f"configuration is not valid:\n{exc}", file=out)
        return 2
    for name in config.remotes:
        config.retry(name)  # every policy builds: the same checks as in the application
    print(f"configuration is valid: {len(config.remotes)} remotes ({', '.join(config.remotes)})",
          file=out)
    health = HealthRegistry(classifier=Classifier.default())
    for name, remote in config.remotes.items():
        check = remote.check or config.defaults.check
        if check is not None:
            health.register(name, _check(check), critical=check.critical, timeout=check.timeout)
    status = 0
    if health.names():
        report = health.run()
        print(f"\nhealth: {report.status.name}", file=out)
        for name, component in report.components.items():
            print(f"  {name:<20} {component.status.name:<8} {component.message}", file=out)
        status = 0 if report.status.name == "HEALTHY" else 1
        health.close()
    else:
        print("\nhealth: no checks configured", file=out)
    print("\nbreakers:", file=out)
    shared = _shared_states(config) if config.store is not None else {}
    for name in config.remotes:
        breaker = config.breaker(name)
        rule = (f"{breaker.failure_threshold} consecutive failures" if breaker.failure_threshold
                else f"failure rate {breaker.failure_rate}")
        state = shared.get(name, "CLOSED (not shared: each process has its own)")
        print(f"  {name:<20} {state}; opens on {rule}, for {breaker.open_for:g} s", file=out)
    return status


def _shared_states(config: StatusConfig) -> dict[str, str]:
    """Each remote's state in the fleet's Redis store, as text."""
    assert config.store is not None  # noqa: S101 - callers check
    try:
        import redis  # noqa: PLC0415
    except ImportError:
        return dict.fromkeys(config.remotes, "unknown: pip install 'resilience[redis]'")
    client = redis.Redis.from_url(
        config.store.redis, socket_timeout=2, socket_connect_timeout=2, decode_responses=True
    )
    states: dict[str, str] = {}
    try:
        now_s, now_us = client.time()
        now = now_s * 1000 + now_us // 1000
        for name in config.remotes:
            fields = client.hgetall(f"{config.store.namespace}:breaker:{{{name}}}")
            state = str(fields.get("state", "closed")).upper()
            text = f"{state} (fleet)"
            if state == "OPEN":
                left = int(fields["opened_at"]) + int(fields["period"]) - now
                text += f", trial in {max(0, left) / 1000:.1f} s: {fields['reason']!s}"
            states[name] = text
    except redis.RedisError as exc:
        return dict.fromkeys(config.remotes, f"unknown: Redis unreachable ({exc})")
    finally:
        client.close()
    return states
