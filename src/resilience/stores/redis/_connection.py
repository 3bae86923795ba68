"""What the Redis modules share: URLs shown without their password, and fail-fast clients.

The breaker store and the retry budget fall back to local state when Redis is away, so
the client they make from a URL has short timeouts and no retries: an outage shows at
once, instead of after a client's backoff.
"""

from __future__ import annotations

from typing import Final, NamedTuple

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from resilience._core.redact import redact_url

__all__ = ["REDIS_ERRORS", "Connection", "connect"]

REDIS_ERRORS: Final = (redis.RedisError, OSError)
"""What a command to an unreachable or failing Redis raises."""


class Connection(NamedTuple):
    client: redis.Redis
    shown: str
    """How to show it: the URL with its password redacted, or the client's type."""
    owned: bool
    """Whether it was made here (and is closed here)."""

    def close(self) -> None:
        """Close the client if it was made here; the caller's own is left open."""
        if self.owned:
            self.client.close()


def connect(url_or_client: object, *, what: str, timeout: float) -> Connection:
    """A client for ``url_or_client``: made from a URL, or the caller's own client."""
    if isinstance(url_or_client, str):
        shown = redact_url(url_or_client)
        try:
            client = redis.Redis.from_url(
                url_or_client,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry=Retry(NoBackoff(), 0),
            )
        except ValueError as exc:
            raise ValueError(
                f"{what} cannot use the URL {shown!r}: {exc}; pass a URL like "
                "'redis://host:6379/0' or a redis.Redis client"
            ) from exc
        return Connection(client, shown, owned=True)
    if isinstance(url_or_client, redis.Redis):
        return Connection(url_or_client, "<redis.Redis client>", owned=False)
    raise TypeError(
        f"{what} needs a redis:// URL or a redis.Redis client, got {type(url_or_client).__name__}"
    )
