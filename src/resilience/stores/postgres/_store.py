"""What each PostgreSQL store is made of: a connection, its tables, the statements it runs."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any, ClassVar, LiteralString, NamedTuple

import psycopg
from psycopg import sql

from resilience.stores.postgres._connection import Connection, Wording

__all__ = ["PostgresStore", "Schema"]


class Schema(NamedTuple):
    """A store's tables, and the statements it runs on them."""

    tables: Mapping[str, tuple[LiteralString, AbstractSet[str]]]
    """By name: the statement that creates the table (``{table}`` in it), and its columns."""
    statements: Mapping[str, LiteralString]
    """By name: every statement the store runs, naming each table as ``{<name>}``."""
    lock: int
    """The advisory lock that serializes the creation of the tables between processes."""
    creating: str
    """What creating the tables is called in an error."""


class PostgresStore:
    """Base of a store in the tables ``<prefix>_<name>`` of one PostgreSQL database.

    The tables are created if missing (a table of that name that is not the store's is
    refused, unchanged); the statements are composed once, with the tables' names
    quoted as identifiers.

    Args:
        conninfo_or_connection: A libpq connection string or URL (the store connects,
            and :meth:`close` closes the connection), or a psycopg 3 connection in
            autocommit mode (left open).
        table_prefix: The first part of the tables' names: lowercase letters, digits
            and underscores, not starting with a digit.
    """

    __slots__ = ("_db", "_q")

    _WORDING: ClassVar[Wording]
    _SCHEMA: ClassVar[Schema]

    def __init__(
        self,
        conninfo_or_connection: str | psycopg.Connection[Any],
        *,
        table_prefix: str = "resilience",
    ) -> None:
        self._db = db = Connection(
            conninfo_or_connection, table_prefix=table_prefix, wording=self._WORDING
        )
        schema = self._SCHEMA
        tables = {name: sql.Identifier(f"{table_prefix}_{name}") for name in schema.tables}
        self._q = {name: sql.SQL(text).format(**tables) for name, text in schema.statements.items()}
        """Every statement of the schema, by name, ready to run."""
        db.create_tables(schema.tables, lock=schema.lock, doing=schema.creating)

    def close(self) -> None:
        """Close the connection if the store opened it."""
        self._db.close()

    def __repr__(self) -> str:
        return self._db.label
