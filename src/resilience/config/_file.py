"""Reading a configuration file: TOML or JSON (YAML with the extra), and the line of each key.

The standard parsers say where the text is malformed but not where a key is, and a
validation error names a key. So once a file has parsed, a second pass reads it with
the format's own rules (strings, escapes, comments, multi-line values, dotted keys,
table headers and arrays of tables) and records the line each key path starts on. A
path it does not know is reported without a line, never with a guessed one. YAML's
parser keeps the line of every node itself: its node tree gives them.
"""

from __future__ import annotations

import bisect
import importlib
import json
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from resilience._core.text import one_line

__all__ = ["MAX_DEPTH", "FileError", "KeyPath", "parse", "read"]

KeyPath = tuple[str | int, ...]
MAX_DEPTH = 16
"""The deepest nesting a configuration may have: ours needs 5 levels."""
_FORMATS = {".toml": "TOML", ".json": "JSON", ".yaml": "YAML", ".yml": "YAML"}
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR = re.compile(r"[^,\]}\n#]*")  # a number, a boolean or a date: up to what ends it


class FileError(ValueError):
    """The file cannot be read as a configuration: what is wrong, and where."""


def read(path: Path) -> tuple[dict[str, Any], dict[KeyPath, int]]:
    """The file's data, and the line each key path of it starts on."""
    kind = _FORMATS.get(path.suffix.lower())
    if kind is None:
        raise FileError(
            f"{path}: expected a .toml, .json or .yaml file, got "
            f"{path.suffix or 'no extension'!r}"
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FileError(f"{path}: cannot read it: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise FileError(
            f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"
        ) from None
    if kind == "YAML":
        return _yaml(path, text)
    return parse(text, kind=kind, where=str(path))


def parse(text: str, *, kind: str, where: str) -> tuple[dict[str, Any], dict[KeyPath, int]]:
    """Text of ``kind`` (``"TOML"`` or ``"JSON"``): its data and the line of each key."""
    path = where
    try:
        data = json.loads(text) if kind == "JSON" else tomllib.loads(text)
    except RecursionError:
        raise FileError(f"{path}: nested too deeply to be a configuration") from None
    except ValueError as exc:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        raise FileError(f"{path}: not valid {kind}: {exc}") from None
    _check_settings(data, path=path, not_a_table="expected a table of settings, got a JSON {}")
    try:
        lines = _JsonLines(text).lines if kind == "JSON" else _TomlLines(text).lines
    except (RecursionError, ValueError, IndexError):
        lines = {}  # the parser accepted it: errors are reported without a line
    return data, lines


def _yaml(path: Path, text: str) -> tuple[dict[str, Any], dict[KeyPath, int]]:
    """A YAML file's data (safe types only) and the line of each key, from its node tree."""
    try:
        yaml: Any = importlib.import_module("yaml")  # an optional extra, untyped
    except ImportError:
        raise FileError(
            f"{path}: reading YAML needs PyYAML: pip install 'resilience-engine[yaml]' "
            "(or write the same structure as TOML or JSON)"
        ) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except RecursionError:
        raise FileError(f"{path}: nested too deeply to be a configuration") from None
    except yaml.YAMLError as exc:
        raise FileError(f"{path}: not valid YAML: {one_line(str(exc))}") from None
    _check_settings(data, path=path, not_a_table="expected a mapping of settings, got {}")
    lines: dict[KeyPath, int] = {}
    stack: list[tuple[Any, KeyPath]] = [(root, ())]
    while stack:
        node, where_ = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    keys = (*where_, str(key.value))
                    lines.setdefault(keys, key.start_mark.line + 1)
                    stack.append((value, keys))
        elif isinstance(node, yaml.SequenceNode):
            for index, value in enumerate(node.value):
                keys = (*where_, index)
                lines.setdefault(keys, value.start_mark.line + 1)
                stack.append((value, keys))
    return data, lines


def _check_settings(data: object, *, path: object, not_a_table: str) -> None:
    """Raise a :class:`FileError` unless ``data`` is a table no deeper than :data:`MAX_DEPTH`.

    ``not_a_table`` is the error otherwise, ``{}`` standing for the type ``data`` has.
    """
    if not isinstance(data, dict):
        raise FileError(f"{path}: " + not_a_table.format(type(data).__name__))
    too_deep = _deeper_than(data, MAX_DEPTH)
    if too_deep is not None:
        where = ".".join(map(str, too_deep))
        raise FileError(
            f"{path}: {where}: nested deeper than {MAX_DEPTH} levels; no setting is that deep"
        )


def _deeper_than(data: object, limit: int) -> KeyPath | None:
    """The path of a value nested deeper than ``limit``, or None; without recursion."""
    stack: list[tuple[object, KeyPath]] = [(data, ())]
    while stack:
        value, where = stack.pop()
        if len(where) > limit:
            return where
        if isinstance(value, Mapping):
            stack.extend((v, (*where, str(k))) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, (*where, i)) for i, v in enumerate(value))
    return None


class _Text:
    """A cursor over text, and the line of a position."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.lines: dict[KeyPath, int] = {}
        self._starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line(self, position: int | None = None) -> int:
        return bisect.bisect_right(self._starts, self.i if position is None else position)

    def record(self, path: KeyPath, position: int | None = None) -> None:
        self.lines.setdefault(path, self.line(position))


class _JsonLines(_Text):
    """Where each key of a JSON document is, read with JSON's grammar."""

    _SPACE = re.compile(r"[ \t\n\r]*")

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._decoder = json.JSONDecoder()
        self._skip()
        self._value(())

    def _skip(self) -> None:
        self.i = self._SPACE.match(self.s, self.i).end()  # type: ignore[union-attr]

    def _value(self, path: KeyPath) -> None:
        c = self.s[self.i]
        if c == "{":
            self.i += 1
            self._skip()
            while self.s[self.i] != "}":
                start = self.i
                key, self.i = json.decoder.scanstring(self.s, self.i + 1)  # type: ignore[attr-defined]
                self.record((*path, key), start)
                self._skip()
                self.i += 1  # the colon
                self._skip()
                self._value((*path, key))
                self._skip()
                if self.s[self.i] == ",":
                    self.i += 1
                    self._skip()
            self.i += 1
        elif c == "[":
            self.i += 1
            self._skip()
            index = 0
            while self.s[self.i] != "]":
                self.record((*path, index))
                self._value((*path, index))
                index += 1
                self._skip()
                if self.s[self.i] == ",":
                    self.i += 1
                    self._skip()
            self.i += 1
        else:
            _, self.i = self._decoder.raw_decode(self.s, self.i)


class _TomlLines(_Text):
    """Where each key of a TOML document is, read with TOML's grammar."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._arrays: dict[KeyPath, int] = {}  # how many [[tables]] of each path so far
        table: KeyPath = ()
        while True:
            self._skip(newlines=True)
            if self.i >= len(self.s):
                break
            if self.s.startswith("[[", self.i):  # an array of tables: one more of them
                start = self.i
                self.i += 2
                path = self._header(self._key(), start)
                self.i = self.s.index("]]", self.i) + 2
                index = self._arrays[path] = self._arrays.get(path, -1) + 1
                table = (*path, index)
                self.record(table, start)
            elif self.s[self.i] == "[":
                start = self.i
                self.i += 1
                table = self._header(self._key(), start)
                self.i = self.s.index("]", self.i) + 1
            else:
                self._key_value(table)

    def _header(self, name: KeyPath, start: int) -> KeyPath:
        """A table header's path, each array of tables in it at its latest table."""
        path: KeyPath = ()
        for part in name[:-1]:
            path = (*path, part)
            if path in self._arrays:
                path = (*path, self._arrays[path])
            self.record(path, start)
        path = (*path, name[-1])
        self.record(path, start)
        return path

    def _skip(self, *, newlines: bool = False) -> None:
        """Skip spaces and comments (and line ends, when ``newlines``)."""
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if c in " \t" or (newlines and c in "\r\n"):
                self.i += 1
            elif c == "#":
                end = s.find("\n", self.i)
                self.i = len(s) if end < 0 else end
            else:
                break

    def _key(self) -> KeyPath:
        """A dotted key: its parts, decoded as TOML decodes them."""
        parts: list[str | int] = []
        while True:
            self._skip()
            c = self.s[self.i]
            if c == '"':
                end = self._basic_end(self.i)
                parts.append(tomllib.loads(f"k = {self.s[self.i : end]}")["k"])
                self.i = end
            elif c == "'":
                end = self.s.index("'", self.i + 1)
                parts.append(self.s[self.i + 1 : end])
                self.i = end + 1
            else:
                match = _BARE_KEY.match(self.s, self.i)
                if match is None:
                    raise ValueError(f"no key at {self.i}")
                parts.append(match.group())
                self.i = match.end()
            self._skip()
            if self.i < len(self.s) and self.s[self.i] == ".":
                self.i += 1
                continue
            return tuple(parts)

    def _key_value(self, table: KeyPath) -> None:
        start = self.i
        key = self._key()
        for n in range(1, len(key) + 1):
            self.record((*table, *key[:n]), start)
        self.i += 1  # the "="
        self._skip()
        self._value((*table, *key))

    def _value(self, path: KeyPath) -> None:
        s = self.s
        c = s[self.i]
        if c == "{":
            self.i += 1
            while True:
                self._skip(newlines=True)
                if s[self.i] == "}":
                    self.i += 1
                    return
                if s[self.i] == ",":
                    self.i += 1
                    continue
                self._key_value(path)
        elif c == "[":
            self.i += 1
            index = 0
            while True:
                self._skip(newlines=True)
                if s[self.i] == "]":
                    self.i += 1
                    return
                if s[self.i] == ",":
                    self.i += 1
                    continue
                self.record((*path, index))
                self._value((*path, index))
                index += 1
        elif s.startswith('"""', self.i) or s.startswith("'''", self.i):
            quote = s[self.i : self.i + 3]
            end = self.i + 3
            while True:
                if quote == '"""' and s[end] == "\\":
                    end += 2
                elif s.startswith(quote, end):
                    end += 3
                    while end < len(s) and s[end] == quote[0]:  # up to two quotes inside
                        end += 1
                    break
                else:
                    end += 1
            self.i = end
        elif c == '"':
            self.i = self._basic_end(self.i)
        elif c == "'":
            self.i = s.index("'", self.i + 1) + 1
        else:  # a number, a boolean, a date: up to what ends a value
            self.i = _SCALAR.match(s, self.i).end()  # type: ignore[union-attr]

    def _basic_end(self, start: int) -> int:
        """Just past the basic string ``"..."`` that starts at ``start``."""
        end = start + 1
        while self.s[end] != '"':
            end += 2 if self.s[end] == "\\" else 1
        return end + 1
