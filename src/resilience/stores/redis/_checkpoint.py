"""Checkpoints and job leases in Redis: one store that many workers share.

Keys of a job (the braces are literal: a Redis Cluster hash tag, so that the three keys
share a slot and one script may touch them together):

``{namespace}:checkpoints:{<job>}``
    A hash: field = JSON of the item key (so ``1`` and ``"1"`` stay distinct), value =
    JSON object of the record's other fields, those that are None left out.
``{namespace}:lease:{<job>}``
    A hash (``owner``, ``token``) that expires by PEXPIRE: a dead worker's lease lapses
    in the server's time, whatever the workers' clocks say.
``{namespace}:fence:{<job>}``
    The counter INCR draws fencing tokens from, never below the server's clock in ms.
    Nothing deletes it, so no token is handed out twice, even after a release or a
    :meth:`~RedisCheckpointStore.forget`; and a server restarted with nothing on disk
    starts it from its clock, so tokens keep growing.

A token is that count followed by six random digits, the holder id of one acquisition:
each script compares the whole token, so a lease lost to a restart that forgot the
counter is still refused, whatever count the next worker draws.

Each lease operation, :meth:`~RedisCheckpointStore.commit_leased` and
:meth:`~RedisCheckpointStore.forget` is one Lua script (``checkpoint_*.lua``). Redis
runs a script with no other command in between, and each script makes every check
before its first write, so a refused call writes nothing (Redis also refuses an
out-of-memory write only at a script's first write, never midway).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from resilience._core.extras import missing
from resilience.batch._checkpoint import (
    CheckpointError,
    ItemKey,
    ItemRecord,
    JobBusyError,
    LeaseLostError,
    new_holder,
)

try:
    import redis
    from redis.cluster import RedisCluster
except ImportError as _exc:  # pragma: no cover - the extra is installed in tests
    raise missing("redis", "the redis client", who="RedisCheckpointStore") from _exc

from resilience._core.redact import redact_url
from resilience.stores._checkpoints import busy, lost
from resilience.stores.redis._records import decode, encode
from resilience.stores.redis._scripts import (
    CHECKPOINT_ACQUIRE,
    CHECKPOINT_COMMIT_LEASED,
    CHECKPOINT_FORGET,
    CHECKPOINT_RELEASE,
    CHECKPOINT_RENEW,
)

__all__ = ["RedisCheckpointStore"]

logger = logging.getLogger("resilience")


class RedisCheckpointStore:
    """Checkpoints in Redis, with job leases so that workers can share the store.

    Implements :class:`CheckpointStore` and :class:`JobLeases`: with it, several
    :class:`BatchProcessor` workers may run the same job and only one runs it at a time;
    a dead worker's job is taken over once its lease expires. Safe to share between
    threads (redis-py's connection pool).

    :meth:`forget` refuses (:class:`JobBusyError`) while a worker holds the job's lease,
    and keeps the fencing counter, so tokens keep growing when the job starts over.

    On its first use the store asks the server (``CONFIG GET``) whether it keeps
    anything on disk, and logs one WARNING if it keeps nothing: a restart of such a
    server loses every checkpoint and lease. A server that refuses ``CONFIG`` is not
    asked again.

    Args:
        url_or_client: A ``redis://`` URL (the store opens a client and :meth:`close`
            closes it), or a ``redis.Redis`` / ``RedisCluster`` client (left open).
        namespace: The first part of every key: stores with different namespaces share a
            server without seeing each other's jobs.
    """

    __slots__ = (
        "_acquire",
        "_client",
        "_commit_leased",
        "_disk_checked",
        "_disk_lock",
        "_forget",
        "_namespace",
        "_owned",
        "_release",
        "_renew",
        "_shown",
    )

    def __init__(
        self,
        url_or_client: str | redis.Redis | RedisCluster,
        *,
        namespace: str = "resilience",
    ) -> None:
        if (
            not isinstance(namespace, str)
            or not namespace
            or "{" in namespace
            or ("}" in namespace)
        ):
            raise ValueError(
                f"RedisCheckpointStore namespace must be a non-empty str without braces "
                f"(braces mark the job's hash tag in each key), got {namespace!r}"
            )
        self._namespace = namespace
        client: redis.Redis | RedisCluster
        if isinstance(url_or_client, str):
            self._shown = repr(redact_url(url_or_client))
            try:
                client = redis.Redis.from_url(url_or_client)
            except ValueError as exc:
                raise ValueError(
                    f"RedisCheckpointStore cannot use the URL {self._shown}: {exc}; pass a "
                    "URL like 'redis://host:6379/0' or a redis.Redis client"
                ) from exc
            self._owned = True
        elif isinstance(url_or_client, redis.Redis | RedisCluster):
            client = url_or_client
            self._shown = f"<{type(client).__name__} client>"
            self._owned = False
        else:
            raise TypeError(
                "RedisCheckpointStore needs a redis:// URL or a redis.Redis client, got "
                f"{type(url_or_client).__name__}"
            )
        self._client = client
        self._acquire = client.register_script(CHECKPOINT_ACQUIRE)
        self._renew = client.register_script(CHECKPOINT_RENEW)
        self._commit_leased = client.register_script(CHECKPOINT_COMMIT_LEASED)
        self._release = client.register_script(CHECKPOINT_RELEASE)
        self._forget = client.register_script(CHECKPOINT_FORGET)
        self._disk_checked = False
        self._disk_lock = threading.Lock()

    @property
    def namespace(self) -> str:
        """The first part of every key of this store."""
        return self._namespace

    def keys(self, job: str) -> tuple[str, str, str]:
        """The job's keys: its checkpoints, its lease and its fencing counter."""
        tag = f"{{{job}}}"
        ns = self._namespace
        return f"{ns}:checkpoints:{tag}", f"{ns}:lease:{tag}", f"{ns}:fence:{tag}"

    # ------------------------------------------------------------ checkpoints

    def load(self, job: str) -> dict[ItemKey, ItemRecord]:
        """Every record of ``job``, by key."""
        checkpoints = self.keys(job)[0]
        self._check_disk()
        with self._trouble("loading the checkpoints", job):
            raw = self._client.hgetall(checkpoints)
        records: dict[ItemKey, ItemRecord] = {}
        for field, value in raw.items():
            try:
                record = decode(field, value)
            except (ValueError, TypeError, KeyError) as exc:
                raise CheckpointError(
                    f"checkpoint store {self!r}: field {_text(field)!r} of {checkpoints!r} "
                    f"(batch job {job!r}) is not a checkpoint record ({exc}); it was not "
                    "changed. Another program wrote to this key: use another namespace, "
                    "or forget the job if it is safe to start it over"
                ) from exc
            records[record.key] = record
        return records

    def commit(self, job: str, records: Iterable[ItemRecord]) -> None:
        """Record these outcomes in one HSET: atomic, no lease involved."""
        pairs = [part for pair in encode(job, records).items() for part in pair]
        if not pairs:
            return
        with self._trouble("committing checkpoints", job):
            self._client.hset(self.keys(job)[0], items=pairs)

    def forget(self, job: str) -> None:
        """Drop every record of ``job``; JobBusyError while a worker holds its lease."""
        checkpoints, lease, _ = self.keys(job)
        with self._trouble("forgetting", job):
            reply = self._forget(keys=[lease, checkpoints])
        if reply[0] == 0:
            raise self._busy(job, reply[1], reply[2], doing="forgotten")
        if reply[0] == -1:
            raise self._foreign(job, checkpoints, reply[1])

    def jobs(self) -> dict[str, int]:
        """Each job in the store's namespace, with its number of records."""
        prefix = f"{self._namespace}:checkpoints:{{"
        found: dict[str, int] = {}
        with self._trouble("listing the jobs", "*"):
            for name in self._client.scan_iter(match=_glob_escape(prefix) + "*}"):
                text = _text(name) or ""
                found[text[len(prefix) : -1]] = int(self._client.hlen(name))
        return found

    # ----------------------------------------------------------------- leases

    def acquire(self, job: str, *, owner: str, ttl: float | timedelta) -> int:
        """Take the job's lease for ``ttl`` s; its token. JobBusyError if another holds it."""
        _, lease, fence = self.keys(job)
        self._check_disk()
        with self._trouble("taking the lease", job):
            reply = self._acquire(keys=[lease, fence], args=[owner, _ms(ttl), new_holder()])
        if reply[0] == 0:
            raise self._busy(job, reply[1], reply[2], doing="run")
        return int(reply[1])

    def renew(self, job: str, token: int, *, ttl: float | timedelta) -> None:
        """Extend the lease by ``ttl`` s from now; LeaseLostError if it is not ours."""
        lease = self.keys(job)[1]
        with self._trouble("renewing the lease", job):
            reply = self._renew(keys=[lease], args=[token, _ms(ttl)])
        if reply[0] == 0:
            raise self._lost(job, token, reply[1], reply[2], doing="renewed")

    def commit_leased(
        self, job: str, records: Iterable[ItemRecord], *, token: int, ttl: float | timedelta
    ) -> None:
        """Commit and renew in one script; LeaseLostError (nothing written) if not ours."""
        checkpoints, lease, _ = self.keys(job)
        args: list[str | int] = [token, _ms(ttl)]
        for pair in encode(job, records).items():
            args.extend(pair)
        with self._trouble("committing checkpoints", job):
            reply = self._commit_leased(keys=[lease, checkpoints], args=args)
        if reply[0] == 0:
            raise self._lost(job, token, reply[1], reply[2], doing="committed")
        if reply[0] == -1:
            raise self._foreign(job, checkpoints, reply[1])

    def release(self, job: str, token: int) -> None:
        """Give the lease up at once; nothing happens if it is no longer ours."""
        with self._trouble("releasing the lease", job):
            self._release(keys=[self.keys(job)[1]], args=[token])

    # ------------------------------------------------------------------ other

    def close(self) -> None:
        """Close the client if the store opened it."""
        if self._owned:
            self._client.close()

    def __repr__(self) -> str:
        return f"RedisCheckpointStore({self._shown}, namespace={self._namespace!r})"

    def _check_disk(self) -> None:
        """Warn once if the server keeps nothing on disk; until asked, ask at each use."""
        with self._disk_lock:
            if self._disk_checked:
                return
            try:
                save = self._client.config_get("save")
                aof = self._client.config_get("appendonly")
            except (redis.ConnectionError, redis.TimeoutError):
                return  # the operation that follows says what is wrong; ask next time
            except redis.RedisError as exc:  # CONFIG renamed away, or not allowed
                self._disk_checked = True
                logger.debug("resilience: %r cannot ask Redis about persistence: %s", self, exc)
                return
            self._disk_checked = True
        # A cluster client answers for each node; any node that keeps nothing loses jobs.
        if _keeps_nothing(save, aof):
            logger.warning(
                "resilience: %r is on a Redis server that keeps nothing on disk (save is "
                "empty and appendonly is no): a restart of the server loses every "
                "checkpoint and lease, so jobs then start over from their first item. "
                "Leases stay safe (a lost lease's commits are still refused). Turn on "
                "appendonly (or save) on the server to keep jobs across restarts",
                self,
            )

    @contextmanager
    def _trouble(self, action: str, job: str) -> Iterator[None]:
        try:
            yield
        except redis.RedisError as exc:
            raise CheckpointError(
                f"checkpoint store {self!r}: {action} of batch job {job!r} failed "
                f"({type(exc).__name__}: {exc}). Commits that returned are kept (one that "
                "raised may or may not have been applied); check that the Redis server "
                "is up and reachable, then run the job again: it resumes"
            ) from exc

    def _busy(self, job: str, holder: object, pttl: object, *, doing: str) -> JobBusyError:
        left = int(pttl) / 1000 if isinstance(pttl, int) and pttl >= 0 else None
        return busy(self, job, _text(holder), left, doing=doing)

    def _lost(
        self, job: str, token: int, holder: object, current: object, *, doing: str
    ) -> LeaseLostError:
        if current is None:
            why = (
                "it expired or was released, or the server lost it in a restart, and no "
                "worker holds it now"
            )
        else:
            why = f"worker {_text(holder)!r} holds it now with token {_text(current)}"
        return lost(self, job, token, why=why, doing=doing)

    def _foreign(self, job: str, key: str, kind: object) -> CheckpointError:
        return CheckpointError(
            f"checkpoint store {self!r}: key {key!r} of batch job {job!r} holds a Redis "
            f"{_text(kind)}, not checkpoint records; it was not changed. Another program "
            "uses this key: pass RedisCheckpointStore another namespace"
        )


def _ms(ttl: float | timedelta) -> int:
    """A lease's ttl as whole milliseconds (at least 1), refused unless positive."""
    if isinstance(ttl, timedelta):
        ttl = ttl.total_seconds()
    if not ttl > 0:
        raise ValueError(f"a lease's ttl must be more than 0 seconds, got {ttl!r}")
    return max(1, round(ttl * 1000))


def _text(value: object) -> str | None:
    """A reply as text: redis-py returns bytes unless the client decodes responses."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return None if value is None else str(value)


def _keeps_nothing(save: object, aof: object) -> bool:
    """Whether CONFIG GET's replies say the server writes nothing to disk."""

    def value(reply: object, name: str) -> str | None:
        if not isinstance(reply, dict):
            return None
        found = reply.get(name, reply.get(name.encode()))
        return _text(found)

    return value(save, "save") == "" and value(aof, "appendonly") == "no"


def _glob_escape(text: str) -> str:
    """``text`` as a literal in a SCAN MATCH pattern."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)
