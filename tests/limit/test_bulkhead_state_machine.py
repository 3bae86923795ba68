"""The bulkhead's slots and queue run beside a plain model by hypothesis state machines.

The model is a count of holders and a list of waiters, first in first out. Waiters are
recorded, not real threads: a step grants, times out or cancels them, so every
interleaving of arrivals, releases and give-ups is explored deterministically, including
a give-up that races a grant (the slot reached the waiter: it holds it, or passes it on).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from resilience import Bulkhead, BulkheadFullError
from resilience._limit.slots import ADMITTED, FULL, Slots, Waiter


class Recorded(Waiter):
    """A waiter that only records that its slot came."""

    __slots__ = ("number", "woken")

    def __init__(self, number: int) -> None:
        super().__init__()
        self.number = number
        self.woken = False

    def wake(self) -> bool:
        self.woken = True
        return True


@dataclass
class Model:
    """The rules: ``limit`` holders at most; then up to ``max_queue`` waiters, FIFO."""

    limit: int
    max_queue: int
    holders: int = 0
    queue: list[int] = field(default_factory=list)
    admitted: int = 0
    rejected: int = 0
    timed_out: int = 0
    cancelled: int = 0

    def arrive(self, number: int, *, may_queue: bool) -> str:
        if self.holders < self.limit and not self.queue:
            self.holders += 1
            self.admitted += 1
            return "admitted"
        if may_queue and len(self.queue) < self.max_queue:
            self.queue.append(number)
            return "queued"
        self.rejected += 1
        return "full"

    def release(self) -> int | None:
        """A holder leaves: the first waiter gets its slot (its number), else it is free."""
        if self.queue:
            self.admitted += 1
            return self.queue.pop(0)
        self.holders -= 1
        return None


class SlotsMachine(RuleBasedStateMachine):
    """Slots beside the model, with recorded waiters."""

    @initialize(limit=st.integers(1, 4), max_queue=st.integers(0, 4))
    def start(self, limit: int, max_queue: int) -> None:
        self.slots = Slots(limit, max_queue)
        self.model = Model(limit, max_queue)
        self.waiting: dict[int, Recorded] = {}
        self.granted: list[Recorded] = []  # woken, not yet running: may still give up
        self.next = 0
        self.tried = 0  # admissions through try_enter

    @rule(may_queue=st.booleans())
    def arrive(self, may_queue: bool) -> None:
        """A caller arrives (one that may not queue passes no waiter)."""
        self.next += 1
        waiter = Recorded(self.next)
        got = self.slots.enter(waiter if may_queue else None)
        expected = self.model.arrive(self.next, may_queue=may_queue)
        if expected == "admitted":
            assert got == ADMITTED
        elif expected == "full":
            assert got == FULL
        else:
            assert got is waiter
            self.waiting[waiter.number] = waiter

    @rule()
    def try_enter(self) -> None:
        """The fast path: a free slot is taken only if nobody waits; nothing is counted else."""
        m = self.model
        expected = m.holders < m.limit and not m.queue
        assert self.slots.try_enter() is expected
        if expected:
            m.holders += 1
            m.admitted += 1
            self.tried += 1

    @precondition(lambda self: self.model.holders > 0)
    @rule()
    def release(self) -> None:
        """A holder leaves."""
        to = self.model.release()
        self.slots.release()
        if to is not None:
            waiter = self.waiting.pop(to)
            assert waiter.woken
            assert waiter.granted
            self.granted.append(waiter)
        assert not any(w.woken for w in self.waiting.values())

    @precondition(lambda self: self.waiting)
    @rule(data=st.data(), timed_out=st.booleans())
    def give_up(self, data: st.DataObject, timed_out: bool) -> None:
        """A waiter's time runs out, or it is cancelled, before its slot came."""
        number = data.draw(st.sampled_from(sorted(self.waiting)))
        waiter = self.waiting.pop(number)
        assert not self.slots.gave_up(waiter, timed_out=timed_out)
        self.model.queue.remove(number)
        if timed_out:
            self.model.timed_out += 1
        else:
            self.model.cancelled += 1

    @precondition(lambda self: self.granted)
    @rule(data=st.data(), cancelled=st.booleans())
    def granted_one_wakes(self, data: st.DataObject, cancelled: bool) -> None:
        """A granted waiter runs, or is cancelled as its slot came and passes it on."""
        waiter = self.granted.pop(data.draw(st.integers(0, len(self.granted) - 1)))
        assert self.slots.gave_up(waiter, timed_out=False)  # it holds a slot either way
        if cancelled:
            self.release()

    @invariant()
    def agrees(self) -> None:
        """Counts and the queue agree with the model; limits are never exceeded."""
        if not hasattr(self, "model"):
            return
        m = self.model
        in_use, queued, admitted, rejected, timed_out, cancelled = self.slots.counts()
        assert (in_use, queued) == (m.holders, len(m.queue))
        assert (admitted, rejected, timed_out, cancelled) == (
            m.admitted,
            m.rejected,
            m.timed_out,
            m.cancelled,
        )
        assert in_use <= m.limit
        assert queued <= m.max_queue
        assert queued == 0 or in_use == m.limit  # nobody waits while a slot is free
        arrived = self.next + self.tried
        assert admitted + rejected + timed_out + cancelled + queued == arrived


class BulkheadMachine(RuleBasedStateMachine):
    """A Bulkhead without a queue, through before/after, beside a plain count."""

    @initialize(limit=st.integers(1, 5))
    def start(self, limit: int) -> None:
        self.bulkhead = Bulkhead("db", max_concurrent=limit)
        self.limit = limit
        self.held = 0
        self.refused = 0
        self.done = 0

    @rule()
    def call(self) -> None:
        """A call arrives: admitted while a slot is free, else refused at once."""
        if self.held == self.limit:
            with pytest.raises(BulkheadFullError) as refused:
                self.bulkhead.before(None, (), {})
            assert (refused.value.in_use, refused.value.queued) == (self.limit, 0)
            self.refused += 1
        else:
            self.bulkhead.before(None, (), {})
            self.held += 1

    @precondition(lambda self: self.held > 0)
    @rule(failed=st.booleans())
    def finish(self, failed: bool) -> None:
        """A call ends, well or not: its slot is free."""
        self.bulkhead.after(None, None, ConnectionError() if failed else None)
        self.held -= 1
        self.done += 1

    @invariant()
    def agrees(self) -> None:
        """The measurements say what the count says."""
        if not hasattr(self, "bulkhead"):
            return
        (m,) = self.bulkhead.measurements()
        assert m.gauges["in_use"] == self.held
        assert m.totals["admitted"] == self.held + self.done
        assert m.totals["rejected"] == self.refused
        assert m.healthy == (self.held < self.limit)
        assert self.bulkhead.idle == (self.held == 0)


_SETTINGS = settings(stateful_step_count=50)
TestSlots = SlotsMachine.TestCase
TestSlots.settings = _SETTINGS
TestBulkhead = BulkheadMachine.TestCase
TestBulkhead.settings = _SETTINGS
