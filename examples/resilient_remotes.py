"""A cloud-storage file manager composing retry, breaker and fallback per remote (scenario 4).

Failures are classified: a reset connection or a 429 is retried (honouring
Retry-After), a 403 is not; each remote has its own breaker, which every attempt passes
through; while a circuit is open the listing falls back to the cache, or the user is
told which remote is unavailable and when to retry.
"""

from __future__ import annotations

import errno

from resilience import (
    Backoff,
    BreakerConfig,
    BreakerRegistry,
    CircuitOpenError,
    RetryPolicy,
    resilient,
)
from resilience.testing import FakeClock

clock = FakeClock()


class HTTPError(Exception):
    def __init__(self, status_code: int, retry_after: str | None = None) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code
        self.headers = {"Retry-After": retry_after} if retry_after else {}


# What each remote does on each call, in turn ("ok" or an exception).
script: dict[str, list[object]] = {
    "gdrive": [HTTPError(429, retry_after="2"), "ok"],
    "s3-eu": [OSError(errno.ECONNRESET, "Connection reset by peer")] * 20,
    "dropbox": [HTTPError(403)],
}
calls = dict.fromkeys(script, 0)
cache: dict[tuple[str, str], list[str]] = {("s3-eu", "/photos"): ["s3-eu:/photos/cat.jpg"]}

breakers = BreakerRegistry(
    BreakerConfig(failure_threshold=5, open_for=60, success_threshold=3), clock=clock
)
retry = RetryPolicy(attempts=3, backoff=Backoff(initial=0.5), deadline=30, clock=clock)


def fallback(exc: BaseException, remote: str, path: str) -> list[str] | str:
    if (remote, path) in cache:
        return [*cache[(remote, path)], "(cached)"]
    if isinstance(exc, CircuitOpenError):
        return f"remote {remote!r} is unavailable, retry in {exc.retry_after:.0f} s"
    return f"cannot list {remote}:{path}: {exc}"


@resilient(lambda remote, _path: remote, retry=retry, breaker=breakers, fallback=fallback)
def list_folder(remote: str, path: str) -> list[str] | str:
    calls[remote] += 1
    step = script[remote].pop(0) if script[remote] else "ok"
    if isinstance(step, Exception):
        raise step
    return [f"{remote}:{path}/report.pdf"]


def main() -> None:
    print("gdrive is rate-limited once (429, Retry-After: 2):")
    listing = list_folder("gdrive", "/docs")
    print(f"  {listing}  after {calls['gdrive']} calls, t={clock.monotonic():.1f} s")

    print("dropbox refuses our credentials (403): not retried")
    print(f"  {list_folder('dropbox', '/docs')}  after {calls['dropbox']} call")

    print("s3-eu resets every connection: retried, then the breaker opens")
    for path in ("/photos", "/docs", "/music"):
        print(f"  {path}: {list_folder('s3-eu', path)}")
    print(f"  calls that reached s3-eu: {calls['s3-eu']}")
    for name, snap in breakers.snapshot().items():
        print(f"  breaker {name:8} {snap.state.name}")


if __name__ == "__main__":
    main()
