"""Remotes: one strategy per remote, created on first use, and PerRemote picking it."""

from __future__ import annotations

from typing import Any

import pytest

from resilience import Measurement, PerRemote, RegistryFullError, RejectedError, Remotes, Timeout


class Gate:
    """A strategy that counts calls in flight, refuses beyond ``limit``, and measures."""

    def __init__(self, name: str, limit: int = 1) -> None:
        self.name = name
        self.limit = limit
        self.inside = 0
        self.seen: list[BaseException | None] = []

    @property
    def idle(self) -> bool:
        return self.inside == 0

    def before(self, fn: object, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if self.inside >= self.limit:
            raise RejectedError(f"{self.name} is full")
        self.inside += 1

    def after(self, token: None, value: object, error: BaseException | None) -> None:
        self.inside -= 1
        self.seen.append(error)

    def measurements(self) -> list[Measurement]:
        return [Measurement(kind="gate", name=self.name, state=f"{self.inside} inside",
                            gauges={"inside": self.inside})]


def test_a_remote_gets_its_own_strategy_built_by_the_matching_factory() -> None:
    """Exact names win over patterns, patterns over the default factory."""
    remotes = Remotes(
        Gate,
        overrides={"s3-*": lambda name: Gate(name, limit=5), "s3-eu": lambda name: Gate(name, 9)},
    )
    assert remotes.get("db").limit == 1
    assert remotes.get("s3-us").limit == 5
    assert remotes.get("s3-eu").limit == 9
    assert remotes.get("db") is remotes.get("db")
    assert len(remotes) == 3
    assert "db" in remotes


def test_per_remote_sends_each_call_through_its_remotes_strategy() -> None:
    """A picker of the call's arguments chooses the strategy; its outcome is recorded there."""
    remotes = Remotes(Gate)
    guard = remotes.protect(lambda host, _path: host)
    assert isinstance(guard, PerRemote)

    @guard
    def fetch(host: str, path: str) -> str:
        return f"{host}{path}"

    assert fetch("a", "/x") == "a/x"
    with pytest.raises(ValueError, match="boom"):
        guard.call(lambda _host, _path: (_ for _ in ()).throw(ValueError("boom")), "b", "/y")
    assert remotes.get("a").seen == [None]
    assert [type(e) for e in remotes.get("b").seen] == [ValueError]


async def test_per_remote_serves_async_calls_and_with_blocks() -> None:
    """acall and a with block take and give back the remote's slot."""
    remotes = Remotes(Gate)
    guard = remotes.protect("db")

    async def query() -> int:
        assert remotes.get("db").inside == 1
        return 7

    assert await guard.acall(query) == 7
    with guard:
        assert remotes.get("db").inside == 1
        with pytest.raises(RejectedError, match="db is full"), guard:
            pass
    assert remotes.get("db").inside == 0


def test_a_full_registry_drops_the_least_recently_used_idle_strategy() -> None:
    """An idle strategy makes room; when every one is busy, the registry refuses clearly."""
    remotes = Remotes(Gate, max_remotes=2)
    remotes.get("a")
    remotes.get("b")
    remotes.get("a")  # b is now least recently used
    remotes.get("c")
    assert "b" not in remotes
    assert "a" in remotes
    assert "c" in remotes
    remotes.get("a").inside = 1
    remotes.get("c").inside = 1
    with pytest.raises(RegistryFullError, match="every one has calls in flight"):
        remotes.get("d")


def test_measurements_come_from_every_strategy_that_shows_any() -> None:
    """The registry's measurements are those of its strategies, one per remote."""
    remotes = Remotes(Gate)
    remotes.get("a")
    remotes.get("b")
    assert [(m.kind, m.name, dict(m.gauges)) for m in remotes.measurements()] == [
        ("gate", "a", {"inside": 0}),
        ("gate", "b", {"inside": 0}),
    ]


def test_bad_arguments_are_refused_with_what_was_passed() -> None:
    """A factory, an override, a limit or a remote of the wrong kind is a clear error."""
    with pytest.raises(TypeError, match="factory must build"):
        Remotes(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="overrides map"):
        Remotes(Gate, overrides={"": Gate})
    with pytest.raises(ValueError, match="max_remotes"):
        Remotes(Gate, max_remotes=0)
    with pytest.raises(TypeError, match="non-empty remote name"):
        Remotes(Gate).protect("")
    with pytest.raises(ValueError, match="characters long"):
        Remotes(Gate).get("x" * 5000)


def test_a_strategy_that_runs_the_call_itself_cannot_be_chosen_per_call() -> None:
    """A time limit per remote is refused when first met, saying what to do instead."""
    remotes = Remotes(lambda _name: Timeout(1.0))
    with pytest.raises(TypeError, match="its own pipeline"):
        remotes.protect("db").call(lambda: 1)
