"""BreakerRegistry: one breaker per remote, configured by pattern, bounded."""

from __future__ import annotations

import pytest

from resilience import (
    BreakerConfig,
    BreakerRegistry,
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    Classifier,
    FailureKind,
    RegistryFullError,
)
from resilience.testing import FakeClock

ONE_STRIKE = BreakerConfig(failure_threshold=1, open_for=60)


def trip(breaker: CircuitBreaker) -> None:
    def refused() -> None:
        raise ConnectionRefusedError

    with pytest.raises(ConnectionRefusedError):
        breaker.call(refused)
    assert breaker.state is CircuitState.OPEN


def test_get_creates_one_breaker_per_remote_lazily() -> None:
    """get() builds a breaker on first use and returns the same one afterwards."""
    registry = BreakerRegistry(clock=FakeClock())
    assert len(registry) == 0
    assert "gdrive" not in registry
    gdrive = registry.get("gdrive")
    assert registry.get("gdrive") is gdrive
    assert gdrive.name == "gdrive"
    assert registry.get("s3") is not gdrive
    assert len(registry) == 2
    assert "gdrive" in registry
    assert {b.name for b in registry} == {"gdrive", "s3"}


def test_exact_override_beats_patterns_and_first_pattern_wins() -> None:
    """Exact names win over globs; among globs the first that matches wins."""
    default = BreakerConfig(failure_threshold=5)
    s3 = BreakerConfig(failure_threshold=2)
    s3_eu = BreakerConfig(failure_threshold=3)
    archive = BreakerConfig(failure_threshold=9)
    registry = BreakerRegistry(
        default,
        overrides={"s3-*": s3, "s3-eu*": s3_eu, "s3-archive": archive},
        clock=FakeClock(),
    )
    assert registry.get("s3-us").config is s3
    assert registry.get("s3-eu-1").config is s3  # "s3-*" comes first
    assert registry.get("s3-archive").config is archive
    assert registry.get("gdrive").config is default
    assert registry.config_for("s3-x") is s3


def test_breakers_of_different_remotes_are_independent() -> None:
    """One remote's open circuit does not affect another's."""
    registry = BreakerRegistry(ONE_STRIKE, clock=FakeClock())
    trip(registry.get("down"))
    assert registry.get("up").call(lambda: "ok") == "ok"


def test_full_registry_evicts_least_recently_used_closed_breakers_only() -> None:
    """At max_breakers, idle CLOSED breakers go first; OPEN and forced ones stay."""
    registry = BreakerRegistry(ONE_STRIKE, clock=FakeClock(), max_breakers=4)
    trip(registry.get("open"))
    registry.get("forced").force_open()
    registry.get("old")
    registry.get("recent")
    registry.get("old")  # used again: now more recent than "recent"
    registry.get("new")
    assert len(registry) == 4
    assert "recent" not in registry
    assert {"open", "forced", "old", "new"} <= {b.name for b in registry}
    assert registry.get("open").state is CircuitState.OPEN  # protection kept


def test_half_open_breakers_are_never_evicted() -> None:
    """A HALF_OPEN breaker stays in a full registry."""
    clock = FakeClock()
    registry = BreakerRegistry(ONE_STRIKE, clock=clock, max_breakers=2)
    half = registry.get("half")
    trip(half)
    clock.advance(60)
    with half:  # a trial in flight keeps it HALF_OPEN
        assert half.state is CircuitState.HALF_OPEN
        registry.get("a")
        registry.get("b")
        assert "half" in registry
        assert "a" not in registry


def test_full_registry_with_nothing_closed_raises_a_helpful_error() -> None:
    """When every breaker is OPEN, a new remote is refused with what to do."""
    registry = BreakerRegistry(ONE_STRIKE, clock=FakeClock(), max_breakers=2)
    trip(registry.get("a"))
    trip(registry.get("b"))
    with pytest.raises(RegistryFullError, match="max_breakers") as info:
        registry.get("c")
    assert "remote names are bounded" in str(info.value)
    assert len(registry) == 2


def test_protect_with_a_fixed_remote() -> None:
    """protect("name") sends every call through that remote's breaker."""
    registry = BreakerRegistry(ONE_STRIKE, clock=FakeClock())

    @registry.protect("billing")
    def charge(amount: int) -> int:
        """Charge an amount."""
        if amount < 0:
            raise ConnectionResetError
        return amount

    assert charge.__name__ == "charge"
    assert charge.__doc__ == "Charge an amount."
    assert charge(5) == 5
    with pytest.raises(ConnectionResetError):
        charge(-1)
    with pytest.raises(CircuitOpenError, match="billing"):
        charge(5)


def test_protect_picks_the_remote_from_the_arguments() -> None:
    """protect(fn) routes each call to the breaker of the remote fn returns."""
    registry = BreakerRegistry(ONE_STRIKE, clock=FakeClock())
    down = {"s3-eu"}

    @registry.protect(lambda remote, _path: remote)
    def listing(remote: str, path: str) -> str:
        if remote in down:
            raise ConnectionResetError(remote)
        return f"{remote}:{path}"

    with pytest.raises(ConnectionResetError):
        listing("s3-eu", "/a")
    with pytest.raises(CircuitOpenError) as info:
        listing("s3-eu", "/b")
    assert info.value.name == "s3-eu"
    assert listing("gdrive", "/a") == "gdrive:/a"


async def test_protect_works_on_coroutines() -> None:
    """protect() on an async function awaits it through the remote's breaker."""
    registry = BreakerRegistry(ONE_STRIKE, clock=FakeClock())

    @registry.protect(lambda remote: remote)
    async def ping(remote: str) -> str:
        if remote == "down":
            raise TimeoutError
        return "pong"

    assert await ping("up") == "pong"
    with pytest.raises(TimeoutError):
        await ping("down")
    with pytest.raises(CircuitOpenError):
        await ping("down")


def test_snapshot_reads_every_breaker() -> None:
    """snapshot() maps each remote to its breaker's reading."""
    registry = BreakerRegistry(ONE_STRIKE, clock=FakeClock())
    trip(registry.get("a"))
    registry.get("b")
    snap = registry.snapshot()
    assert set(snap) == {"a", "b"}
    assert snap["a"].state is CircuitState.OPEN
    assert snap["a"].retry_after == 60
    assert snap["b"].state is CircuitState.CLOSED


def test_registry_classifier_reaches_every_breaker() -> None:
    """A registry's classifier decides what counts for each breaker it creates."""

    class QuotaError(Exception):
        pass

    classifier = Classifier.default().with_rule(QuotaError, FailureKind.RETRYABLE)
    registry = BreakerRegistry(ONE_STRIKE, clock=FakeClock(), classifier=classifier)
    breaker = registry.get("api")
    assert breaker.classifier is classifier

    def over_quota() -> None:
        raise QuotaError

    with pytest.raises(QuotaError):
        breaker.call(over_quota)
    assert breaker.state is CircuitState.OPEN


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "10"])
def test_max_breakers_must_be_a_positive_int(bad: object) -> None:
    """A max_breakers that is not a positive int is refused."""
    with pytest.raises(ValueError, match="max_breakers"):
        BreakerRegistry(max_breakers=bad)  # type: ignore[arg-type]


def test_override_must_be_a_breaker_config() -> None:
    """An override that is not a BreakerConfig is refused, naming its key."""
    with pytest.raises(TypeError, match=r"overrides\['s3-\*'\]"):
        BreakerRegistry(overrides={"s3-*": {"failure_threshold": 3}})  # type: ignore[dict-item]


def test_protect_rejects_what_cannot_name_a_remote_or_be_decorated() -> None:
    """protect() needs a name or a function, and decorates only callables."""
    registry = BreakerRegistry(clock=FakeClock())
    with pytest.raises(TypeError, match="remote name"):
        registry.protect(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="decorates a function"):
        registry.protect("x")(None)  # type: ignore[arg-type]


def test_remote_names_must_be_non_empty_strings() -> None:
    """get() refuses an empty or non-string remote name."""
    registry = BreakerRegistry(clock=FakeClock())
    with pytest.raises(TypeError, match="non-empty str"):
        registry.get("")
    with pytest.raises(TypeError, match="non-empty str"):
        registry.get(None)  # type: ignore[arg-type]
