"""A reload and the limits a remote keeps: the same instance while its section is unchanged."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from resilience import AdaptiveLimiter, Bulkhead, BulkheadFullError, RateLimitedError, RateLimiter
from resilience.config import Configuration, load
from resilience.testing import FakeClock


def held(config: Configuration, remote: str, kind: type) -> Any:
    """``remote``'s strategy of type ``kind`` in the pipeline in force."""
    return next(s for s in config.policy(remote).strategies if isinstance(s, kind))


def test_an_unchanged_section_keeps_its_instance_and_state_across_a_reload(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    """A reload changing only the timeout keeps the bulkhead's slots and the limiter's tokens."""
    path = tmp_path / "resilience.toml"
    path.write_text(
        "[remotes.s3]\ntimeout = 5\nbulkhead = { max_concurrent = 1 }\n"
        "rate_limiter = { rate = 1, burst = 3 }\n"
    )
    config = load(path, env={}, clock=fake_clock)
    s3 = config.live("s3")
    bulkhead, rate = held(config, "s3", Bulkhead), held(config, "s3", RateLimiter)
    before = config.policy("s3")

    def reload_inside() -> str:
        path.write_text(path.read_text().replace("timeout = 5", "timeout = 9"))
        assert config.reload()
        with pytest.raises(BulkheadFullError):  # the slot this call holds is still taken
            s3.call(lambda: "never")
        return "done"

    assert s3.call(reload_inside) == "done"
    assert config.policy("s3") is not before  # a new pipeline, with the new timeout
    assert held(config, "s3", Bulkhead) is bulkhead
    assert held(config, "s3", RateLimiter) is rate
    s3.call(lambda: None)  # the third token of the burst of 3 (two taken above)
    with pytest.raises(RateLimitedError):
        s3.call(lambda: None)


def test_a_changed_section_gives_a_new_instance_from_the_next_call(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    """A call in flight finishes under the old bulkhead; the next ones use the new one."""
    path = tmp_path / "resilience.toml"
    path.write_text("[remotes.s3]\nbulkhead = { max_concurrent = 1 }\n")
    config = load(path, env={}, clock=fake_clock)
    s3 = config.live("s3")
    old = held(config, "s3", Bulkhead)

    def reload_inside() -> int:
        path.write_text(path.read_text().replace("max_concurrent = 1", "max_concurrent = 2"))
        assert config.reload()
        new = held(config, "s3", Bulkhead)
        assert new is not old
        assert (old.in_use, new.in_use) == (1, 0)  # this call holds the old one's slot
        in_use: int = s3.call(lambda: new.in_use)  # admitted by the new one
        return in_use

    assert s3.call(reload_inside) == 1
    assert old.in_use == 0  # given back to the bulkhead it was taken from


def test_a_changed_default_renews_the_remotes_using_it_only(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    """A change of ``[defaults.limiter]`` renews the limiter of a remote that inherits it."""
    path = tmp_path / "resilience.toml"
    path.write_text(
        "[defaults.limiter]\nmax_limit = 100\n"
        '[remotes.s3]\n[remotes.db]\nlimiter = { algorithm = "gradient2" }\n'
    )
    config = load(path, env={}, clock=fake_clock)
    s3, db = held(config, "s3", AdaptiveLimiter), held(config, "db", AdaptiveLimiter)
    path.write_text(path.read_text().replace("max_limit = 100", "max_limit = 50"))
    assert config.reload()
    assert held(config, "s3", AdaptiveLimiter) is not s3
    assert held(config, "s3", AdaptiveLimiter).algorithm.max_limit == 50
    assert held(config, "db", AdaptiveLimiter) is db  # its own section did not change


def test_a_refused_reload_keeps_every_instance(tmp_path: Path, fake_clock: FakeClock) -> None:
    """A version that does not validate changes no bulkhead."""
    path = tmp_path / "resilience.toml"
    path.write_text("[remotes.s3]\nbulkhead = { max_concurrent = 1 }\n")
    config = load(path, env={}, clock=fake_clock)
    bulkhead = held(config, "s3", Bulkhead)
    path.write_text("[remotes.s3]\nbulkhead = { max_concurrent = 0 }\n")
    assert not config.reload()
    assert held(config, "s3", Bulkhead) is bulkhead


def test_threads_building_a_remotes_pipeline_at_once_share_one_bulkhead(
    fake_clock: FakeClock,
) -> None:
    """Eight threads asking at once for two remotes' first pipelines get one bulkhead each."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often: inside a build, if nothing stops it
    try:
        for _ in range(10):
            config = load({"defaults": {"bulkhead": {"max_concurrent": 1}},
                           "remotes": {"s3": {}}}, env={}, clock=fake_clock)
            start = threading.Barrier(8)
            seen: list[Bulkhead] = []

            def build(n: int, config: Configuration = config,
                      start: threading.Barrier = start, seen: list[Bulkhead] = seen) -> None:
                start.wait(timeout=5)
                seen.append(held(config, f"remote-{n % 2}", Bulkhead))

            threads = [threading.Thread(target=build, args=(n,)) for n in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=5)
            assert len(seen) == 8
            assert len({id(b) for b in seen}) == 2  # one per remote
            assert {b.name for b in seen} == {"remote-0", "remote-1"}
    finally:
        sys.setswitchinterval(interval)


REMOTES = ("s3", "db")


class KeptInstances(RuleBasedStateMachine):
    """Reloads of random bulkhead sections against a model of which instance each remote has."""

    def __init__(self) -> None:
        super().__init__()
        self.config = load({"remotes": {"s3": {}, "db": {}}}, env={}, clock=FakeClock())
        self.sections: dict[str, int | None] = dict.fromkeys(REMOTES)
        self.seen: dict[str, tuple[int, Bulkhead]] = {}  # the model: kept value and instance
        self.built: list[Bulkhead] = []

    @rule(s3=st.none() | st.integers(1, 3), db=st.none() | st.integers(1, 3))
    def reload(self, s3: int | None, db: int | None) -> None:
        """Put a new version in force: each remote with a bulkhead of that size, or none."""
        self.sections = {"s3": s3, "db": db}
        remotes = {
            name: {} if size is None else {"bulkhead": {"max_concurrent": size}}
            for name, size in self.sections.items()
        }
        assert self.config.reload({"remotes": remotes})
        for name, size in self.sections.items():  # a changed section lets its instance go
            if name in self.seen and self.seen[name][0] != size:
                del self.seen[name]

    @rule(remote=st.sampled_from(REMOTES))
    def build(self, remote: str) -> None:
        """Build the remote's pipeline: the bulkhead kept since its section last changed."""
        size = self.sections[remote]
        bulkheads = [s for s in self.config.policy(remote).strategies if isinstance(s, Bulkhead)]
        if size is None:
            assert bulkheads == []
            return
        (bulkhead,) = bulkheads
        assert bulkhead.config.max_concurrent == size
        last = self.seen.get(remote)
        if last is not None:
            assert bulkhead is last[1]
        assert all(bulkhead is not b for name, (_, b) in self.seen.items() if name != remote)
        self.seen[remote] = (size, bulkhead)
        self.built.append(bulkhead)

    @invariant()
    def a_renewed_instance_is_never_an_old_one(self) -> None:
        """Each remote's kept bulkhead is the first time that instance was seen for it."""
        for size, bulkhead in self.seen.values():
            assert bulkhead.config.max_concurrent == size
            first = next(i for i, b in enumerate(self.built) if b is bulkhead)
            assert all(b is bulkhead for b in self.built[first:] if b.name == bulkhead.name)


TestKeptInstances = KeptInstances.TestCase
TestKeptInstances.settings = settings(max_examples=40, stateful_step_count=20, deadline=None)
