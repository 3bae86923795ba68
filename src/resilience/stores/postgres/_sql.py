"""The SQL of the PostgreSQL checkpoint store: its schema and every statement it runs.

Statements name their tables as ``{checkpoints}`` and ``{leases}``, filled in with
:class:`psycopg.sql.Identifier` by the store (the prefix is never pasted as text).
"""

from __future__ import annotations

from typing import Final, LiteralString

__all__ = ["COLUMNS", "CREATE", "SCHEMA_LOCK", "STATEMENTS"]

COLUMNS: Final = {
    "checkpoints": {
        "job",
        "key",
        "status",
        "kind",
        "reason",
        "attempts",
        "error",
        "details",
        "updated",
    },
    "leases": {"job", "owner", "token", "expires_at"},
}
# Serializes schema creation between processes: two CREATE TABLE IF NOT EXISTS running at
# once can both pass the check and one then fails on the catalog's unique index.
SCHEMA_LOCK: Final = 0x52534C43  # "RSLC"

CREATE: Final[dict[str, LiteralString]] = {
    "checkpoints": """
        CREATE TABLE IF NOT EXISTS {table} (
            job      text NOT NULL,
            key      text NOT NULL,
            status   text NOT NULL,
            kind     text,
            reason   text,
            attempts integer NOT NULL,
            error    text,
            details  text,
            updated  timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (job, key)
        )""",
    "leases": """
        CREATE TABLE IF NOT EXISTS {table} (
            job        text PRIMARY KEY,
            owner      text NOT NULL,
            token      bigint NOT NULL,
            expires_at timestamptz NOT NULL
        )""",
}

# The lease of another owner is taken only once it has expired; the same owner may take
# its own again. Either way the count grows by one, and the holder id is drawn anew.
_ACQUIRE: Final = """
    INSERT INTO {leases} AS l (job, owner, token, expires_at)
    VALUES (%(job)s, %(owner)s, %(span)s + %(holder)s,
            clock_timestamp() + make_interval(secs => %(ttl)s))
    ON CONFLICT (job) DO UPDATE
        SET owner = excluded.owner,
            token = (l.token / %(span)s + 1) * %(span)s + %(holder)s,
            expires_at = excluded.expires_at
        WHERE l.expires_at <= clock_timestamp() OR l.owner = excluded.owner
    RETURNING token
"""
# Seconds left is NULL for a lease that is not live (-infinity cannot be subtracted).
_HOLDER: Final = """
    SELECT owner, token,
           CASE WHEN expires_at > clock_timestamp()
                THEN extract(epoch FROM expires_at - clock_timestamp())::float8 END
    FROM {leases} WHERE job = %s
"""
_RENEW: Final = """
    UPDATE {leases} SET expires_at = clock_timestamp() + make_interval(secs => %s)
    WHERE job = %s AND token = %s AND expires_at > clock_timestamp()
    RETURNING token
"""
_LOCK_LEASE: Final = _HOLDER + " FOR UPDATE"
_EXTEND: Final = """
    UPDATE {leases} SET expires_at = clock_timestamp() + make_interval(secs => %s)
    WHERE job = %s
"""
_RELEASE: Final = """
    UPDATE {leases} SET expires_at = '-infinity' WHERE job = %s AND token = %s
"""
# forget() makes sure the job has a lease row and locks it (_LOCK_LEASE), so that no
# worker can take the lease (and load the records) while they are being deleted.
_FORGET_ROW: Final = """
    INSERT INTO {leases} (job, owner, token, expires_at) VALUES (%s, '', 0, '-infinity')
    ON CONFLICT (job) DO NOTHING
"""
_DELETE: Final = "DELETE FROM {checkpoints} WHERE job = %s"
_LOAD: Final = """
    SELECT key, status, kind, reason, attempts, error, details FROM {checkpoints}
    WHERE job = %s
"""
_JOBS: Final = "SELECT job, count(*) FROM {checkpoints} GROUP BY job"
# One statement per record (executemany pipelines them): a batch may name a key twice,
# which a single multi-row INSERT ... ON CONFLICT refuses.
_UPSERT: Final = """
    INSERT INTO {checkpoints}
        (job, key, status, kind, reason, attempts, error, details, updated)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now())
    ON CONFLICT (job, key) DO UPDATE SET
        status = excluded.status, kind = excluded.kind, reason = excluded.reason,
        attempts = excluded.attempts, error = excluded.error, details = excluded.details,
        updated = excluded.updated
"""

STATEMENTS: Final[dict[str, LiteralString]] = {
    "acquire": _ACQUIRE,
    "holder": _HOLDER,
    "renew": _RENEW,
    "lock_lease": _LOCK_LEASE,
    "extend": _EXTEND,
    "release": _RELEASE,
    "forget_row": _FORGET_ROW,
    "delete": _DELETE,
    "load": _LOAD,
    "jobs": _JOBS,
    "upsert": _UPSERT,
}
"""Every statement the store runs, by the name it runs it by."""
