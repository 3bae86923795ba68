"""What the shared checkpoint stores (PostgreSQL, Redis) have in common.

An item key is kept as its JSON, so that ``1`` and ``"1"`` stay distinct; one read back
is untrusted input, checked to be a str or an int. A job's lease held by another worker,
or lost, is said in the same words by every store.
"""

from __future__ import annotations

import json

from resilience.batch._checkpoint import ItemKey, JobBusyError, LeaseLostError

__all__ = ["busy", "dump_key", "load_key", "lost"]


def dump_key(job: str, key: object) -> str:
    """The JSON of an item key of ``job``; TypeError unless it is a str or an int."""
    if type(key) is not str and (type(key) is bool or not isinstance(key, int)):
        raise TypeError(
            f"batch job {job!r}: item key {key!r} is a {type(key).__name__}; "
            "checkpoint keys must be str or int"
        )
    return json.dumps(key)


def load_key(text: bytes | str) -> ItemKey:
    """The item key whose JSON is ``text``; ValueError or TypeError if there is none."""
    key = json.loads(text)
    if type(key) is not str and type(key) is not int:
        raise TypeError(f"its key is a {type(key).__name__}, not a str or int")
    return key


def busy(store: object, job: str, holder: str | None, left: object, *, doing: str) -> JobBusyError:
    """``job`` cannot be ``doing`` (run, forgotten): ``holder`` has its lease, ``left`` s more.

    ``left`` is a float, or anything else when it is not known.
    """
    shown = f"{left:.1f} s" if isinstance(left, float) else "an unknown time"
    then = "or run another job" if doing == "run" else f"then try again to have it {doing}"
    return JobBusyError(
        f"batch job {job!r} cannot be {doing} now: worker {holder!r} holds its lease "
        f"in {store!r} for {shown} more. Wait for that worker to finish (if it died, "
        f"its lease lapses by itself within {shown}), {then}"
    )


def lost(store: object, job: str, token: int, *, why: str, doing: str) -> LeaseLostError:
    """The lease with ``token`` is not this worker's any more (``why``): nothing was ``doing``."""
    return LeaseLostError(
        f"batch job {job!r}: the lease with token {token} in {store!r} is no longer "
        f"this worker's ({why}), so nothing was {doing}. Another worker runs (or will "
        "run) the job and redoes what this one did not commit; run it again later to "
        "resume, and renew leases more often than their ttl"
    )
