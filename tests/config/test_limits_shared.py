"""A shared rate limiter from a file: one limit for the fleet, in the ``[store]``'s Redis."""

from __future__ import annotations

from pathlib import Path

import pytest

from resilience import Bulkhead, RateLimitedError, RateLimiter
from resilience.config import ConfigError, load
from resilience.testing import FakeClock
from servers import RedisServer


def file(tmp_path: Path, url: str, namespace: str = "fleet") -> Path:
    """A file: s3 has a bulkhead and a shared limit of 2 a minute, burst 2 (on Redis's clock)."""
    path = tmp_path / "resilience.toml"
    path.write_text(
        f'[store]\nredis = "{url}"\nnamespace = "{namespace}"\n\n'
        "[remotes.s3]\nbulkhead = { max_concurrent = 5 }\n"
        "rate_limiter = { rate = 2, per = 60, burst = 2, shared = true }\n"
    )
    return path


def test_two_workers_loading_the_file_share_one_limit(
    tmp_path: Path, redis_server: RedisServer, fake_clock: FakeClock
) -> None:
    """Two configurations of the same file admit the burst of 2 between them, not 2 each."""
    path = file(tmp_path, redis_server.url)
    worker_a = load(path, env={}, clock=fake_clock)
    worker_b = load(path, env={}, clock=fake_clock)
    try:
        a, b = worker_a.live("s3"), worker_b.live("s3")
        assert a.call(lambda: "a1") == "a1"
        assert b.call(lambda: "b1") == "b1"
        with pytest.raises(RateLimitedError):
            a.call(lambda: "over")
        with pytest.raises(RateLimitedError):
            b.call(lambda: "over")
    finally:
        worker_a.close()
        worker_b.close()


def test_a_changed_store_renews_the_shared_limiter_only(
    tmp_path: Path, redis_server: RedisServer, fake_clock: FakeClock
) -> None:
    """A new ``[store]`` namespace renews s3's shared limiter (a fresh limit), not its bulkhead."""
    path = file(tmp_path, redis_server.url)
    config = load(path, env={}, clock=fake_clock)
    try:
        s3 = config.live("s3")
        for _ in range(2):
            s3.call(lambda: None)
        strategies = config.policy("s3").strategies
        limiter = next(s for s in strategies if isinstance(s, RateLimiter))
        bulkhead = next(s for s in strategies if isinstance(s, Bulkhead))
        file(tmp_path, redis_server.url, namespace="other")
        assert config.reload()
        strategies = config.policy("s3").strategies
        assert next(s for s in strategies if isinstance(s, RateLimiter)) is not limiter
        assert next(s for s in strategies if isinstance(s, Bulkhead)) is bulkhead
        assert s3.call(lambda: "fresh") == "fresh"  # the other namespace's limit is unspent
    finally:
        config.close()


def test_a_shared_limiter_without_a_store_is_refused_at_load(tmp_path: Path) -> None:
    """``shared = true`` needs the ``[store]``: the error names the line and the field."""
    path = tmp_path / "resilience.toml"
    path.write_text("[remotes.s3]\nrate_limiter = { rate = 2, shared = true }\n")
    with pytest.raises(ConfigError, match=r":2: remotes\.s3\.rate_limiter\.shared: a shared "
                       r"rate limiter needs a \[store\]"):
        load(path, env={})
