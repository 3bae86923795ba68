"""Stores of shared and durable state: SQLite, PostgreSQL and Redis.

Every store is imported on first use: the Redis and PostgreSQL ones need their client
libraries (the ``redis`` and ``postgres`` extras), and ``import resilience.stores``
needs neither.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from resilience.stores.postgres._checkpoint import PostgresCheckpointStore
    from resilience.stores.postgres._incidents import PostgresIncidentStore
    from resilience.stores.redis._breaker import RedisBreakerStore
    from resilience.stores.redis._budget import RedisRetryBudget
    from resilience.stores.redis._checkpoint import RedisCheckpointStore
    from resilience.stores.redis._rate import RedisRateStore
    from resilience.stores.sqlite._checkpoint import SQLiteCheckpointStore
    from resilience.stores.sqlite._incidents import SQLiteIncidentStore

__all__ = [
    "PostgresCheckpointStore",
    "PostgresIncidentStore",
    "RedisBreakerStore",
    "RedisCheckpointStore",
    "RedisRateStore",
    "RedisRetryBudget",
    "SQLiteCheckpointStore",
    "SQLiteIncidentStore",
]

# Where each name lives; imported on first use (see the module's docstring).
_LAZY = {
    "PostgresCheckpointStore": "resilience.stores.postgres._checkpoint",
    "PostgresIncidentStore": "resilience.stores.postgres._incidents",
    "RedisBreakerStore": "resilience.stores.redis._breaker",
    "RedisCheckpointStore": "resilience.stores.redis._checkpoint",
    "RedisRateStore": "resilience.stores.redis._rate",
    "RedisRetryBudget": "resilience.stores.redis._budget",
    "SQLiteCheckpointStore": "resilience.stores.sqlite._checkpoint",
    "SQLiteIncidentStore": "resilience.stores.sqlite._incidents",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'resilience.stores' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # imported once: later reads skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
