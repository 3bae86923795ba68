"""What a module says when its optional library is missing: the extra that installs it."""

from __future__ import annotations

__all__ = ["missing"]


def missing(extra: str, library: str, *, who: str | None = None) -> ImportError:
    """The error of ``who`` (``resilience.contrib.<extra>`` by default) without ``library``."""
    return ImportError(
        f"{who or f'resilience.contrib.{extra}'} needs {library}: "
        f"pip install 'resilience-engine[{extra}]'"
    )
