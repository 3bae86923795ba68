"""How the Redis checkpoint store writes a record: a hash field per item, both JSON.

The field is the JSON of the item's key (a str or an int); the value the JSON of the rest,
without the fields that are unset. A record read back is checked as untrusted input.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Final

from resilience.batch._checkpoint import ItemRecord
from resilience.stores._checkpoints import dump_key, load_key

__all__ = ["decode", "encode"]

# Most records of a job are done at the first attempt: their value is always this text.
_DONE_ONCE: Final = '{"status":"done"}'
_FIELDS: Final = ("kind", "reason", "error", "details")


def encode(job: str, records: Iterable[ItemRecord]) -> dict[str, str]:
    """Each record as (JSON of its key, JSON of the rest); later records of a key win."""
    dumps = json.dumps
    encoded: dict[str, str] = {}
    for r in records:
        field = dump_key(job, r.key)
        if (
            r.status == "done"
            and r.attempts == 1
            and r.kind is None
            and r.reason is None
            and r.error is None
            and r.details is None
        ):
            encoded[field] = _DONE_ONCE
            continue
        value: dict[str, Any] = {"status": r.status}
        for name in _FIELDS:
            if getattr(r, name) is not None:
                value[name] = getattr(r, name)
        if r.attempts != 1:
            value["attempts"] = r.attempts
        encoded[field] = dumps(value, separators=(",", ":"))
    return encoded


def decode(field: bytes | str, value: bytes | str) -> ItemRecord:
    """The record a field and its value hold; ValueError, TypeError or KeyError if none."""
    key = load_key(field)
    data = json.loads(value)
    if not isinstance(data, dict) or not isinstance(data["status"], str):
        raise TypeError("its value is not a JSON object with a status")
    attempts = data.get("attempts", 1)
    if type(attempts) is not int:
        raise TypeError(f"its attempts is {attempts!r}, not an int")
    return ItemRecord(
        key,
        data["status"],
        kind=data.get("kind"),
        reason=data.get("reason"),
        attempts=attempts,
        error=data.get("error"),
        details=data.get("details"),
    )
