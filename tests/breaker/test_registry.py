"""BreakerRegistry: one breaker per remote, configured by name or pattern, bounded in number."""

from __future__ import annotations

import inspect

import pytest
from pydantic import ValidationError

from resilience import (
    BreakerConfig,
    BreakerRegistry,
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    RegistryFullError,
)
from resilience.testing import FakeClock

OPEN = CircuitState.OPEN


def refused() -> None:
    raise ConnectionRefusedError("refused")


def trip(breaker: CircuitBreaker) -> None:
    """Fail calls through ``breaker`` until it opens."""
    threshold = breaker.config.failure_threshold
    assert threshold is not None
    for _ in range(threshold):
        with pytest.raises(ConnectionRefusedError):
            breaker.call(refused)
    assert breaker.state is OPEN


def test_get_creates_breakers_lazily_and_returns_the_same_one(fake_clock: FakeClock) -> None:
    """get() makes a remote's breaker on first use and returns that same breaker after."""
    registry = BreakerRegistry(clock=fake_clock)
    assert len(registry) == 0
    assert "s3" not in registry
    s3 = registry.get("s3")
    assert isinstance(s3, CircuitBreaker)
    assert s3.name == "s3"
    assert registry.get("s3") is s3
    assert "s3" in registry
    assert len(registry) == 1
    assert registry.get("gcs") is not s3
    assert len(registry) == 2
    assert s3.config == BreakerConfig()


def test_breakers_of_different_remotes_are_independent_and_share_the_clock(
    fake_clock: FakeClock,
) -> None:
    """Breakers of different remotes trip on their own and share the registry's clock."""
    registry = BreakerRegistry(BreakerConfig(failure_threshold=2, open_for=10), clock=fake_clock)
    trip(registry.get("down"))
    assert registry.get("up").call(lambda: "ok") == "ok"
    fake_clock.advance(10)
    # The shared clock moved both: the open one lets a trial through.
    assert registry.get("down").call(lambda: "back") == "back"
    assert registry.get("down").state is CircuitState.CLOSED


def test_exact_override_beats_globs_and_the_first_matching_glob_wins(fake_clock: FakeClock) -> None:
    """An exact override beats a glob, and of two matching globs the first wins."""
    default = BreakerConfig(failure_threshold=7)
    any_s3 = BreakerConfig(failure_threshold=2)
    s3_eu = BreakerConfig(failure_threshold=3)
    s3_e = BreakerConfig(failure_threshold=4)
    registry = BreakerRegistry(
        default,
        overrides={"s3-*": any_s3, "s3-eu": s3_eu, "s3-e?": s3_e},
        clock=fake_clock,
    )
    assert registry.get("s3-eu").config == s3_eu  # exact, though two globs match too
    assert registry.get("s3-us").config == any_s3
    assert registry.get("s3-ew").config == any_s3  # both globs match: the first wins
    assert registry.get("gcs").config is default
    assert registry.config_for("s3-never-created") == any_s3
    assert "s3-never-created" not in registry


def test_glob_patterns_support_character_classes_and_are_case_sensitive(
    fake_clock: FakeClock,
) -> None:
    """Override globs take character classes and match case-sensitively."""
    special = BreakerConfig(failure_threshold=1)
    registry = BreakerRegistry(overrides={"db-[0-9]": special}, clock=fake_clock)
    assert registry.config_for("db-7") == special
    assert registry.config_for("db-x") != special
    assert registry.config_for("DB-7") != special


def test_a_full_registry_evicts_the_least_recently_used_closed_breaker(
    fake_clock: FakeClock,
) -> None:
    """A full registry evicts the least recently used CLOSED breaker to make room."""
    registry = BreakerRegistry(max_breakers=3, clock=fake_clock)
    a, b, c = registry.get("a"), registry.get("b"), registry.get("c")
    registry.get("a")  # used recently: now c is the least recently used
    registry.get("b")
    registry.get("d")
    assert "c" not in registry
    assert [x.name for x in registry] == ["a", "b", "d"]
    assert registry.get("a") is a
    assert registry.get("b") is b
    assert registry.get("c") is not c  # a new breaker: the old one was evicted
    assert len(registry) == 3


@pytest.mark.parametrize(
    "hold",
    ["open", "half_open", "force_open", "disable", "metrics_only"],
)
def test_eviction_never_drops_an_open_half_open_or_manually_set_breaker(
    hold: str, fake_clock: FakeClock
) -> None:
    """Eviction never drops a breaker that is open, half-open or in a manual state."""
    registry = BreakerRegistry(
        BreakerConfig(failure_threshold=1, open_for=10), max_breakers=2, clock=fake_clock
    )
    held = registry.get("held")
    if hold in {"open", "half_open"}:
        trip(held)
    if hold == "half_open":
        fake_clock.advance(10)
        held.__enter__()  # a trial call in flight
        assert held.state is CircuitState.HALF_OPEN
    if hold == "force_open":
        held.force_open()
    if hold == "disable":
        held.disable()
    if hold == "metrics_only":
        held.metrics_only()
    state = held.state
    assert state is not CircuitState.CLOSED
    for name in ["x1", "x2", "x3", "x4"]:
        registry.get(name)
        assert registry.get("held") is held
        registry.get(name)  # the CLOSED newcomer is now the most recent: held is LRU
    assert "held" in registry
    assert held.state is state
    assert len(registry) == 2


def test_a_full_registry_with_nothing_closed_raises_saying_what_to_do(
    fake_clock: FakeClock,
) -> None:
    """A full registry with no CLOSED breaker raises RegistryFullError saying what to do."""
    registry = BreakerRegistry(BreakerConfig(failure_threshold=1), max_breakers=2, clock=fake_clock)
    trip(registry.get("a"))
    registry.get("b").force_open()
    with pytest.raises(RegistryFullError) as info:
        registry.get("c")
    message = str(info.value)
    assert "2 breakers" in message
    assert "none is CLOSED" in message
    assert "Raise max_breakers" in message
    assert "remote names are bounded" in message
    assert isinstance(info.value, RuntimeError)
    assert "c" not in registry
    assert len(registry) == 2
    registry.get("b").reset()  # now one can go
    assert registry.get("c").name == "c"
    assert "b" not in registry


def test_eviction_frees_about_one_percent_at_once(fake_clock: FakeClock) -> None:
    """Eviction frees about one percent of the room at once, oldest first."""
    registry = BreakerRegistry(max_breakers=200, clock=fake_clock)
    for i in range(200):
        registry.get(f"r{i}")
    registry.get("new")
    assert len(registry) == 199  # two evicted, one added
    assert "r0" not in registry
    assert "r1" not in registry
    assert "r2" in registry


def test_protect_with_a_fixed_remote_name_guards_a_sync_function(fake_clock: FakeClock) -> None:
    """protect(name) guards a sync function, keeps its signature and makes the breaker lazily."""
    registry = BreakerRegistry(BreakerConfig(failure_threshold=2), clock=fake_clock)
    calls: list[str] = []

    @registry.protect("s3")
    def upload(key: str, *, size: int = 0) -> str:
        """Upload an object."""
        calls.append(key)
        if key == "bad":
            raise ConnectionError("reset")
        return f"{key}:{size}"

    assert upload.__name__ == "upload"
    assert upload.__doc__ == "Upload an object."
    assert str(inspect.signature(upload)) == "(key: 'str', *, size: 'int' = 0) -> 'str'"
    assert "s3" not in registry  # lazily: not before the first call
    assert upload("a", size=3) == "a:3"
    assert "s3" in registry
    for _ in range(2):
        with pytest.raises(ConnectionError):
            upload("bad")
    assert registry.get("s3").state is OPEN
    with pytest.raises(CircuitOpenError) as info:
        upload("b")
    assert info.value.name == "s3"
    assert calls == ["a", "bad", "bad"]


def test_protect_picks_the_remote_from_the_call_arguments(fake_clock: FakeClock) -> None:
    """protect(fn) picks each call's remote from its arguments."""
    registry = BreakerRegistry(BreakerConfig(failure_threshold=1), clock=fake_clock)

    @registry.protect(lambda bucket, *_: bucket)
    def fetch(bucket: str, key: str) -> str:
        if bucket == "broken":
            raise TimeoutError(key)
        return f"{bucket}/{key}"

    assert fetch("photos", "1.jpg") == "photos/1.jpg"
    with pytest.raises(TimeoutError):
        fetch("broken", "x")
    with pytest.raises(CircuitOpenError) as info:
        fetch("broken", "y")
    assert info.value.name == "broken"
    assert fetch("photos", "2.jpg") == "photos/2.jpg"  # another remote, unaffected
    assert set(registry.snapshot()) == {"photos", "broken"}
    assert registry.get("photos").state is CircuitState.CLOSED


async def test_protect_guards_coroutine_functions_by_name_and_by_arguments(
    fake_clock: FakeClock,
) -> None:
    """protect() guards coroutine functions, by a fixed name or from the arguments."""
    registry = BreakerRegistry(BreakerConfig(failure_threshold=1), clock=fake_clock)

    @registry.protect("api")
    async def ping() -> str:
        raise ConnectionRefusedError("down")

    @registry.protect(lambda region: f"db-{region}")
    async def query(region: str) -> str:
        if region == "eu":
            raise ConnectionError("eu down")
        return region

    assert inspect.iscoroutinefunction(ping)
    assert inspect.iscoroutinefunction(query)
    with pytest.raises(ConnectionRefusedError):
        await ping()
    with pytest.raises(CircuitOpenError):
        await ping()
    assert await query("us") == "us"
    with pytest.raises(ConnectionError):
        await query("eu")
    with pytest.raises(CircuitOpenError) as info:
        await query("eu")
    assert info.value.name == "db-eu"
    assert await query("us") == "us"
    assert registry.get("api").state is OPEN


def test_snapshot_reads_every_breaker_by_remote(fake_clock: FakeClock) -> None:
    """snapshot() maps every remote to its breaker's snapshot."""
    registry = BreakerRegistry(BreakerConfig(failure_threshold=1), clock=fake_clock)
    assert registry.snapshot() == {}
    trip(registry.get("down"))
    registry.get("up")
    snap = registry.snapshot()
    assert set(snap) == {"down", "up"}
    assert snap["down"].state is OPEN
    assert snap["down"].name == "down"
    assert snap["up"].state is CircuitState.CLOSED


def test_len_iter_contains_and_repr(fake_clock: FakeClock) -> None:
    """A registry has a length, iterates its breakers, answers in and has a readable repr."""
    registry = BreakerRegistry(max_breakers=5, clock=fake_clock)
    for name in ["a", "b", "c"]:
        registry.get(name)
    assert len(registry) == 3
    assert [b.name for b in registry] == ["a", "b", "c"]
    assert all(isinstance(b, CircuitBreaker) for b in registry)
    assert "b" in registry
    assert "z" not in registry
    assert 42 not in registry
    assert repr(registry) == "BreakerRegistry(3 breakers, max_breakers=5)"


def test_listeners_of_the_registry_hear_every_breaker(fake_clock: FakeClock) -> None:
    """A registry's listeners hear the events of every breaker in it."""
    heard: list[str] = []
    registry = BreakerRegistry(
        BreakerConfig(failure_threshold=1),
        clock=fake_clock,
        listeners=[lambda event: heard.append(event.name)],
    )
    trip(registry.get("a"))
    registry.get("b").call(lambda: None)
    assert "a" in heard
    assert "b" in heard


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "10", None])
def test_max_breakers_must_be_a_positive_int(bad: object) -> None:
    """max_breakers must be a positive int; the error shows what was passed."""
    with pytest.raises(ValueError, match="max_breakers must be a positive int") as info:
        BreakerRegistry(max_breakers=bad)  # type: ignore[arg-type]
    assert repr(bad) in str(info.value)


def test_an_override_must_be_a_breaker_config() -> None:
    """An override that is not a BreakerConfig is refused, naming its key."""
    with pytest.raises(TypeError) as info:
        BreakerRegistry(overrides={"s3-*": {"failure_threshold": 3}})  # type: ignore[dict-item]
    assert "overrides['s3-*'] must be a BreakerConfig, got dict" in str(info.value)


@pytest.mark.parametrize("bad", [42, None, ["s3"]])
def test_protect_rejects_what_cannot_name_a_remote(bad: object, fake_clock: FakeClock) -> None:
    """protect() refuses what is neither a remote name nor a function."""
    registry = BreakerRegistry(clock=fake_clock)
    with pytest.raises(TypeError) as info:
        registry.protect(bad)  # type: ignore[arg-type]
    assert repr(bad) in str(info.value)


def test_protect_rejects_an_empty_remote_name(fake_clock: FakeClock) -> None:
    """protect() refuses an empty remote name."""
    with pytest.raises((TypeError, ValueError), match="non-empty remote name"):
        BreakerRegistry(clock=fake_clock).protect("")


@pytest.mark.parametrize("bad", [42, "fetch", None])
def test_protect_rejects_decorating_a_non_callable_saying_what_was_passed(
    bad: object, fake_clock: FakeClock
) -> None:
    """A protect() decorator refuses a non-callable, saying what was passed."""
    decorate = BreakerRegistry(clock=fake_clock).protect("s3")
    with pytest.raises(TypeError) as info:
        decorate(bad)  # type: ignore[arg-type]
    assert repr(bad) in str(info.value)
    assert type(bad).__name__ in str(info.value)


@pytest.mark.parametrize("bad", ["", 42, None])
def test_remote_names_must_be_non_empty_strings(bad: object, fake_clock: FakeClock) -> None:
    """get() refuses a remote name that is not a non-empty str, and adds nothing."""
    registry = BreakerRegistry(clock=fake_clock)
    with pytest.raises(TypeError, match="non-empty str"):
        registry.get(bad)  # type: ignore[arg-type]
    assert len(registry) == 0


def test_protect_with_a_remote_function_returning_a_non_string_says_so(
    fake_clock: FakeClock,
) -> None:
    """A remote function returning a non-str makes the call raise TypeError."""
    registry = BreakerRegistry(clock=fake_clock)

    @registry.protect(lambda n: n)
    def work(n: int) -> int:
        return n

    with pytest.raises(TypeError, match="non-empty str"):
        work(7)


def test_a_listener_added_later_hears_existing_and_new_breakers(fake_clock: FakeClock) -> None:
    """A listener added later hears the breakers that exist and those made after."""
    registry = BreakerRegistry(BreakerConfig(failure_threshold=1), clock=fake_clock)
    before = registry.get("before")
    assert before.call(lambda: 1) == 1
    heard: list[tuple[str, str]] = []
    registry.add_listener(lambda event: heard.append((event.name, type(event).__name__)))
    trip(before)
    registry.get("after").call(lambda: None)
    assert ("before", "StateChanged") in heard
    assert ("after", "CallRecorded") in heard
    with pytest.raises(TypeError, match="callable"):
        registry.add_listener("log")  # type: ignore[arg-type]


# ------------------------------------------------------------- overrides inherit the default


README_DEFAULT = BreakerConfig(failure_threshold=5, open_for=60, success_threshold=3)


def test_an_override_inherits_every_field_it_does_not_set_from_the_default(
    fake_clock: FakeClock,
) -> None:
    """The README's s3-* override keeps the default's open_for and success_threshold."""
    override = BreakerConfig(failure_rate=0.5, window=100)
    registry = BreakerRegistry(README_DEFAULT, overrides={"s3-*": override}, clock=fake_clock)
    config = registry.get("s3-eu").config
    assert (config.open_for, config.success_threshold) == (60.0, 3)
    assert (config.failure_rate, config.window, config.minimum_calls) == (0.5, 100, 10)
    # Resolved once, for the pattern: every remote it matches shares the merged config.
    assert registry.config_for("s3-us") is config
    assert registry.get("gcs").config is README_DEFAULT


def test_an_override_that_chooses_a_trip_rule_replaces_the_defaults_rule(
    fake_clock: FakeClock,
) -> None:
    """An override with only failure_rate trips by that rate, not by 5 consecutive failures."""
    registry = BreakerRegistry(
        README_DEFAULT,
        overrides={"s3-*": BreakerConfig(failure_rate=0.5, window=100)},
        clock=fake_clock,
    )
    s3 = registry.get("s3-eu")
    assert s3.config.failure_threshold is None
    for _ in range(9):
        with pytest.raises(ConnectionRefusedError):
            s3.call(refused)
    assert s3.state is CircuitState.CLOSED  # 9 of minimum_calls=10: not judged yet
    with pytest.raises(ConnectionRefusedError):
        s3.call(refused)
    assert s3.state is OPEN


def test_an_override_without_a_trip_rule_keeps_the_defaults_rule(fake_clock: FakeClock) -> None:
    """An override of open_for alone trips as the default does."""
    default = BreakerConfig(failure_rate=0.5, window=20, minimum_calls=4, open_for=30)
    registry = BreakerRegistry(
        default, overrides={"batch": BreakerConfig(open_for=5)}, clock=fake_clock
    )
    config = registry.config_for("batch")
    assert config == default.model_copy(update={"open_for": 5.0})
    assert config.failure_threshold is None


def test_an_override_choosing_a_window_replaces_the_defaults_window_and_minimum_calls(
    fake_clock: FakeClock,
) -> None:
    """A count window in the override replaces a time window and the default's minimum_calls."""
    default = BreakerConfig(failure_rate=0.5, window_seconds=60, minimum_calls=50)
    registry = BreakerRegistry(
        default, overrides={"small-*": BreakerConfig(window=20)}, clock=fake_clock
    )
    config = registry.config_for("small-1")
    assert (config.window, config.window_seconds, config.minimum_calls) == (20, None, 10)
    assert (config.failure_rate, config.failure_threshold) == (0.5, None)


def test_an_override_of_minimum_calls_alone_keeps_the_defaults_window(
    fake_clock: FakeClock,
) -> None:
    """minimum_calls is judged against the window the override inherits."""
    default = BreakerConfig(failure_rate=0.5, window=50)
    registry = BreakerRegistry(
        default, overrides={"x": BreakerConfig(minimum_calls=30)}, clock=fake_clock
    )
    config = registry.config_for("x")
    assert (config.window, config.minimum_calls, config.failure_rate) == (50, 30, 0.5)


@pytest.mark.parametrize(
    ("default", "override", "field"),
    [
        (BreakerConfig(open_for=10, open_for_max=60), BreakerConfig(open_for=120), "open_for_max"),
        (
            BreakerConfig(failure_rate=0.5, window=20),
            BreakerConfig(minimum_calls=30),
            "minimum_calls",
        ),
    ],
)
def test_a_merge_that_produces_an_invalid_config_is_an_error_naming_the_override_and_field(
    default: BreakerConfig, override: BreakerConfig, field: str, fake_clock: FakeClock
) -> None:
    """Valid on its own, invalid with what it inherits: refused when the registry is built."""
    with pytest.raises(ValueError, match=r"overrides\['slow-\*'\]") as info:
        BreakerRegistry(default, overrides={"slow-*": override}, clock=fake_clock)
    assert f"{field}: " in str(info.value)
    assert "Set the conflicting field in the override too" in str(info.value)
    assert isinstance(info.value.__cause__, ValidationError)


# --------------------------------------------------------------- bounded cost of names


@pytest.fixture
def state_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts every read of a breaker's state, which is how the registry examines one."""
    reads = [0]
    real: property = vars(CircuitBreaker)["state"]

    def counted(self: CircuitBreaker) -> CircuitState:
        reads[0] += 1
        state: CircuitState = real.__get__(self)
        return state

    monkeypatch.setattr(CircuitBreaker, "state", property(counted))
    return reads


@pytest.mark.parametrize("size", [200, 20_000])
def test_a_full_registry_admits_a_new_remote_in_constant_time_however_large(
    state_reads: list[int], size: int, fake_clock: FakeClock
) -> None:
    """Making room examines about one breaker per new remote, not the whole registry."""
    registry = BreakerRegistry(max_breakers=size, clock=fake_clock)
    for i in range(size):
        registry.get(f"old-{i}")
    state_reads[0] = 0
    for i in range(1_000):
        registry.get(f"new-{i}")
    assert len(registry) <= size
    assert state_reads[0] <= 1_000  # one examined per breaker evicted


def test_breakers_that_stay_open_are_examined_once_while_making_room(
    state_reads: list[int],
    fake_clock: FakeClock,
) -> None:
    """Open breakers are set aside once, not scanned again on every admission."""
    registry = BreakerRegistry(
        BreakerConfig(failure_threshold=1), max_breakers=1_000, clock=fake_clock
    )
    for i in range(500):
        trip(registry.get(f"down-{i}"))
    for i in range(500):
        registry.get(f"up-{i}")
    state_reads[0] = 0
    for i in range(3_000):
        registry.get(f"new-{i}")
    assert state_reads[0] <= 2 * 500 + 3_000
    assert all(f"down-{i}" in registry for i in range(500))
    assert registry.get("down-7").state is OPEN
    assert len(registry) <= 1_000


def test_a_set_aside_breaker_that_closes_can_be_evicted_again(fake_clock: FakeClock) -> None:
    """An open breaker kept while making room goes back to the LRU order once it closes."""
    registry = BreakerRegistry(
        BreakerConfig(failure_threshold=1, open_for=10), max_breakers=3, clock=fake_clock
    )
    down = registry.get("down")
    trip(down)
    registry.get("b")
    registry.get("c")
    registry.get("d")  # full: "down" is set aside, "b" evicted
    assert "down" in registry
    assert "b" not in registry
    assert registry.get("down") is down
    fake_clock.advance(10)
    assert registry.get("down").call(lambda: "up") == "up"
    assert down.state is CircuitState.CLOSED
    registry.get("e")  # closed by a trial just now: recently used, so "c" goes first
    assert [b.name for b in registry] == ["d", "down", "e"]
    registry.get("f")
    registry.get("g")
    assert [b.name for b in registry] == ["e", "f", "g"]


def test_a_remote_name_longer_than_1024_characters_is_a_clear_value_error(
    fake_clock: FakeClock,
) -> None:
    """A name is a remote, not a request: past 1,024 characters it is refused at once."""
    registry = BreakerRegistry(clock=fake_clock)
    assert registry.get("r" * 1024).name == "r" * 1024
    for name in ["r" * 1025, "https://example.com/" + "q" * 100_000]:
        with pytest.raises(ValueError, match="more than the 1,024 allowed") as info:
            registry.get(name)
        assert f"{len(name):,} characters long" in str(info.value)
        assert "name the remote" in str(info.value)
        assert len(str(info.value)) < 400
    assert len(registry) == 1
    with pytest.raises(ValueError, match="CircuitBreaker name is 1,025 characters long"):
        CircuitBreaker("r" * 1025)
