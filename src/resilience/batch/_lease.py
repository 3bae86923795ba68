"""A worker's lease on a job in a store that several workers share.

The lease is renewed on a thread while the run goes on, and at every checkpoint (which
commits and renews in one step), so that it lapses only when the worker is gone or cut
off from the store; then another worker may take the job over.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from resilience.batch._checkpoint import ItemRecord, JobLeases, LeaseLostError

__all__ = ["Lease"]

logger = logging.getLogger("resilience")


class Lease:
    """A worker's hold on a job in a shared store, renewed on a thread while it runs.

    Args:
        store: The shared store that grants the lease.
        job: The job's name.
        owner: Who holds it, for the store to show (host, process, run).
        ttl: Seconds the lease lasts unless renewed; renewed every third of it.

    Raises:
        JobBusyError: Another worker holds the job's lease.
    """

    def __init__(self, store: JobLeases, *, job: str, owner: str, ttl: float) -> None:
        self.store, self.job, self.ttl = store, job, ttl
        self.token = store.acquire(job, owner=owner, ttl=ttl)
        self.lost: str | None = None  # why it was lost, once it was: the run then stops
        self.lock = threading.Lock()  # a commit and a renewal never overlap
        self.stop = threading.Event()
        # Real time on purpose: the lease expires in the store's time, not the job's clock.
        threading.Thread(target=self.keep, name=f"lease-{job}", daemon=True).start()

    def keep(self) -> None:
        """Renew the lease every third of its ttl until it is released or lost."""
        while not self.stop.wait(self.ttl / 3):
            try:
                with self.lock:
                    if self.stop.is_set():  # released meanwhile
                        return
                    self.store.renew(self.job, self.token, ttl=self.ttl)
            except LeaseLostError as exc:
                self.lost = str(exc)
                return
            except Exception as exc:
                logger.warning(
                    "batch job %r: could not renew its lease (%s: %s); retrying in %g s. "
                    "If the lease lapses another worker may take the job over, and this "
                    "worker's next checkpoint is then refused.",
                    self.job,
                    type(exc).__name__,
                    exc,
                    self.ttl / 3,
                )

    def commit(self, records: Iterable[ItemRecord]) -> None:
        """Commit these records and renew the lease in one step (LeaseLostError if lost)."""
        with self.lock:
            self.store.commit_leased(self.job, records, token=self.token, ttl=self.ttl)

    def release(self) -> None:
        """Stop renewing and give the lease up."""
        with self.lock:
            self.stop.set()
            self.store.release(self.job, self.token)
