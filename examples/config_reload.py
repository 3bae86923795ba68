"""Configuration from a file, changed while calls go on: breakers keep their state.

Loads a TOML file, calls a flaky remote through the pipeline it describes, then edits the
file: a valid change is put in force in place (the breaker is the same, its failures
still counted), an invalid one is refused with the line and field, and the old
configuration stays. Last, s3 gets a bulkhead of one slot: a second call at once is
refused, and a reload that leaves the bulkhead's section alone keeps the same one. Runs
on a FakeClock, so it takes no time.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

from resilience import Bulkhead, BulkheadFullError, CircuitOpenError, config
from resilience.events import Event
from resilience.testing import FakeClock

FILE = """\
[defaults]
breaker = { failure_threshold = 5, open_for = 30 }

[remotes.s3]
retry = { attempts = 2, backoff = { initial = 0.5, jitter = "none" } }
timeout = 5
"""


def down() -> str:
    raise ConnectionResetError("s3 reset the connection")


def main() -> None:
    clock = FakeClock()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "resilience.toml"
        path.write_text(FILE)

        def show(event: Event) -> None:
            print(f"  event {event.event_name}: {event.describe()}")

        settings = config.load(path, env={}, clock=clock, listeners=[show], poll_interval=1)
        breaker = settings.registry.get("s3")
        with contextlib.suppress(ConnectionResetError):
            settings.policy("s3").call(down)
        print(f"after one call of 2 attempts: {breaker.snapshot().consecutive_failures} "
              f"failures in a row, threshold {breaker.config.failure_threshold}")

        print("the file now says failure_threshold = 3:")
        path.write_text(FILE.replace("failure_threshold = 5", "failure_threshold = 3"))
        clock.advance(1)
        settings.poll()
        print(f"  same breaker: {settings.registry.get('s3') is breaker}, "
              f"{breaker.snapshot().consecutive_failures} failures kept, "
              f"threshold {breaker.config.failure_threshold}")
        try:
            settings.policy("s3").call(down)
        except CircuitOpenError as exc:
            print(f"  the next call opens it: {type(exc).__name__}, {breaker.state.name}")

        print("the file now says open_for = 0 (invalid):")
        path.write_text(FILE.replace("open_for = 30", "open_for = 0"))
        clock.advance(1)
        refused = settings.poll()
        print(f"  reloaded: {refused}; open_for in force: {breaker.config.open_for:g} s, "
              f"state {breaker.state.name}")

        print("the file now gives s3 a bulkhead of one slot:")
        path.write_text(FILE + "bulkhead = { max_concurrent = 1 }\n")
        clock.advance(31)  # past the open period: the breaker lets a trial call through
        settings.poll()
        s3 = settings.live("s3")
        s3.call(lambda: "up again")  # the trial call succeeds: the circuit closes
        print(f"  a trial call closed the circuit: {breaker.state.name}")

        def while_busy() -> str:
            try:
                return s3.call(lambda: "admitted")
            except BulkheadFullError as exc:
                return f"refused ({type(exc).__name__}: {exc.in_use} of 1 in use)"

        print(f"  a second call at once: {s3.call(while_busy)}")
        bulkhead = next(s for s in settings.policy("s3").strategies if isinstance(s, Bulkhead))
        path.write_text(FILE.replace("timeout = 5", "timeout = 8")
                        + "bulkhead = { max_concurrent = 1 }\n")
        clock.advance(1)
        settings.poll()
        kept = next(s for s in settings.policy("s3").strategies if isinstance(s, Bulkhead))
        print(f"  after a reload changing the timeout only, the same bulkhead: {kept is bulkhead}")


if __name__ == "__main__":
    main()
