"""Text from hostile objects: never raises, one line, bounded."""

from __future__ import annotations

from resilience._core.text import one_line, safe_repr, safe_str


class _HostileError(Exception):
    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")

    def __str__(self) -> str:
        raise RuntimeError("str exploded")


class _NotAString:
    def __repr__(self) -> str:
        return 42  # type: ignore[return-value]


def test_a_raising_repr_gives_a_placeholder_naming_the_type() -> None:
    """A __repr__ that raises is replaced by a placeholder saying so."""
    assert safe_repr(_HostileError()) == "<_HostileError object; its __repr__ raised RuntimeError>"
    assert safe_str(_HostileError()) == "<_HostileError object; its __str__ raised RuntimeError>"


def test_a_repr_that_is_not_a_string_gives_a_placeholder() -> None:
    """A __repr__ returning a non-str is treated as one that raised."""
    assert safe_repr(_NotAString()) == "<_NotAString object; its __repr__ raised TypeError>"


def test_a_long_repr_is_cut_with_the_count_left_out() -> None:
    """A huge repr is cut to the limit, saying how much was left out."""
    text = safe_str("x" * 1000, limit=10)
    assert text == "xxxxxxxxxx…(990 more characters)"


def test_newlines_and_escapes_cannot_forge_a_log_line() -> None:
    """Newlines, carriage returns and ANSI escapes are shown escaped."""
    assert one_line("ok\nERROR forged\r\x1b[31m") == "ok\\nERROR forged\\r\\x1b[31m"
    assert one_line("plain, é ✓") == "plain, é ✓"
    assert safe_repr(ValueError("a\nb")) == "ValueError('a\\nb')"
