"""A store whose client library is missing says which extra installs it."""

from __future__ import annotations

import importlib
import re
import sys

import pytest

REDIS = ("redis", "the redis client")
POSTGRES = ("postgres", "psycopg 3")
STORES = [
    ("redis._breaker", "RedisBreakerStore", REDIS),
    ("redis._budget", "RedisRetryBudget", REDIS),
    ("redis._checkpoint", "RedisCheckpointStore", REDIS),
    ("redis._rate", "RedisRateStore", REDIS),
    ("postgres._checkpoint", "PostgresCheckpointStore", POSTGRES),
    ("postgres._incidents", "PostgresIncidentStore", POSTGRES),
]


@pytest.mark.parametrize(("module", "store", "needs"), STORES)
def test_the_error_names_the_store_the_library_and_the_extra(
    monkeypatch: pytest.MonkeyPatch, module: str, store: str, needs: tuple[str, str]
) -> None:
    """Imported without its client library, a store module names what to install."""
    for name in list(sys.modules):
        if name.split(".")[0] in {"redis", "psycopg"}:
            monkeypatch.delitem(sys.modules, name)
    for name in ("redis", "psycopg"):
        monkeypatch.setitem(sys.modules, name, None)
    module = f"resilience.stores.{module}"
    monkeypatch.delitem(sys.modules, module, raising=False)
    extra, library = needs
    expected = f"{store} needs {library}: pip install 'resilience-engine[{extra}]'"
    with pytest.raises(ImportError, match=f"^{re.escape(expected)}$"):
        importlib.import_module(module)
