"""Progress reporting of a batch run: the user's callback, or a tqdm bar."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeAlias

from resilience.batch._results import BatchProgress

__all__ = ["Progress", "TqdmProgress", "make_progress"]

Progress: TypeAlias = Callable[[BatchProgress], object]
"""A callback that receives a :class:`BatchProgress` after each item."""


def make_progress(progress: Progress | str | None) -> Progress | None:
    """The callback for a processor's ``progress=``: as given, or a tqdm bar for ``"tqdm"``."""
    if progress is None or callable(progress):
        return progress
    if progress == "tqdm":
        return TqdmProgress()
    raise TypeError(
        f"BatchProcessor progress must be a callable taking a BatchProgress, or 'tqdm'; "
        f"got {progress!r}"
    )


class TqdmProgress:
    """A tqdm bar that starts at the items done before this run."""

    def __init__(self) -> None:
        try:
            tqdm = importlib.import_module("tqdm")  # an optional extra, loaded when asked for
        except ImportError as exc:
            raise ImportError(
                "progress='tqdm' needs tqdm: pip install 'resilience-engine[progress]'"
            ) from exc
        self._tqdm = tqdm.tqdm
        self._bar: Any = None
        self._shown = 0

    def __call__(self, event: BatchProgress) -> None:
        """Move the bar to where the run is; close it at the last item."""
        if self._bar is None:
            self._bar = self._tqdm(
                total=event.total, initial=event.resumed, desc=event.job, unit="item"
            )
            self._shown = event.resumed
        # Items done before usually come first: while they are skipped the bar stays
        # at the resumed position, then moves with each item processed.
        position = max(event.resumed, event.skipped + event.processed)
        if position > self._shown:
            self._bar.update(position - self._shown)
            self._shown = position
        if event.total is not None and position >= event.total:
            self._bar.close()
