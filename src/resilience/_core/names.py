"""Remote names: bounded, because a name is a remote, not a request."""

from __future__ import annotations

from typing import Final

from resilience._core.text import safe_repr

__all__ = ["MAX_NAME_LENGTH", "check_name_length"]

MAX_NAME_LENGTH: Final = 1024
"""The longest breaker (remote) name, in characters: a name is a remote, not a request."""


def check_name_length(name: str, what: str) -> None:
    """Refuse a name longer than :data:`MAX_NAME_LENGTH`, saying what to do instead."""
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(
            f"{what} is {len(name):,} characters long, more than the {MAX_NAME_LENGTH:,} "
            f"allowed ({safe_repr(name, limit=40)}): name the remote (a host, a service), "
            "not a request; a name built from a URL's path or query makes one per request"
        )
