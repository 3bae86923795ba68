"""What an exporter does when it fails: it tells, once, and never breaks what it observes."""

from __future__ import annotations

import logging

__all__ = ["report_failure"]

logger = logging.getLogger("resilience")

_reported: set[tuple[int, str]] = set()


def report_failure(owner: object, what: str, error: BaseException) -> None:
    """Log ``error``, raised by an exporter in ``what``, once per exporter and place."""
    key = (id(owner), what)
    if key not in _reported:
        _reported.add(key)
        logger.error(
            "%r failed in %s; the operation it observed is unaffected. Further errors "
            "here are not logged.",
            owner,
            what,
            exc_info=error,
        )
