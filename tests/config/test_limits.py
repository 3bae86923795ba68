"""resilience.config's limit sections: bulkhead, rate_limiter, limiter and hedge from a file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from resilience import (
    AIMD,
    AdaptiveLimiter,
    Bulkhead,
    BulkheadConfig,
    BulkheadFullError,
    CircuitState,
    Gradient2,
    Hedge,
    LimitExceededError,
    RateLimitedError,
    RateLimiter,
)
from resilience._core.options import Options
from resilience.config import (
    AIMDLimiterConfig,
    ChaosConfig,
    ConfigError,
    Configuration,
    Gradient2LimiterConfig,
    HedgeConfig,
    RateLimitConfig,
    load,
)
from resilience.testing import FakeClock

LIMITS = """\
[defaults]
bulkhead = { max_concurrent = 1 }

[remotes.s3]
bulkhead = { max_concurrent = 2, max_queue = 1, queue_timeout = 0.5 }
rate_limiter = { rate = 2, per = 1, burst = 2 }

[remotes.db.limiter]
algorithm = "gradient2"
initial_limit = 5
max_limit = 50
smoothing = 0.5

[remotes."search-*"]
limiter = { initial_limit = 1, backoff_ratio = 0.5 }
hedge = { delay = 0.05, max_hedges = 2 }
"""


def write(tmp_path: Path, text: str, name: str = "resilience.toml") -> Path:
    """``text`` as the file ``name`` in ``tmp_path``."""
    path = tmp_path / name
    path.write_text(text)
    return path


def strategies(config: Configuration, remote: str) -> dict[type, Any]:
    """The strategies of ``remote``'s pipeline, by type."""
    return {type(s): s for s in config.policy(remote).strategies}


@pytest.mark.parametrize(
    "model",
    [
        BulkheadConfig(max_concurrent=3, max_queue=2, queue_timeout=0.25),
        RateLimitConfig(rate=5, per=2, burst=7, max_wait=0.5),
        RateLimitConfig(rate=0.5),
        AIMDLimiterConfig(initial_limit=4, min_limit=2, max_limit=9, backoff_ratio=0.5,
                          timeout=2),
        Gradient2LimiterConfig(algorithm="gradient2", initial_limit=8, smoothing=0.1,
                               queue_size=2, long_window=100, warmup=5),
        HedgeConfig(delay=0.1, max_hedges=3, percentile=95, window=50, min_samples=10),
        ChaosConfig(enabled=True, fault="connection_refused", rate=0.25, seed=3),
        ChaosConfig(latency=1.5, rate=1),
    ],
    ids=lambda model: type(model).__name__,
)
def test_each_limit_section_round_trips_through_its_json_form(model: Options) -> None:
    """Each new section's model, dumped as JSON data and validated again, equals itself."""
    data = json.loads(json.dumps(model.model_dump(mode="json", exclude_unset=True)))
    assert type(model).model_validate(data) == model


def test_the_limit_sections_round_trip_through_toml_and_json(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    """A file with every limit section, dumped to JSON and loaded again, is the same settings."""
    first = load(write(tmp_path, LIMITS), env={}, clock=fake_clock)
    dumped = first.settings.model_dump(mode="json", exclude_unset=True)
    again = load(write(tmp_path, json.dumps(dumped), "again.json"), env={}, clock=fake_clock)
    assert again.settings == first.settings
    assert again.section("db", "limiter") == Gradient2LimiterConfig(
        algorithm="gradient2", initial_limit=5, max_limit=50, smoothing=0.5
    )
    assert again.section("search-eu", "limiter") == AIMDLimiterConfig(
        initial_limit=1, backoff_ratio=0.5
    )
    assert again.section("gcs", "bulkhead") == BulkheadConfig(max_concurrent=1)  # defaults'


def test_each_section_builds_its_strategy_in_the_pipeline_order(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    """A remote's pipeline has breaker, rate limiter, bulkhead, limiter, hedge, in order."""
    config = load(write(tmp_path, LIMITS), env={}, clock=fake_clock)
    kinds = [type(s).__name__ for s in config.policy("s3").strategies]
    assert kinds == ["RemoteBreakers", "RateLimiter", "Bulkhead"]
    kinds = [type(s).__name__ for s in config.policy("search-eu").strategies]
    assert kinds == ["RemoteBreakers", "Bulkhead", "AdaptiveLimiter", "Hedge"]
    s3 = strategies(config, "s3")
    assert s3[Bulkhead].name == "s3"
    assert s3[Bulkhead].config == BulkheadConfig(max_concurrent=2, max_queue=1,
                                                 queue_timeout=0.5)
    assert (s3[RateLimiter].config.rate, s3[RateLimiter].config.capacity) == (2, 2)
    db = strategies(config, "db")[AdaptiveLimiter]
    assert db.algorithm == Gradient2(initial_limit=5, max_limit=50, smoothing=0.5)
    assert db.limit == 5
    search = strategies(config, "search-eu")[AdaptiveLimiter]
    assert search.algorithm == AIMD(initial_limit=1, backoff_ratio=0.5)
    assert strategies(config, "search-eu")[Hedge].name == "search-eu"


def test_bad_values_name_the_file_the_line_and_the_field(tmp_path: Path) -> None:
    """Every bad value of a limit section is reported with its line and its field."""
    path = write(tmp_path, """\
[remotes.s3]
limiter = { algorithm = "gradient2", smoothing = 2 }

[remotes.db.limiter]
algorithm = "vegas"

[remotes.x.limiter]
backoff_ratio = 0.1

[remotes.y]
bulkhead = { max_concurrent = 0 }
rate_limiter = { rate = 0 }
hedge = { delay = 0.1, min_samples = 50, window = 20 }
""")
    with pytest.raises(ConfigError) as caught:
        load(path, env={})
    smoothing = "Input should be less than or equal to 1 (got 2)"
    algorithm = "algorithm must be 'aimd' (the default) or 'gradient2' (got 'vegas')"
    ratio = "Input should be greater than or equal to 0.5 (got 0.1)"
    concurrent = "Input should be greater than or equal to 1 (got 0)"
    samples = ("Value error, min_samples=50 must be at most window=20: the window holds the "
               "latencies the percentile is taken from")
    assert sorted(caught.value.problems) == sorted([
        f"{path}:2: remotes.s3.limiter.smoothing: {smoothing}",
        f"{path}:5: remotes.db.limiter.algorithm: {algorithm}",
        f"{path}:8: remotes.x.limiter.backoff_ratio: {ratio}",
        f"{path}:11: remotes.y.bulkhead.max_concurrent: {concurrent}",
        f"{path}:12: remotes.y.rate_limiter.rate: Input should be greater than 0 (got 0)",
        f"{path}:13: remotes.y.hedge: {samples}",
    ])


def test_a_rate_too_fine_for_the_limiter_is_refused_at_load(tmp_path: Path) -> None:
    """A rate the limiter could not keep (over one call per microsecond) fails the load."""
    path = write(tmp_path, "[remotes.s3]\nrate_limiter = { rate = 1e9 }\n")
    with pytest.raises(ConfigError, match=r":2: remotes\.s3\.rate_limiter: .*one per microsecond"):
        load(path, env={})


def test_a_bulkhead_from_a_file_refuses_the_call_over_its_limit(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    """With ``max_concurrent = 2`` the third call at once is refused, the first two finish."""
    config = load(write(tmp_path, "[remotes.s3.bulkhead]\nmax_concurrent = 2\n"), env={},
                  clock=fake_clock)
    s3 = config.live("s3")
    refused: list[BulkheadFullError] = []

    def nested(depth: int) -> int:
        if depth == 3:
            return depth
        try:
            return s3.call(nested, depth + 1)
        except BulkheadFullError as exc:
            refused.append(exc)
            return depth

    assert s3.call(nested, 1) == 2  # the third concurrent call was refused
    assert len(refused) == 1
    assert (refused[0].in_use, refused[0].max_concurrent) == (2, 2)
    assert strategies(config, "s3")[Bulkhead].in_use == 0  # every slot given back


def test_the_defaults_give_each_remote_its_own_bulkhead(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    """``[defaults.bulkhead]`` applies to every remote, each with slots of its own."""
    config = load(
        write(tmp_path, '[defaults.bulkhead]\nmax_concurrent = 1\n[remotes."search-*"]\n'),
        env={}, clock=fake_clock,
    )
    eu, us = config.live("search-eu"), config.live("search-us")
    assert strategies(config, "search-eu")[Bulkhead] is not strategies(config, "search-us")[
        Bulkhead
    ]

    def inside_eu() -> str:
        with pytest.raises(BulkheadFullError):
            eu.call(lambda: "never")  # its own slot is taken
        return us.call(lambda: "us")  # the other remote's is free

    assert eu.call(inside_eu) == "us"


def test_a_rate_limiter_from_a_file_refuses_on_the_fake_clock(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    """``rate = 2`` with ``burst = 2``: two calls pass, the third is refused until time passes."""
    config = load(write(tmp_path, "[remotes.s3]\nrate_limiter = { rate = 2, burst = 2 }\n"),
                  env={}, clock=fake_clock)
    s3 = config.live("s3")
    assert [s3.call(int, n) for n in range(2)] == [0, 1]
    with pytest.raises(RateLimitedError):
        s3.call(lambda: "over")
    fake_clock.advance(0.5)  # one token back at 2 per second
    assert s3.call(lambda: "again") == "again"
    with pytest.raises(RateLimitedError):
        s3.call(lambda: "over")


def test_an_adaptive_limiter_from_a_file_refuses_over_its_limit(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    """An AIMD limiter with ``initial_limit = 1`` refuses a second call at once."""
    config = load(write(tmp_path, "[remotes.db]\nlimiter = { initial_limit = 1 }\n"), env={},
                  clock=fake_clock)
    db = config.live("db")

    def inside() -> str:
        with pytest.raises(LimitExceededError):
            db.call(lambda: "never")
        return "first"

    assert db.call(inside) == "first"


async def test_a_hedge_from_a_file_races_a_slow_attempt(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    """After the file's delay a second attempt starts and wins; a sync call is refused."""
    config = load(write(tmp_path, "[remotes.search]\nhedge = { delay = 0.05 }\n"), env={},
                  clock=fake_clock)
    search = config.live("search")
    attempts: list[int] = []

    async def fetch() -> str:
        attempts.append(len(attempts) + 1)
        if len(attempts) == 1:
            await asyncio.Event().wait()  # slow: until the hedge's win cancels it
        return f"attempt {len(attempts)}"

    assert await search.acall(fetch) == "attempt 2"
    assert attempts == [1, 2]
    assert fake_clock.monotonic() == pytest.approx(0.05)
    with pytest.raises(TypeError, match="cannot hedge the sync function"):
        search.call(lambda: "sync")


def test_the_environment_sets_a_limit_section(tmp_path: Path, fake_clock: FakeClock) -> None:
    """``RESILIENCE__REMOTES__S3__BULKHEAD__MAX_CONCURRENT`` sets the bulkhead's field."""
    config = load(write(tmp_path, LIMITS), clock=fake_clock,
                  env={"RESILIENCE__REMOTES__S3__BULKHEAD__MAX_CONCURRENT": "7"})
    assert strategies(config, "s3")[Bulkhead].config.max_concurrent == 7


def test_a_field_both_the_breaker_and_a_hedge_have_needs_its_section(tmp_path: Path) -> None:
    """``window`` under a remote is not taken for the breaker's: a hedge has one too."""
    path = write(tmp_path, "[remotes.s3]\n")
    with pytest.raises(ConfigError, match=r"RESILIENCE__REMOTES__S3__WINDOW.*window"):
        load(path, env={"RESILIENCE__REMOTES__S3__WINDOW": "20"})
    config = load(path, env={"RESILIENCE__REMOTES__S3__OPEN_FOR": "20"})
    assert config.breaker("s3").open_for == 20  # a field only the breaker has still works


def test_a_refusal_by_a_limit_never_counts_against_the_remotes_breaker(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    """Inside the breaker, a bulkhead's refusal leaves a one-failure breaker closed."""
    config = load(
        write(tmp_path, "[remotes.s3]\nbreaker = { failure_threshold = 1 }\n"
              "bulkhead = { max_concurrent = 1 }\n"),
        env={}, clock=fake_clock,
    )
    s3 = config.live("s3")

    def inside() -> str:
        with pytest.raises(BulkheadFullError):
            s3.call(lambda: "never")
        return "ok"

    assert s3.call(inside) == "ok"
    assert config.registry.get("s3").state is CircuitState.CLOSED
