"""Batch jobs under a hypothesis state machine: runs, crashes anywhere, redrives.

Each item has a scripted behaviour (succeed, fail retryably then succeed, fail
permanently, fail partially, or meet an open circuit). A crash kills the run at an
item and loses every outcome not yet committed, as SIGKILL would. Whatever happens, no
item is ever lost: once the remote is up and a run completes, every item is done or
recorded failed, and each result's counts add up.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from resilience import (
    Backoff,
    BatchProcessor,
    BatchResult,
    CircuitBreaker,
    ItemKey,
    ItemRecord,
    MemoryCheckpointStore,
    PartialFailure,
    RetryPolicy,
)
from resilience.testing import FakeClock

BEHAVIOURS = ["ok", "flaky", "permanent", "partial"]


class Crash(BaseException):  # a simulated process death, not an error
    pass


class CrashableStore(MemoryCheckpointStore):
    """A memory store whose process can die: commits after the crash are lost."""

    def __init__(self) -> None:
        super().__init__()
        self.dead = False

    def commit(self, job: str, records: Iterable[ItemRecord]) -> None:
        if self.dead:
            raise Crash  # the process is gone: nothing more reaches the store
        super().commit(job, records)


class BatchMachine(RuleBasedStateMachine):
    """Runs, crashes and redrives of one job, against what must always hold."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.store = CrashableStore()
        self.breaker = CircuitBreaker("remote", clock=self.clock)
        self.behaviour: dict[ItemKey, str] = {}
        self.flaky_left: Counter[ItemKey] = Counter()
        self.calls: Counter[ItemKey] = Counter()
        self.crash_at: int | None = None
        self.handled = 0
        self.checkpoint_every = 1

    @initialize(
        behaviours=st.lists(st.sampled_from(BEHAVIOURS), min_size=1, max_size=25),
        checkpoint_every=st.integers(1, 6),
    )
    def build(self, behaviours: list[str], checkpoint_every: int) -> None:
        self.behaviour = {f"item-{i}": b for i, b in enumerate(behaviours)}
        self.checkpoint_every = checkpoint_every

    def handler(self, item: str) -> None:
        if self.crash_at is not None and self.handled == self.crash_at:
            self.store.dead = True
            raise Crash
        self.handled += 1
        self.calls[item] += 1
        behaviour = self.behaviour[item]
        if behaviour == "flaky" and self.flaky_left[item] < 1:
            self.flaky_left[item] += 1
            raise ConnectionResetError(item)
        if behaviour == "permanent":
            raise PermissionError(13, "denied", item)
        if behaviour == "partial":
            raise PartialFailure(succeeded=["a"], failed={"b": FileNotFoundError(2, "gone")})

    def processor(self) -> BatchProcessor:
        return BatchProcessor(
            "job",
            self.handler,
            store=self.store,
            checkpoint_every=self.checkpoint_every,
            retry=RetryPolicy(attempts=3, backoff=Backoff(initial=0), clock=self.clock),
            breaker=self.breaker,
            clock=self.clock,
        )

    def records(self) -> dict[ItemKey, ItemRecord]:
        return self.store.load("job")

    def check_counts(self, result: BatchResult, before: dict[ItemKey, ItemRecord]) -> None:
        processed = result.succeeded + len(result.failed) + len(result.deferred)
        assert result.total == len(self.behaviour)
        assert result.total == result.skipped + processed + result.not_processed
        assert not result.aborted
        for failure in result.failed:
            assert self.behaviour[failure.key] in ("permanent", "partial")
        after = self.records()
        # Every processed item's outcome was committed; skipped items kept theirs.
        assert sum(1 for k in after if k not in before or after[k] != before[k]) <= processed

    def one_run(self, *, redrive: bool, crash_at: int | None) -> None:
        before = self.records()
        self.crash_at, self.handled = crash_at, 0
        items = list(self.behaviour)
        try:
            processor = self.processor()
            result = processor.redrive(items) if redrive else processor.run(items)
        except Crash:
            self.store.dead = False  # a new process starts
            return
        finally:
            self.crash_at = None
        self.check_counts(result, before)

    @rule()
    def run(self) -> None:
        """A run that completes."""
        self.one_run(redrive=False, crash_at=None)

    @rule(at=st.integers(0, 30))
    def crashed_run(self, at: int) -> None:
        """A run killed when it reaches the at-th handler call."""
        self.one_run(redrive=False, crash_at=at)

    @rule()
    def redrive(self) -> None:
        """A redrive: only failed or deferred items run again."""
        before = self.records()
        redriven = {k for k, r in before.items() if r.status != "done"}
        calls_before = Counter(self.calls)
        self.one_run(redrive=True, crash_at=None)
        touched = {k for k in self.calls if self.calls[k] != calls_before[k]}
        assert touched <= redriven

    @rule()
    def remote_goes_down(self) -> None:
        """The remote's circuit opens: items are deferred, not failed."""
        self.breaker.force_open()

    @rule()
    def remote_comes_back(self) -> None:
        """The circuit closes again."""
        self.breaker.reset()

    @invariant()
    def records_are_truthful(self) -> None:
        """Done means the handler succeeded; failures are kept with their kind."""
        for key, record in self.records().items():
            behaviour = self.behaviour[key]
            if record.status == "done":
                assert behaviour in ("ok", "flaky")
                assert self.calls[key] >= 1
            elif record.status == "failed":
                assert record.kind == {"permanent": "permanent", "partial": "partial"}[behaviour]
                assert record.error
            else:
                assert record.status == "deferred"

    @precondition(lambda self: bool(self.behaviour))
    @invariant()
    def nothing_is_lost_once_the_remote_is_up(self) -> None:
        """A completed run with the circuit closed leaves no item without an outcome."""
        if self.breaker.state.name != "CLOSED":
            return
        clone = CrashableStore()
        clone.commit("job", self.records().values())
        saved, self.store = self.store, clone
        calls, flaky_left = Counter(self.calls), Counter(self.flaky_left)
        try:
            result = self.processor().run(list(self.behaviour))
            records = self.records()
        finally:
            self.store, self.calls, self.flaky_left = saved, calls, flaky_left
        assert not result.deferred
        assert set(records) == set(self.behaviour)
        for key, record in records.items():
            expected = {"ok": "done", "flaky": "done"}.get(self.behaviour[key], "failed")
            assert record.status == expected


TestBatchMachine = BatchMachine.TestCase
