"""Environment overrides: ``RESILIENCE__REMOTES__S3__BREAKER__OPEN_FOR=60``.

A variable named ``RESILIENCE__`` and a key path, its keys joined by ``__``, sets that
key; a breaker's field may be named directly under a remote or the defaults
(``RESILIENCE__REMOTES__S3__OPEN_FOR``). Keys match the file's case-insensitively (and
``_`` matches ``-``, which a variable's name cannot hold); a key the file does not have
is added in lower case. The value is read as JSON when it is JSON (``60``, ``true``,
``{"initial": 1}``, ``"60"`` for the string), else taken as the string it is
(``redis://cache:6379/0``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from typing import Any

from resilience.config._file import FileError, KeyPath

__all__ = ["PREFIX", "apply"]

PREFIX = "RESILIENCE__"


def apply(
    data: Mapping[str, Any],
    env: Mapping[str, str],
    expand: Callable[[list[str]], list[str]] = list,
) -> tuple[dict[str, Any], dict[KeyPath, str]]:
    """``data`` with the overrides of ``env``, and the variable that set each key path.

    ``expand`` completes a shortened path (its keys in lower case), e.g. a breaker's
    field named directly under a remote.
    """
    result: dict[str, Any] = copy.deepcopy(dict(data))
    origins: dict[KeyPath, str] = {}
    for name in sorted(env):
        if not name.upper().startswith(PREFIX):
            continue
        parts = expand([part.lower() for part in name[len(PREFIX):].split("__")])
        if not all(parts):
            raise FileError(
                f"{name} (environment): an empty key in its path; separate keys with '__', "
                "e.g. RESILIENCE__REMOTES__S3__BREAKER__OPEN_FOR"
            )
        table: dict[str, Any] = result
        path: list[str] = []
        for depth, part in enumerate(parts):
            key = _matching(table, part)
            path.append(key)
            if depth == len(parts) - 1:
                table[key] = _value(env[name])
                break
            inner = table.setdefault(key, {})
            if not isinstance(inner, dict):
                raise FileError(
                    f"{name} (environment): {'.'.join(path)} is a value, not a table, so it "
                    "has no keys to set"
                )
            table = inner
        origins[tuple(path)] = name
    return result, origins


def _matching(table: Mapping[str, Any], part: str) -> str:
    wanted = part.lower()
    for key in table:
        if isinstance(key, str) and key.lower().replace("-", "_") == wanted:
            return key
    return wanted


def _value(text: str) -> Any:  # noqa: ANN401 - whatever JSON holds
    try:
        return json.loads(text)
    except ValueError:
        return text
