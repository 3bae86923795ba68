"""What an integration says when its library is missing: the extra that installs it."""

from __future__ import annotations

__all__ = ["missing"]


def missing(extra: str, library: str) -> ImportError:
    """The error of ``resilience.contrib.<extra>`` imported without ``library``."""
    return ImportError(
        f"resilience.contrib.{extra} needs {library}: pip install 'resilience-engine[{extra}]'"
    )
