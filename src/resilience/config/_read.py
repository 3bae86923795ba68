"""From a file or a mapping, with the environment's overrides, to validated settings.

Every problem is reported at once, each with where it is (the file and the line its
parser found the key on, or the environment variable that set it) and its field.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, get_args

from pydantic import ValidationError

from resilience._breaker.config import BreakerConfig
from resilience._breaker.registry import BreakerRegistry
from resilience._core.errors import ResilienceError
from resilience._core.options import Options
from resilience._core.redact import MASK, is_secret_name, redact_text
from resilience._core.text import one_line, safe_repr
from resilience.config import _env
from resilience.config._file import FileError, KeyPath, read
from resilience.config._limits import ALGORITHMS
from resilience.config._sections import SECTIONS, ConfigFile

__all__ = ["MAPPING", "ConfigError", "Source", "breakers", "settings_of"]

MAPPING = "<mapping>"
"""How a configuration given as a mapping is named in errors and events."""

Source = str | os.PathLike[str] | Mapping[str, Any]


class ConfigError(ResilienceError, ValueError):
    """A configuration that cannot be used; ``str()`` lists every problem, one a line.

    Attributes:
        problems: Each problem: where (``file:line``, or the environment variable),
            the field, and what is wrong.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)


def settings_of(source: Source, env: Mapping[str, str]) -> Options:
    """The validated settings of ``source`` with the overrides of ``env``."""
    lines: Mapping[KeyPath, int] = {}
    if isinstance(source, Mapping):
        where, raw = MAPPING, dict(source)
    else:
        where = os.fspath(source)
        try:
            raw, lines = read(Path(source))
        except FileError as exc:
            raise ConfigError([str(exc)]) from None
    try:
        data, origins = _env.apply(raw, env, _breaker_shorthand)
    except FileError as exc:
        raise ConfigError([str(exc)]) from None
    try:
        settings = ConfigFile.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc, value = _untagged(data, error["loc"]), error["input"]
            if error["type"] == "algorithm" and isinstance(value, Mapping):
                loc, value = (*loc, "algorithm"), value.get("algorithm")  # the key at fault
            keys = _key_path(data, loc)
            field = ".".join(one_line(str(part)) for part in loc)
            got = _shown_input(loc, value)
            at = _where(where, keys, lines, origins)
            problems.append(f"{at}: {field}: {one_line(error['msg'])}{got}")
        raise ConfigError(problems) from None
    default, overrides = breakers(settings)
    problems = []
    for name, override in overrides.items():  # one that inherits a conflicting default
        try:
            BreakerRegistry(default, overrides={name: override})
        except ValueError as exc:
            at = _where(where, ("remotes", name, "breaker"), lines, origins)
            problems.append(f"{at}: remotes.{one_line(name)}.breaker: {one_line(str(exc))}")
    problems.extend(_unshared(settings, where, lines, origins))
    if problems:
        raise ConfigError(problems)
    return settings


def _unshared(
    settings: Options, where: str, lines: Mapping[KeyPath, int], origins: Mapping[KeyPath, str]
) -> list[str]:
    """A problem per ``rate_limiter.shared = true`` in settings without a ``[store]``."""
    if settings.store is not None:  # type: ignore[attr-defined]
        return []
    tables: list[tuple[KeyPath, Any]] = [(("defaults",), settings.defaults)]  # type: ignore[attr-defined]
    tables += [(("remotes", name), remote) for name, remote in settings.remotes.items()]  # type: ignore[attr-defined]
    problems = []
    for keys, table in tables:
        limit = table.rate_limiter
        if limit is not None and limit.shared:
            path = (*keys, "rate_limiter", "shared")
            at = _where(where, path, lines, origins)
            problems.append(
                f"{at}: {'.'.join(one_line(str(k)) for k in path)}: a shared rate limiter "
                "needs a [store] with the fleet's Redis URL (redis = \"redis://...\"); add "
                "one, or leave shared out for a limit of this process's own"
            )
    return problems


def _fields_of_other_sections() -> frozenset[str]:
    names: set[str] = set()
    for name, section in SECTIONS.items():
        kinds = get_args(get_args(section.kind)[0]) if name == "limiter" else (section.kind,)
        for tagged in kinds:
            kind = get_args(tagged)[0] if get_args(tagged) else tagged  # an Annotated's tag
            if name != "breaker" and isinstance(kind, type) and issubclass(kind, Options):
                names.update(kind.model_fields)
    return frozenset(names)


# A field only the breaker has may be named under a remote itself (a hedge has a window).
_BREAKER_FIELDS = frozenset(BreakerConfig.model_fields) - _fields_of_other_sections()


def _breaker_shorthand(path: list[str]) -> list[str]:
    """``remotes.s3.open_for`` -> ``remotes.s3.breaker.open_for`` (and so for defaults)."""
    at = {"remotes": 2, "defaults": 1}.get(path[0]) if path else None
    if at is not None and len(path) == at + 1 and path[at] in _BREAKER_FIELDS - SECTIONS.keys():
        return [*path[:at], "breaker", path[at]]
    return path


def breakers(settings: Options) -> tuple[BreakerConfig | None, dict[str, BreakerConfig]]:
    """The breaker registry's default and overrides (by remote name or glob pattern)."""
    default = settings.defaults.breaker  # type: ignore[attr-defined]
    overrides = {
        name: remote.breaker
        for name, remote in settings.remotes.items()  # type: ignore[attr-defined]
        if remote.breaker is not None
    }
    return default, overrides


def _where(
    source: str, keys: KeyPath, lines: Mapping[KeyPath, int], origins: Mapping[KeyPath, str]
) -> str:
    """``file:line``, or the variable that set the key (or a table around it)."""
    for n in range(len(keys), 0, -1):
        origin = origins.get(keys[:n])
        if origin is not None:
            return f"{origin} (environment)"
    line = lines.get(keys) if keys else None
    if line:
        return f"{source}:{line}"
    return source if source == MAPPING else f"{source} (line unknown)"


def _key_path(data: Mapping[str, Any], loc: Sequence[int | str]) -> KeyPath:
    """The longest start of an error's location that is keys in the file.

    A missing key ("Field required") stops it at the table the key belongs in.
    """
    keys: list[str | int] = []
    value: Any = data
    for part in loc:
        in_table = isinstance(value, Mapping) and part in value
        in_array = isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value)
        if not (in_table or in_array):
            break
        value = value[part]
        keys.append(part)
    return tuple(keys)


def _untagged(data: Mapping[str, Any], loc: Sequence[int | str]) -> tuple[int | str, ...]:
    """An error's location without the tag of the union it went through (``aimd``)."""
    kept: list[int | str] = []
    value: Any = data
    for part in loc:
        if isinstance(value, Mapping) and part not in value and part in ALGORITHMS:
            continue  # the limiter's algorithm, which pydantic names as a step
        kept.append(part)
        value = value[part] if _has(value, part) else None
    return tuple(kept)


def _has(value: object, part: int | str) -> bool:
    if isinstance(value, Mapping):
        return part in value
    return isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value)


def _shown_input(loc: Sequence[int | str], value: object) -> str:
    """`` (got ...)`` for a scalar, its secrets masked; nothing for a table."""
    if isinstance(value, dict):
        return ""
    names = [part for part in loc if isinstance(part, str)]
    if names and is_secret_name(names[-1]):
        return f" (got {MASK})"
    if isinstance(value, str):
        value = redact_text(value)
    return f" (got {safe_repr(value, limit=200)})"
