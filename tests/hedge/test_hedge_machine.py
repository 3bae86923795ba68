"""The hedged race, step by step against a plain model: timers, answers, failures, any order."""

from __future__ import annotations

import asyncio

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from resilience import Hedge


class StepClock:
    """A clock whose waits end only when the test says so: the hedge's timer, held."""

    def __init__(self) -> None:
        self.waits: list[asyncio.Future[None]] = []

    def monotonic(self) -> float:
        return 0.0

    def sleep(self, seconds: float) -> None:
        raise AssertionError("a hedge never sleeps a thread")

    async def asleep(self, seconds: float) -> None:
        wait: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waits.append(wait)
        await wait

    def armed(self) -> list[asyncio.Future[None]]:
        return [w for w in self.waits if not w.done()]


class StepLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock moves only when the test says so: the loop's own timers."""

    now = 0.0

    def time(self) -> float:
        return self.now


class Model:
    """What one hedged call should have done so far."""

    def __init__(self) -> None:
        self.running = {1}
        self.started = 1
        self.cancelled: set[int] = set()
        self.winner = 0
        self.failed: list[int] = []
        self.done = False


class HedgeRace(RuleBasedStateMachine):
    """One hedge, calls one after another; each call's attempts driven by the rules."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = self.new_loop()
        self.clock = StepClock()
        self.max_hedges = 2
        self.hedge = self.new_hedge()
        self.calls = 0
        self.hedges = 0
        self.wins = 0
        self.cancels = 0
        self.start_call()

    def new_loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.new_event_loop()

    def new_hedge(self) -> Hedge:
        return Hedge(delay=1.0, max_hedges=self.max_hedges, clock=self.clock)

    def expire(self) -> None:
        self.clock.armed()[0].set_result(None)

    def start_call(self) -> None:
        self.gates: list[asyncio.Future[object]] = []
        self.cancelled: set[int] = set()
        self.model = Model()
        self.calls += 1
        self.call = self.loop.create_task(self.hedge.acall(self.attempt))
        self.spin()

    async def attempt(self) -> object:
        number = len(self.gates) + 1
        gate: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self.gates.append(gate)
        try:
            return await gate
        except asyncio.CancelledError:
            self.cancelled.add(number)
            raise

    def spin(self) -> None:
        async def steps() -> None:
            for _ in range(40):
                await asyncio.sleep(0)

        self.loop.run_until_complete(steps())

    def end(self) -> None:
        model = self.model
        model.done = True
        model.cancelled = set(model.running)
        self.cancels += len(model.running)
        model.running = set()

    @precondition(lambda self: not self.model.done and self.model.started <= self.max_hedges)
    @rule()
    def delay_expires(self) -> None:
        """The hedge's delay expires: another attempt starts, if any is left."""
        self.expire()
        model = self.model
        model.started += 1
        model.running.add(model.started)
        self.hedges += 1
        self.spin()

    @precondition(lambda self: not self.model.done)
    @rule(data=st.data())
    def an_attempt_answers(self, data: st.DataObject) -> None:
        """A running attempt answers: it wins, and every other is cancelled."""
        number = data.draw(st.sampled_from(sorted(self.model.running)))
        self.gates[number - 1].set_result(f"answer {number}")
        model = self.model
        model.running.discard(number)
        model.winner = number
        if number > 1:
            self.wins += 1
        self.end()
        self.spin()

    @precondition(lambda self: not self.model.done)
    @rule(data=st.data())
    def an_attempt_fails(self, data: st.DataObject) -> None:
        """A running attempt fails: the call fails only when nothing else runs."""
        number = data.draw(st.sampled_from(sorted(self.model.running)))
        self.gates[number - 1].set_exception(ConnectionResetError(f"failure {number}"))
        model = self.model
        model.running.discard(number)
        model.failed.append(number)
        if not model.running:
            self.end()
        self.spin()

    @precondition(lambda self: self.model.done)
    @rule()
    def next_call(self) -> None:
        """The call is over: the next one starts."""
        self.start_call()

    @invariant()
    def the_race_matches_the_model(self) -> None:
        """Attempts started, cancelled, the outcome, the timer and the totals agree."""
        model = self.model
        assert len(self.gates) == model.started
        assert self.call.done() == model.done
        assert self.cancelled == model.cancelled
        if model.done:
            if model.winner:
                assert self.call.result() == f"answer {model.winner}"
            else:
                error = self.call.exception()
                assert isinstance(error, ConnectionResetError)
                assert str(error) == f"failure {model.failed[-1]}"
            assert self.hedge.idle
        self.timers_agree()
        (measurement,) = self.hedge.measurements()
        assert dict(measurement.totals) == {
            "calls": self.calls,
            "hedges": self.hedges,
            "hedge_wins": self.wins,
            "cancelled": self.cancels,
        }

    def timers_agree(self) -> None:
        """The injected clock is waited on exactly while a hedge is still to come."""
        model = self.model
        waiting = not model.done and model.started <= self.max_hedges
        assert bool(self.clock.armed()) == waiting

    def teardown(self) -> None:
        if not self.call.done():
            self.call.cancel()
            self.spin()
        self.loop.close()


class HedgeRaceOnTheLoopTimer(HedgeRace):
    """The same race on the system clock: the loop's timers, and the shared timer (a Sweep)."""

    def new_loop(self) -> asyncio.AbstractEventLoop:
        return StepLoop()

    def new_hedge(self) -> Hedge:
        return Hedge(delay=1.0, max_hedges=self.max_hedges)

    def expire(self) -> None:
        loop = self.loop
        assert isinstance(loop, StepLoop)
        loop.now += 1.0

    def timers_agree(self) -> None:
        """A timer is due a delay from now while a hedge is still to come."""
        sweep = self.hedge._sweep  # noqa: SLF001 - the first delay is the loop's shared timer
        assert sweep is not None
        assert sweep.loop is self.loop
        model = self.model
        if not model.done and model.started <= self.max_hedges:
            loop = self.loop
            assert isinstance(loop, StepLoop)
            scheduled: list[asyncio.TimerHandle] = loop._scheduled  # type: ignore[attr-defined] # noqa: SLF001 - asyncio's own timers
            due = [t.when() for t in scheduled if not t.cancelled()]
            assert min(due) <= loop.now + 1.0


TestHedgeRace = HedgeRace.TestCase
TestHedgeRace.settings = settings(stateful_step_count=25)
TestHedgeRaceOnTheLoopTimer = HedgeRaceOnTheLoopTimer.TestCase
TestHedgeRaceOnTheLoopTimer.settings = settings(stateful_step_count=25)
