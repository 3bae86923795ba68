"""``resilience status --config FILE``: check a configuration, report health.

The file (TOML, JSON, or YAML with the extra) is read by :func:`resilience.config.load`,
with its environment overrides: the remotes under ``[defaults]`` and ``[remotes.<name>]``
and optionally the Redis store whose shared breaker state to show. It is validated as a
whole; each error names the field and the line the parser found it on.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from resilience._core.redact import redact_text
from resilience._core.text import one_line, safe_str
from resilience.config import ConfigError, Configuration, load

__all__ = ["run_status"]


def run_status(path: Path, *, out: TextIO) -> int:
    """Validate, run the checks, print health and breakers; 0 healthy, 1 not, 2 bad config."""
    try:
        config = load(path)
    except ConfigError as exc:
        print(f"configuration is not valid:\n{exc}", file=out)
        return 2
    remotes = config.remotes()
    for name in remotes:
        config.retry(name)  # every policy builds: the same checks as in the application
    names = {name: one_line(name) for name in remotes}  # escapes ANSI and newlines
    print(f"configuration is valid: {len(names)} remotes ({', '.join(names.values())})",
          file=out)
    health = config.health()
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
    for name in remotes:
        breaker = config.breaker(name)
        rule = (f"{breaker.failure_threshold} consecutive failures" if breaker.failure_threshold
                else f"failure rate {breaker.failure_rate}")
        state = one_line(shared.get(name, "CLOSED (not shared: each process has its own)"))
        print(f"  {names[name]:<20} {state}; opens on {rule}, for {breaker.open_for:g} s",
              file=out)
    return status


def _shared_states(config: Configuration) -> dict[str, str]:
    """Each remote's state in the fleet's Redis store, as text."""
    assert config.store is not None  # noqa: S101 - callers check
    try:
        import redis  # noqa: PLC0415
    except ImportError:
        return dict.fromkeys(config.remotes(), "unknown: pip install 'resilience-engine[redis]'")
    try:
        client = redis.Redis.from_url(
            config.store.redis, socket_timeout=2, socket_connect_timeout=2, decode_responses=True
        )
    except ValueError as exc:  # what the URL check lets through but the client refuses
        why = redact_text(safe_str(exc))
        return dict.fromkeys(config.remotes(), f"unknown: the store's URL is refused ({why})")
    states: dict[str, str] = {}
    try:
        now_s, now_us = client.time()
        now = now_s * 1000 + now_us // 1000
        for name in config.remotes():
            fields = client.hgetall(f"{config.store.namespace}:breaker:{{{name}}}")
            state = str(fields.get("state", "closed")).upper()
            text = f"{state} (fleet)"
            if state == "OPEN":
                left = int(fields["opened_at"]) + int(fields["period"]) - now
                text += f", trial in {max(0, left) / 1000:.1f} s: {fields['reason']!s}"
            states[name] = text
    except redis.RedisError as exc:
        why = redact_text(safe_str(exc))
        return dict.fromkeys(config.remotes(), f"unknown: Redis unreachable ({why})")
    finally:
        client.close()
    return states
