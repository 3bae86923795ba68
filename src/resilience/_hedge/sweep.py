"""One loop timer for the first attempts of a fixed-delay hedge, instead of one per call.

With a fixed delay, the first attempts' deadlines come in the order the calls started:
a queue is sorted by itself. One timer, at the head's deadline, starts the hedges of the
calls still unanswered and moves on to the next deadline; a call answered in time costs
an append and a flag, and is dropped from the queue by the next call (or the timer).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Protocol

__all__ = ["Sweep"]


class Entry(Protocol):
    """A call in the queue: when its delay expires, whether it still waits, what to do."""

    deadline: float
    won: int

    def fire(self) -> None:
        """The delay expired without an answer: start a hedged attempt."""
        ...


class Sweep:
    """The hedge timer of one event loop (see the module's docstring)."""

    __slots__ = ("delay", "handle", "loop", "queue")

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float) -> None:
        self.loop = loop
        self.delay = delay
        self.queue: deque[Entry] = deque()
        self.handle: asyncio.TimerHandle | None = None

    def add(self, entry: Entry) -> None:
        """Start ``entry``'s hedge after the delay, unless it has won by then."""
        deadline = self.loop.time() + self.delay
        entry.deadline = deadline
        queue = self.queue
        # Drop the calls answered in time from the front now, not at the next deadline:
        # the queue then holds little more than the calls still waiting.
        while queue and queue[0].won:
            queue.popleft()
        queue.append(entry)
        if self.handle is None:
            self.handle = self.loop.call_at(deadline, self.fire)

    def fire(self) -> None:
        """Start the hedges that are due; set the timer for the next deadline."""
        self.handle = None
        queue = self.queue
        now = self.loop.time()
        while queue:
            entry = queue[0]
            if entry.won:  # answered (or abandoned) in time: nothing to start
                queue.popleft()
                continue
            if entry.deadline > now:
                self.handle = self.loop.call_at(entry.deadline, self.fire)
                return
            queue.popleft()
            entry.fire()

    def __repr__(self) -> str:
        return f"Sweep(delay={self.delay:g}, queued={len(self.queue)})"
