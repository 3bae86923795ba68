"""A health check and a repair action for an application's own SQLite database.

The "database disk image is malformed" case of a desktop app: :func:`sqlite_check`
tells that the file is damaged or has the wrong schema, :func:`sqlite_repair` keeps the
damaged file as a timestamped backup and creates the database afresh.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

from resilience._core.clock import wall_time
from resilience.health import CheckResult, ComponentStatus

__all__ = ["sqlite_check", "sqlite_repair"]

_BACKED_UP = ("-wal", "-journal")  # hold committed data; -shm is rebuilt from them
_SIDECARS = ("-wal", "-shm", "-journal")


def sqlite_check(
    path: str | os.PathLike[str],
    *,
    schema_version: int | None = None,
    tables: Iterable[str] = (),
) -> Callable[[], CheckResult]:
    """A health check of the SQLite file at ``path``; it never creates or changes it.

    ERROR when the file is missing, is not a database, fails ``PRAGMA quick_check``,
    has another ``user_version`` than ``schema_version`` or lacks one of ``tables``.
    WARNING when a crashed writer left a transaction to roll back (a hot journal): the
    application's next connection rolls it back, and repairing would lose data.

    The file is opened read-only, so that the check never checkpoints a WAL into it or
    rolls a journal back (a damaged file stays as it was, for :func:`sqlite_repair` to
    back up); for a WAL database SQLite may create the ``-shm`` (and an empty ``-wal``).
    """
    db = Path(path)
    if schema_version is not None:
        if isinstance(schema_version, bool) or not isinstance(schema_version, int):
            raise TypeError(
                f"schema_version must be an int (the database's PRAGMA user_version) or "
                f"None, got {schema_version!r}"
            )
        if schema_version < 0:
            raise ValueError(f"schema_version must be >= 0, got {schema_version}")
    # A lone str is one table name, not an iterable of one-letter names.
    wanted = [tables] if isinstance(tables, str) else list(tables)
    for table in wanted:
        if not isinstance(table, str):
            raise TypeError(f"tables must be table names (str), got {table!r} in {wanted!r}")
        if not table:
            raise ValueError(f"tables must be non-empty table names, got {wanted!r}")
    where = MappingProxyType({"path": str(db)})  # shared by results: read-only

    def check() -> CheckResult:
        if not db.exists():
            return CheckResult(
                ComponentStatus.ERROR,
                f"{db} does not exist; the database must be created (or restored) first",
                where,
            )
        try:
            conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            return CheckResult(ComponentStatus.ERROR, f"{db} cannot be opened: {exc}", where)
        try:
            problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            present = {
                row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
        except sqlite3.DatabaseError as exc:
            if getattr(exc, "sqlite_errorname", None) == "SQLITE_READONLY_ROLLBACK":
                return CheckResult(
                    ComponentStatus.WARNING,
                    f"{db} has an interrupted transaction (a hot journal) not rolled back "
                    "yet; the application's next connection rolls it back, then it is "
                    "checked",
                    where,
                )
            return CheckResult(ComponentStatus.ERROR, f"database damaged: {exc}", where)
        finally:
            conn.close()
        if problems != ["ok"]:
            shown = "; ".join(str(p) for p in problems[:3])
            return CheckResult(ComponentStatus.ERROR, f"database damaged: {shown}", where)
        if schema_version is not None and version != schema_version:
            return CheckResult(
                ComponentStatus.ERROR,
                f"schema version {version}, expected {schema_version}",
                {"schema_version": version, **where},
            )
        missing = [t for t in wanted if t not in present]
        if missing:
            return CheckResult(
                ComponentStatus.ERROR,
                f"schema version {version} but tables missing: {', '.join(missing)}",
                {"schema_version": version, "missing": missing, **where},
            )
        return CheckResult(
            ComponentStatus.OK,
            f"schema version {version}, {len(present)} tables",
            {"schema_version": version, "tables": len(present), **where},
        )

    check.__name__ = check.__qualname__ = f"check {db.name}"
    return check


def sqlite_repair(
    path: str | os.PathLike[str],
    init: Callable[[Path], object],
    *,
    backup_dir: str | os.PathLike[str] | None = None,
) -> Callable[[], Path | None]:
    """A recovery action: back the database up, remove it, and ``init(path)`` it afresh.

    The backup is ``<name>.<UTC time>.bak`` (``-2``, ``-3`` ... when that exists: an
    earlier backup is never overwritten) in ``backup_dir`` (default: beside the file),
    with the ``-wal`` and ``-journal`` files beside it. The action returns the backup's
    path, or None when there was no file to back up. If ``init`` raises, the backup
    stays and the error propagates: the attempt failed.

    The application must have closed its connections to the database first: the file
    and its ``-wal``, ``-shm`` and ``-journal`` are removed before ``init`` runs.
    """
    db = Path(path)
    if not callable(init):
        raise TypeError(f"init must be a function of the database path, got {init!r}")
    folder = Path(backup_dir) if backup_dir is not None else db.parent

    def repair() -> Path | None:
        backup = _back_up(db, folder) if db.exists() else None
        # A stale WAL or journal left beside the new file would be replayed into it.
        for suffix in ("", *_SIDECARS):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        init(db)
        return backup

    repair.__name__ = repair.__qualname__ = f"repair {db.name}"
    return repair


def _back_up(db: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.fromtimestamp(wall_time(), UTC).strftime("%Y%m%dT%H%M%SZ")
    base = folder / f"{db.name}.{stamp}.bak"
    sidecars = [s for s in _BACKED_UP if Path(f"{db}{s}").exists()]
    number = 1
    while True:
        target = base if number == 1 else base.with_name(f"{base.name}-{number}")
        number += 1
        if any(Path(f"{target}{s}").exists() for s in sidecars):
            continue  # a stray sidecar backup of that name: its set would be mixed up
        try:
            _copy_new(db, target)  # exclusive create: an earlier backup is never replaced
        except FileExistsError:
            continue
        break
    for suffix in sidecars:
        _copy_new(Path(f"{db}{suffix}"), Path(f"{target}{suffix}"))
    # The backups' names must be on disk before the originals are removed.
    _fsync_dir(folder)
    return target


def _copy_new(source: Path, target: Path) -> None:
    with source.open("rb") as src, target.open("xb") as dst:
        shutil.copyfileobj(src, dst)
        dst.flush()
        os.fsync(dst.fileno())


def _fsync_dir(folder: Path) -> None:
    if os.name == "nt":  # Windows cannot open a directory; NTFS journals the names
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
