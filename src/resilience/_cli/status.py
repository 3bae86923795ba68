"""``python -m resilience status --config FILE``: check a configuration, report health.

The file (TOML or JSON) describes the application's remotes: each one's breaker, retry
policy and health check, under ``[defaults]`` and ``[remotes.<name>]``, and optionally
the Redis store whose shared breaker state to show. It is validated as a whole; each
error names the field and the line the parser found it on.
"""

from __future__ import annotations

import re
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Self, TextIO
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator

from resilience._breaker.config import BreakerConfig
from resilience._classify.classifier import Classifier
from resilience._cli.config_file import FileError, KeyPath, read
from resilience._core.errors import ResilienceError
from resilience._core.options import Options, Seconds
from resilience._core.redact import MASK, is_secret_name, redact_text
from resilience._core.text import one_line, safe_repr, safe_str
from resilience._retry.backoff import Backoff
from resilience._retry.policy import RetryPolicy
from resilience.health import CheckResult, ComponentStatus, HealthRegistry

__all__ = ["ConfigError", "StatusConfig", "health_registry", "load_config", "run_status"]


class RetryConfig(Options):
    """A remote's retry policy, as :class:`RetryPolicy` takes it."""

    attempts: int = Field(default=3, ge=1)
    backoff: Backoff = Backoff()
    deadline: Seconds | None = Field(default=None, gt=0)
    max_retry_after: Seconds = Field(default=60.0, ge=0)


class CheckConfig(Options):
    """A remote's health check: an HTTP GET, a TCP connect, or an SQLite file."""

    http: str | None = None
    """A URL whose GET must answer below 400."""
    tcp: str | None = None
    """``host:port`` that must accept a connection."""
    sqlite: str | None = None
    """The path of an SQLite database that must pass ``PRAGMA quick_check``."""
    timeout: Seconds = Field(default=2.0, gt=0)
    critical: bool = True

    @field_validator("http")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None:
            _url(
                value,
                ("http", "https"),
                "an http:// or https:// URL, e.g. 'https://billing.internal/health'",
            )
        return value

    @field_validator("tcp")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None and (
            not re.fullmatch(r"[^:\s]+:\d{1,5}", value)
            or not value.isprintable()
            or not 0 < int(value.rpartition(":")[2]) <= 65535  # noqa: PLR2004
        ):
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


class RemoteConfig(Options):
    """One remote: its breaker, its retry policy, its health check (each optional)."""

    breaker: BreakerConfig | None = None
    retry: RetryConfig | None = None
    check: CheckConfig | None = None


class StoreConfig(Options):
    """Where a fleet shares its breakers, to show their shared state."""

    redis: str
    namespace: str = "resilience"

    @field_validator("redis")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        _url(
            value,
            ("redis", "rediss", "unix"),
            "a redis://, rediss:// or unix:// URL, e.g. 'redis://127.0.0.1:6379/0'",
        )
        return value


def _url(value: str, schemes: tuple[str, ...], expected: str) -> None:
    """Raise the ValueError pydantic reports unless ``value`` is a usable URL of ``schemes``."""
    try:
        parts = urlsplit(value)
        _ = parts.port  # a number up to 65535, or none
    except ValueError:
        raise ValueError(f"expected {expected}; its host or port is malformed") from None
    if not value.isprintable() or any(c.isspace() for c in value):
        raise ValueError(f"expected {expected}, without spaces or control characters")
    if parts.scheme not in schemes:
        got = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        raise ValueError(f"expected {expected}, got {got}")
    if parts.scheme == "unix" and not parts.path:
        raise ValueError(f"expected {expected}; a unix:// URL needs the socket's path")
    if parts.scheme != "unix" and not parts.hostname:
        raise ValueError(f"expected {expected}; it has no host")


class StatusConfig(Options):
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


class ConfigError(ResilienceError, ValueError):
    """A configuration file that cannot be used; ``str()`` lists every problem."""


def load_config(path: Path) -> StatusConfig:
    """Read and validate ``path`` (``.toml`` or ``.json``); :class:`ConfigError` if bad."""
    try:
        data, lines = read(path)
    except FileError as exc:
        raise ConfigError(str(exc)) from None
    try:
        return StatusConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            keys = _key_path(data, error["loc"])
            where = ".".join(one_line(str(part)) for part in error["loc"])
            line = _line_of(lines, keys)
            at = f"{path}:{line}" if line else f"{path} (line unknown)"
            got = _shown_input(error["loc"], error["input"])
            problems.append(f"{at}: {where}: {one_line(error['msg'])}{got}")
        raise ConfigError("\n".join(problems)) from None


def _key_path(data: Mapping[str, Any], loc: Sequence[int | str]) -> KeyPath:
    """The longest start of an error's location that is keys in the file.

    A missing key ("Field required") stops it at the table the key belongs in.
    """
    keys: list[str | int] = []
    value: Any = data
    for part in loc:
        in_table = isinstance(value, Mapping) and part in value
        in_array = isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value)
        if not (in_table or in_array):
            break
        value = value[part]
        keys.append(part)
    return tuple(keys)


def _line_of(lines: Mapping[KeyPath, int], keys: KeyPath) -> int | None:
    """The line the parser found ``keys`` on; None if unknown (or nothing of it is there)."""
    return lines.get(keys) if keys else None


def _shown_input(loc: Sequence[int | str], value: object) -> str:
    """`` (got ...)`` for a scalar, its secrets masked; nothing for a table."""
    if isinstance(value, dict):
        return ""
    names = [part for part in loc if isinstance(part, str)]
    if names and is_secret_name(names[-1]):
        return f" (got {MASK})"
    if isinstance(value, str):
        value = redact_text(value)
    return f" (got {safe_repr(value, limit=200)})"


def _http_only() -> urllib.request.OpenerDirector:
    """An opener without file:, ftp: or data: handlers: a redirect cannot reach them."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        urllib.request.HTTPRedirectHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


_HTTP_ONLY = _http_only()


def _check(config: CheckConfig) -> Callable[[], CheckResult]:
    timeout = config.timeout
    if config.http is not None:
        url = config.http

        def http() -> CheckResult:
            request = urllib.request.Request(url, method="GET")  # noqa: S310 - checked: http(s)
            try:
                with _HTTP_ONLY.open(request, timeout=timeout) as response:
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


def health_registry(config: StatusConfig) -> HealthRegistry:
    """A health registry with every remote's check, as the configuration describes it."""
    health = HealthRegistry(classifier=Classifier.default())
    for name, remote in config.remotes.items():
        check = remote.check or config.defaults.check
        if check is not None:
            health.register(name, _check(check), critical=check.critical, timeout=check.timeout)
    return health


def run_status(path: Path, *, out: TextIO) -> int:
    """Validate, run the checks, print health and breakers; 0 healthy, 1 not, 2 bad config."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(f"configuration is not valid:\n{exc}", file=out)
        return 2
    for name in config.remotes:
        config.retry(name)  # every policy builds: the same checks as in the application
    names = {name: one_line(name) for name in config.remotes}  # escapes ANSI and newlines
    print(f"configuration is valid: {len(names)} remotes ({', '.join(names.values())})", file=out)
    health = health_registry(config)
    status = 0
    if health.names():
        report = health.run()
        print(f"\nhealth: {report.status.name}", file=out)
        for name, component in report.components.items():
            message = one_line(redact_text(component.message))
            print(f"  {names[name]:<20} {component.status.name:<8} {message}", file=out)
        status = 0 if report.status.name == "HEALTHY" else 1
        health.close()
    else:
        print("\nhealth: no checks configured", file=out)
    print("\nbreakers:", file=out)
    shared = _shared_states(config) if config.store is not None else {}
    for name in config.remotes:
        breaker = config.breaker(name)
        rule = (
            f"{breaker.failure_threshold} consecutive failures"
            if breaker.failure_threshold
            else f"failure rate {breaker.failure_rate}"
        )
        state = one_line(shared.get(name, "CLOSED (not shared: each process has its own)"))
        print(f"  {names[name]:<20} {state}; opens on {rule}, for {breaker.open_for:g} s", file=out)
    return status


def _shared_states(config: StatusConfig) -> dict[str, str]:
    """Each remote's state in the fleet's Redis store, as text."""
    assert config.store is not None  # noqa: S101 - callers check
    try:
        import redis  # noqa: PLC0415
    except ImportError:
        return dict.fromkeys(config.remotes, "unknown: pip install 'resilience[redis]'")
    try:
        client = redis.Redis.from_url(
            config.store.redis, socket_timeout=2, socket_connect_timeout=2, decode_responses=True
        )
    except ValueError as exc:  # what the URL check lets through but the client refuses
        why = redact_text(safe_str(exc))
        return dict.fromkeys(config.remotes, f"unknown: the store's URL is refused ({why})")
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
        why = redact_text(safe_str(exc))
        return dict.fromkeys(config.remotes, f"unknown: Redis unreachable ({why})")
    finally:
        client.close()
    return states
