"""A file manager's listings: retry a 503 response, fail over to a mirror, serve the last good.

The listing service answers a 503 (with Retry-After) while it restarts: the retry policy
retries that result like a failure. When a remote is down, the call is made to its
mirror through the mirror's own breaker; when the mirror is down too, the last good
listing is served; with nothing cached, the user is told which remote is unavailable
and when to retry.
"""

from __future__ import annotations

from resilience import (
    AlternateRemote,
    Backoff,
    BreakerConfig,
    BreakerRegistry,
    CachedFallback,
    RemoteUnavailableError,
    RetryPolicy,
    resilient,
    retry_on_status,
)
from resilience.testing import FakeClock

clock = FakeClock()


class Response:
    """What an HTTP client returns: a status, headers and a body."""

    def __init__(self, status_code: int, body: list[str], retry_after: str | None = None) -> None:
        self.status_code = status_code
        self.headers = {"Retry-After": retry_after} if retry_after else {}
        self.body = body

    def __repr__(self) -> str:
        return f"<Response [{self.status_code}]>"


offline: set[str] = set()
restarting = {"gdrive": 1}  # one 503 before gdrive answers again


def ls(remote: str, path: str) -> Response:
    """List a folder on a remote (down ones refuse the connection)."""
    if remote in offline:
        raise ConnectionRefusedError(f"{remote}: connection refused")
    if restarting.get(remote):
        restarting[remote] -= 1
        return Response(503, [], retry_after="2")
    return Response(200, [f"{remote}:{path}/report.pdf", f"{remote}:{path}/notes.txt"])


breakers = BreakerRegistry(BreakerConfig(failure_threshold=3, open_for=60), clock=clock)
listings = CachedFallback(name="listings", max_entries=1000, max_age=3600, clock=clock)
listing = resilient(
    lambda remote, _path: remote,
    retry=RetryPolicy(
        attempts=3,
        backoff=Backoff(initial=0.5, jitter="none"),
        retry_on_result=retry_on_status(503),
        clock=clock,
    ),
    breaker=breakers,
    fallback=[
        listings,  # the last good listing, when the mirror failed too
        AlternateRemote({"gdrive": "gdrive-mirror", "s3-eu": "s3-us"}, breakers=breakers),
    ],
)


def show(remote: str, path: str) -> None:
    start = clock.monotonic()
    try:
        response = listing.call(ls, remote, path)
    except RemoteUnavailableError as exc:
        print(f"{remote}{path}: {exc}")
        return
    waited = clock.monotonic() - start
    print(f"{remote}{path}: {response.body} (after {waited:.1f} s of waits)")


print("1. gdrive restarts: its 503 is retried after the 2 s it asked for")
show("gdrive", "/docs")
print("2. gdrive goes down: the mirror answers")
offline.add("gdrive")
show("gdrive", "/docs")
print("3. the mirror goes down too: the last good listing, from the cache")
offline.add("gdrive-mirror")
show("gdrive", "/docs")
print("4. a folder never listed: nothing to serve, so a clear error")
show("gdrive", "/photos")
clock.advance(20)
show("gdrive", "/photos")
(cached,) = listings.measurements()
print(f"cache: {cached.state}; {dict(cached.totals)}")
for name, snapshot in breakers.snapshot().items():
    print(f"breaker {name}: {snapshot.state.name}")
