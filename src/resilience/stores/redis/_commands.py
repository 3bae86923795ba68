"""A breaker's keys in Redis, and the scripts the breaker store runs on them.

Keys of a breaker (the braces are literal: a Redis Cluster hash tag):

``{namespace}:breaker:{<name>}``
    A hash: ``state``, ``gen`` (a transition counter that starts from the server's clock
    in ms, so it keeps rising even if the key expires or the server restarts empty),
    ``opened_at``, ``period``, ``since`` (ms of the server clock), ``reason``,
    ``permits``, ``ok``.
``{namespace}:breaker:{<name>}:counts``
    A hash: ``r:<process>``, each process's current run of consecutive failures, whose
    sum the fleet's ``failure_threshold`` is judged on; and the fleet's window:
    ``calls``, ``failures``, ``slow`` for a count window (scaled down to the window's
    size as it overflows, so old outcomes fade), or ``c:<s>``, ``f:<s>``, ``s:<s>`` per
    second of a time window. Deleted on every transition, as a local window is cleared.

Both expire ``ttl`` seconds after their last write; times are the Redis server's. Every
script replies with the shared state: state, gen, ms left open, period, reason.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from resilience.stores.redis._scripts import (
    BREAKER_ADMIT,
    BREAKER_FLUSH,
    BREAKER_READ,
    BREAKER_TRIAL,
)
from resilience.stores.redis._wire import ms

if TYPE_CHECKING:
    import redis
    from redis.client import Pipeline

    from resilience.stores.redis._link import Counts, Link, Trial
    from resilience.stores.redis._options import BreakerStoreOptions

__all__ = ["BreakerCommands"]


class BreakerCommands:
    """The breaker scripts, registered on one client, as commands on a breaker's keys.

    Args:
        client: The store's client.
        config: The store's options (namespace, ttl).
    """

    __slots__ = (
        "_admit",
        "_client",
        "_flush",
        "_read",
        "_trial",
        "_ttl_ms",
        "channel",
        "namespace",
        "process",
    )

    def __init__(self, client: redis.Redis, config: BreakerStoreOptions) -> None:
        self._client = client
        self.namespace = config.namespace
        self.channel = f"{config.namespace}:breaker-events"
        """Where every transition is published."""
        self.process = uuid.uuid4().hex[:12]
        """This process's name in the fleet's counts."""
        self._ttl_ms = int(config.ttl * 1000)
        self._flush = client.register_script(BREAKER_FLUSH)
        self._admit = client.register_script(BREAKER_ADMIT)
        self._trial = client.register_script(BREAKER_TRIAL)
        self._read = client.register_script(BREAKER_READ)

    def pipeline(self) -> Pipeline:
        """A pipeline (no transaction) to queue commands on."""
        return self._client.pipeline(transaction=False)

    def keys(self, name: str) -> list[str]:
        """The breaker's keys: its state and its counts."""
        state = f"{self.namespace}:breaker:{{{name}}}"
        return [state, f"{state}:counts"]

    def flush(self, pipe: Pipeline, link: Link, counts: Counts) -> None:
        """Queue this process's counts of ``link``'s breaker, to be judged by the fleet."""
        self._flush(
            keys=self.keys(link.name),
            args=self._args(link.name, self.process, *counts, *link.rules),
            client=pipe,
        )

    def trial(self, pipe: Pipeline, link: Link, trial: Trial) -> None:
        """Queue a trial call's outcome (or a permit given back)."""
        gen, result, why = trial
        config = link.breaker.config
        self._trial(
            keys=self.keys(link.name),
            args=self._args(
                link.name,
                gen,
                result,
                why,
                config.success_threshold,
                ms(config.open_for),
                ms(config.open_for_max),
            ),
            client=pipe,
        )

    def read(self, pipe: Pipeline, link: Link) -> None:
        """Queue a read of the breaker's shared state."""
        self._read(keys=self.keys(link.name), args=self._args(link.name), client=pipe)

    def request_permit(self, link: Link) -> list[Any]:
        """Ask for a trial permit at once; the reply has a 6th item, 1 if granted."""
        config = link.breaker.config
        return self._admit(  # type: ignore[no-any-return]
            keys=self.keys(link.name),
            # A trial whose process died never reports: without a half_open_timeout,
            # the fleet gives up on it after the open period.
            args=self._args(
                link.name,
                config.half_open_max_calls,
                ms(config.half_open_timeout or config.open_for),
                ms(config.open_for),
                ms(config.open_for_max),
            ),
        )

    def _args(self, name: str, *rest: object) -> list[Any]:
        return [self.channel, name, self._ttl_ms, *rest]
