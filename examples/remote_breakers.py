"""Per-remote circuit breakers for a cloud-storage file manager (scenario 4).

Each rclone-style remote gets its own breaker: 5 failures open it, a trial call is let
through after 60 s, and 3 trial successes close it again. While a remote's circuit is
open, listings come from a cache or an alternate remote, or the user is told exactly
which remote is unavailable and when to retry.

The remotes are simulated and time is a FakeClock, so the script runs in an instant.
"""

from __future__ import annotations

from resilience import BreakerConfig, BreakerRegistry, CircuitOpenError, StateChanged
from resilience.testing import FakeClock

clock = FakeClock()


class Remote:
    """A simulated remote that is either up or down."""

    def __init__(self, name: str, *, up: bool = True) -> None:
        self.name = name
        self.up = up
        self.calls = 0

    def list(self, path: str) -> list[str]:
        self.calls += 1
        if not self.up:
            raise ConnectionResetError(f"{self.name}: connection reset by peer")
        return [f"{self.name}:{path}/report.pdf", f"{self.name}:{path}/photo.jpg"]


remotes = {name: Remote(name) for name in ("gdrive", "s3-eu", "s3-us", "dropbox")}
alternates = {"s3-eu": "s3-us"}  # the same bucket, replicated
cache: dict[tuple[str, str], list[str]] = {}


def log_transition(event: object) -> None:
    if isinstance(event, StateChanged):
        change = f"{event.old.name} -> {event.new.name}"
        print(f"  [{clock.monotonic():5.0f} s] {event.name}: {change} ({event.reason})")


breakers = BreakerRegistry(
    BreakerConfig(failure_threshold=5, open_for=60, success_threshold=3, half_open_max_calls=3),
    # Object stores fail in bursts: judge them by failure rate over the last 20 calls.
    overrides={"s3-*": BreakerConfig(failure_rate=0.5, window=20, minimum_calls=5, open_for=60)},
    clock=clock,
    listeners=[log_transition],
)


@breakers.protect(lambda remote, _path: remote)
def list_remote(remote: str, path: str) -> list[str]:
    return remotes[remote].list(path)


def list_files(remote: str, path: str) -> list[str] | str:
    """List a folder, falling back to an alternate remote or the cache when needed."""
    try:
        listing = list_remote(remote, path)
    except CircuitOpenError as err:
        if remote in alternates:
            return list_files(alternates[remote], path)
        if (remote, path) in cache:
            return cache[(remote, path)] + ["(cached)"]
        return f"remote {remote!r} is unavailable, retry in {err.retry_after:.0f} s"
    except OSError as err:
        return f"could not list {remote}:{path}: {err}"
    cache[(remote, path)] = listing
    return listing


def main() -> None:
    print("All remotes up:")
    for name in remotes:
        print(f"  {name}: {list_files(name, '/docs')}")

    print("\ngdrive and s3-eu go down; each is tried until its breaker opens:")
    remotes["gdrive"].up = remotes["s3-eu"].up = False
    for _ in range(6):
        list_files("gdrive", "/docs")
        list_files("s3-eu", "/docs")
        clock.advance(1)
    print(f"  calls that reached gdrive while it was down: {remotes['gdrive'].calls - 1}")

    print("\nWhile open, nothing reaches the dead remotes:")
    before = remotes["gdrive"].calls
    print(f"  gdrive /docs  -> {list_files('gdrive', '/docs')}")
    print(f"  gdrive /music -> {list_files('gdrive', '/music')}")
    print(f"  s3-eu  /docs  -> {list_files('s3-eu', '/docs')}  (from the alternate)")
    if remotes["gdrive"].calls != before:
        raise SystemExit("an open circuit let a call through to gdrive")

    print("\n60 s later gdrive is back; three trial calls close its circuit:")
    remotes["gdrive"].up = True
    clock.advance(60)
    for _ in range(3):
        list_files("gdrive", "/docs")
    print(f"  gdrive /music -> {list_files('gdrive', '/music')}")

    print("\nBreakers:")
    for snap in breakers.snapshot().values():
        extra = f", retry in {snap.retry_after:.0f} s" if snap.state.name != "CLOSED" else ""
        print(f"  {snap.name:8} {snap.state.name:9} rejected={snap.rejected}{extra}")


if __name__ == "__main__":
    main()
