"""Slots: at most ``limit`` holders at once, and a bounded FIFO queue of waiters.

The bookkeeping is synchronous and done under one lock; only the waiting differs: a
thread waits on a lock of its own, a task on a future of its loop. A slot freed while
someone waits is handed to the first waiter directly (it is never free in between, so
no newcomer overtakes the queue). A waiter that gives up (its time is up, it is
cancelled) leaves the queue, or, if a slot reached it meanwhile, passes it on.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Final

__all__ = ["ADMITTED", "FULL", "AsyncWaiter", "Slots", "SyncWaiter", "Waiter"]

ADMITTED: Final = 0
"""What :meth:`Slots.enter` returns when a slot was free."""
FULL: Final = 1
"""What :meth:`Slots.enter` returns when every slot and queue place is taken."""


class Waiter:
    """One caller in the queue; ``granted`` is set, under the slots' lock, with its slot."""

    __slots__ = ("granted",)

    def __init__(self) -> None:
        self.granted = False

    def wake(self) -> bool:
        """Tell the waiter its slot is here; False if it can no longer be told."""
        raise NotImplementedError


class SyncWaiter(Waiter):
    """A thread waiting: it blocks on a lock that :meth:`wake` releases."""

    __slots__ = ("lock",)

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.lock.acquire()

    def wake(self) -> bool:
        """Release the lock the thread waits on."""
        self.lock.release()
        return True

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for :meth:`wake`; whether it came."""
        return self.lock.acquire(timeout=timeout)


class AsyncWaiter(Waiter):
    """A task waiting: it awaits a future of its loop that :meth:`wake` resolves."""

    __slots__ = ("future", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()

    def wake(self) -> bool:
        """Resolve the future, from the loop's thread or any other."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            _resolve(self.future)
            return True
        try:
            self.loop.call_soon_threadsafe(_resolve, self.future)
        except RuntimeError:  # its loop is closed: nobody is waiting any more
            return False
        return True


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():  # cancelled meanwhile: the waiter passes the slot on itself
        future.set_result(None)


class Slots:
    """The counts, the queue and the lock; every method is thread-safe.

    Args:
        limit: Holders at once.
        max_queue: Waiters at most (0: none, a caller is refused when no slot is free).
    """

    __slots__ = (
        "_lock",
        "_queue",
        "admitted",
        "cancelled",
        "in_use",
        "limit",
        "max_queue",
        "rejected",
        "timed_out",
    )

    def __init__(self, limit: int, max_queue: int) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Waiter] = deque()
        self.limit = limit
        self.max_queue = max_queue
        self.in_use = 0
        self.admitted = 0
        """Calls that got a slot, at once or after a wait."""
        self.rejected = 0
        """Calls refused at once: no slot free and the queue full."""
        self.timed_out = 0
        """Calls that waited in the queue until their time was up."""
        self.cancelled = 0
        """Calls that left the queue cancelled (or interrupted) before their turn."""

    @property
    def queued(self) -> int:
        """Waiters in the queue now."""
        return len(self._queue)

    def try_enter(self) -> bool:
        """Take a slot if one is free and nobody waits; never queues."""
        with self._lock:
            if self.in_use < self.limit and not self._queue:
                self.in_use += 1
                self.admitted += 1
                return True
            return False

    def enter(self, waiter: Waiter | None) -> int | Waiter:
        """Take a free slot (:data:`ADMITTED`), or queue ``waiter``, or :data:`FULL`.

        ``waiter`` is None to never queue. A queued waiter is returned: wait on it,
        then :meth:`gave_up` if the wait ended without its slot.
        """
        with self._lock:
            if self.in_use < self.limit and not self._queue:
                self.in_use += 1
                self.admitted += 1
                return ADMITTED
            if waiter is None or len(self._queue) >= self.max_queue:
                self.rejected += 1
                return FULL
            self._queue.append(waiter)
            return waiter

    def release(self) -> None:
        """Give a slot back: to the first waiter that can still take it, or free it."""
        with self._lock:
            queue = self._queue
            while queue:
                waiter = queue.popleft()
                waiter.granted = True
                self.admitted += 1
                if waiter.wake():
                    return  # the slot is the waiter's now: in_use is unchanged
                waiter.granted = False
                self.admitted -= 1
            self.in_use -= 1

    def gave_up(self, waiter: Waiter, *, timed_out: bool) -> bool:
        """A waiter stops waiting; True if its slot had reached it (it holds one then).

        Otherwise it leaves the queue and is counted as timed out or cancelled.
        """
        with self._lock:
            if waiter.granted:
                return True
            try:
                self._queue.remove(waiter)
            except ValueError:  # pragma: no cover - only a granted waiter leaves the queue
                return False
            if timed_out:
                self.timed_out += 1
            else:
                self.cancelled += 1
            return False

    def counts(self) -> tuple[int, int, int, int, int, int]:
        """One consistent reading: in use, queued, admitted, rejected, timed out, cancelled."""
        with self._lock:
            return (
                self.in_use,
                len(self._queue),
                self.admitted,
                self.rejected,
                self.timed_out,
                self.cancelled,
            )
