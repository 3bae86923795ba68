"""``python -m resilience demo``: every part at work on simulated remotes, in a few seconds.

Runs on the embedded defaults (memory, and SQLite in a temporary folder): breakers open
and close, retries draw on a budget, a batch worker is killed and its job resumed, and
health degrades and recovers. With ``--web`` the live status page shows it too.
"""

from __future__ import annotations

import contextlib
import random
import signal
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from resilience._breaker.breaker import CircuitBreaker
from resilience._breaker.config import BreakerConfig
from resilience._breaker.errors import CircuitOpenError
from resilience._breaker.events import TRANSITION_NAMES
from resilience._breaker.registry import BreakerRegistry
from resilience._core.clock import SYSTEM_CLOCK
from resilience._core.events import Event
from resilience._retry.backoff import Backoff
from resilience._retry.budget import RetryBudget
from resilience._retry.events import RetryScheduled
from resilience._retry.policy import RetryPolicy
from resilience.batch import BatchProcessor
from resilience.health import ComponentChanged, HealthRegistry
from resilience.stores.sqlite._checkpoint import SQLiteCheckpointStore

__all__ = ["run_demo"]

ITEMS = 300
CRASH_AT = 170
CALLS = 60
SHOWN_RETRIES = 3


class Remote:
    """A simulated remote: down, or failing a share of calls, at will."""

    def __init__(self, name: str, *, failure_rate: float = 0.0, seed: int = 0) -> None:
        self.name = name
        self.failure_rate = failure_rate
        self.down = False
        self.calls = 0
        self._random = random.Random(seed)

    def call(self) -> str:
        self.calls += 1
        SYSTEM_CLOCK.sleep(0.002)  # a round trip, so that the status page has something to show
        if self.down or self._random.random() < self.failure_rate:
            raise ConnectionResetError(f"{self.name} reset the connection")
        return "ok"


class View:
    """The terminal view: one line per event, under the section it belongs to."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.start = SYSTEM_CLOCK.monotonic()
        self.color = out.isatty()
        self.rejections: Counter[str] = Counter()  # by remote: each line speaks of one
        self.retries = 0
        self._lock = threading.Lock()
        # What the view shows of a breaker's events, by event name; calls are passed over.
        self._shown: dict[str, Callable[[dict[str, object]], None]] = dict.fromkeys(
            TRANSITION_NAMES.values(), self._transition
        )
        self._shown["breaker.rejected"] = self._rejected

    def section(self, title: str) -> None:
        self.write(f"\n{self._bold(title)}")

    def line(self, text: str) -> None:
        self.write(f"  {SYSTEM_CLOCK.monotonic() - self.start:6.2f}s  {text}")

    def write(self, text: str) -> None:
        with self._lock:
            print(text, file=self.out, flush=True)

    def breaker_event(self, event: Event) -> None:
        show = self._shown.get(event.event_name)
        if show is not None:
            show(event.fields())

    def _transition(self, fields: dict[str, object]) -> None:
        self.line(
            f"{fields['remote']!s:<8} {self.state(str(fields['old_state']))} -> "
            f"{self.state(str(fields['new_state']))}  {fields['reason']}"
        )

    def _rejected(self, fields: dict[str, object]) -> None:
        self.rejections[str(fields["remote"])] += 1

    def retry_event(self, event: RetryScheduled) -> None:
        self.retries += 1
        if self.retries <= SHOWN_RETRIES:
            self.line(
                f"retry    attempt {event.attempt} failed ({event.classification.reason}"
                f"); retrying in {event.delay * 1000:.0f} ms"
            )

    def health_event(self, event: ComponentChanged) -> None:
        old = event.old.name if event.old is not None else "-"
        self.line(
            f"health   {event.name}: {old} -> {self.state(event.new.name)}  "
            f"{event.message}".rstrip()
        )

    def table(self, registry: BreakerRegistry) -> None:
        for name, snap in sorted(registry.snapshot().items()):
            rate = "-" if snap.failure_rate is None else f"{snap.failure_rate:.0%}"
            self.write(
                f"    {name:<8} {self.state(snap.state.name):<9} failure rate {rate:>4}"
                f"  rejected {snap.rejected}"
            )

    def state(self, state: str) -> str:
        """A state's name as shown: coloured by its level on a terminal."""
        if not self.color:
            return state
        code = {"OPEN": 31, "ERROR": 31, "HALF_OPEN": 33, "WARNING": 33}.get(state, 32)
        return f"\033[{code}m{state}\033[0m"

    def _bold(self, text: str) -> str:
        return f"\033[1m{text}\033[0m" if self.color else text


def run_demo(
    *, web: bool = False, port: int = 0, linger: float = 0.0, out: TextIO = sys.stdout
) -> int:
    """Run the demo; 0 when every part behaved as it should."""
    view = View(out)
    with tempfile.TemporaryDirectory(prefix="resilience-demo-") as folder:
        registry = BreakerRegistry(
            BreakerConfig(failure_threshold=3, open_for=0.5),
            overrides={
                "dropbox": BreakerConfig(
                    failure_rate=0.5, window=20, minimum_calls=10, open_for=0.5
                )
            },
            listeners=[view.breaker_event],
        )
        health = HealthRegistry(default_timeout=1.0)
        health.add_listener(view.health_event)
        store = SQLiteCheckpointStore(Path(folder) / "checkpoints.db")
        batch = BatchProcessor(
            "copy-photos", lambda _item: SYSTEM_CLOCK.sleep(0.001), store=store, checkpoint_every=25
        )
        remotes = {
            "s3-eu": Remote("s3-eu", failure_rate=0.05, seed=1),
            "gdrive": Remote("gdrive", seed=2),
            "dropbox": Remote("dropbox", failure_rate=0.3, seed=3),
        }
        for remote in remotes.values():
            registry.get(remote.name)
        health.register("gdrive", lambda: not remotes["gdrive"].down, critical=False)
        health.add_breakers(registry)
        view.write("resilience demo: three simulated remotes, a batch job and health checks")
        with _status_page(web, port, registry=registry, health=health, batch=batch, view=view):
            ok = all(
                [
                    _breakers(view, registry, remotes),
                    _retries(view, registry, remotes["dropbox"]),
                    _batch(view, batch, Path(folder) / "checkpoints.db"),
                    _health(view, health, remotes["gdrive"]),
                ]
            )
            if web and linger > 0:
                view.write(f"\nserving the status page for {linger:g} s more")
                SYSTEM_CLOCK.sleep(linger)
        store.close()
    view.write("\ndone: every part behaved as documented" if ok else "\nsomething misbehaved")
    return 0 if ok else 1


def _breakers(view: View, registry: BreakerRegistry, remotes: dict[str, Remote]) -> bool:
    view.section("1. Circuit breakers: gdrive goes down, its breaker opens, then recovers")
    remotes["gdrive"].down = True
    for _ in range(20):
        for remote in remotes.values():
            _call(registry.get(remote.name), remote)
    view.line(
        f"gdrive   {view.rejections['gdrive']} calls rejected at once while OPEN; the "
        f"remote saw {remotes['gdrive'].calls}"
    )
    opened = registry.get("gdrive").state.name == "OPEN"
    remotes["gdrive"].down = False
    SYSTEM_CLOCK.sleep(0.55)  # the open period: then one trial call decides
    _call(registry.get("gdrive"), remotes["gdrive"])
    view.table(registry)
    return opened and registry.get("gdrive").state.name == "CLOSED"


def _call(breaker: CircuitBreaker, remote: Remote) -> None:
    with contextlib.suppress(ConnectionResetError, CircuitOpenError):
        breaker.call(remote.call)


def _retries(view: View, registry: BreakerRegistry, remote: Remote) -> bool:
    view.section("2. Retries: dropbox fails 30% of calls; retries are capped at 20% of calls")
    budget = RetryBudget(ratio=0.2, min_per_second=0, window=10)
    # max_retry_after: a retry does not wait out an open circuit here; it gives up.
    policy = RetryPolicy(
        attempts=4,
        backoff=Backoff(initial=0.005, max=0.02),
        budget=budget,
        max_retry_after=0.1,
        on_retry=view.retry_event,
    )
    breaker = registry.get("dropbox")
    failed = 0
    for _ in range(CALLS):
        try:
            policy.call(breaker.call, remote.call)
        except (ConnectionResetError, CircuitOpenError):
            failed += 1
    snapshot = budget.snapshot()
    view.line(
        f"budget   {CALLS} calls: {snapshot.retries} retries taken, {snapshot.rejected} "
        f"refused by the budget, {failed} calls failed in the end"
    )
    return snapshot.calls == CALLS and snapshot.retries <= snapshot.allowed


def _batch(view: View, batch: BatchProcessor, db: Path) -> bool:
    view.section(f"3. A batch job of {ITEMS} items: its worker is killed, the job resumes")
    worker = subprocess.run(  # noqa: S603 - this interpreter, running our own code
        [sys.executable, "-c", f"from resilience._cli.demo import _doomed; _doomed({str(db)!r})"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    killed = worker.returncode != 0
    done = len(batch.records())
    view.line(
        f"worker   killed at item {CRASH_AT} (exit status {worker.returncode}); the "
        f"checkpoints hold {done} items done"
    )
    result = batch.run(range(ITEMS))
    view.line(
        f"resumed  {result.skipped} skipped (done before), {result.succeeded} processed, "
        f"of which {CRASH_AT - done} the dead worker had done but not checkpointed"
    )
    records = batch.records()
    nothing_lost = len(records) == ITEMS and all(r.status == "done" for r in records.values())
    view.line("batch    every item done, nothing lost" if nothing_lost else "batch    ITEMS LOST")
    return killed and nothing_lost


def _doomed(db: str) -> None:
    """The batch worker of the demo: it dies, killed, in the middle of the job."""
    import os  # noqa: PLC0415

    def handler(item: int) -> None:
        if item == CRASH_AT:
            os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
        SYSTEM_CLOCK.sleep(0.001)

    BatchProcessor(
        "copy-photos", handler, store=SQLiteCheckpointStore(db), checkpoint_every=25
    ).run(range(ITEMS))


def _health(view: View, health: HealthRegistry, gdrive: Remote) -> bool:
    view.section("4. Health: gdrive goes down again, the application degrades, then recovers")
    reports = [health.run()]
    gdrive.down = True
    reports.append(health.run())
    gdrive.down = False
    reports.append(health.run())
    view.line("health   overall " + " -> ".join(view.state(r.status.name) for r in reports))
    statuses = [r.components["gdrive"].status.name for r in reports]
    return statuses == ["OK", "ERROR", "OK"] and reports[1].status.name != "HEALTHY"


@contextmanager
def _status_page(
    web: bool,
    port: int,
    *,
    registry: BreakerRegistry,
    health: HealthRegistry,
    batch: BatchProcessor,
    view: View,
) -> Iterator[None]:
    if not web:
        yield
        return
    try:
        import uvicorn  # noqa: PLC0415

        from resilience.web import status_app  # noqa: PLC0415
    except ImportError as exc:
        message = f"--web needs the web extra: pip install 'resilience[web]' ({exc})"
        raise SystemExit(message) from None
    app = status_app(registry=registry, health=health, batches=[batch], title="resilience demo")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="resilience-demo-web", daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        SYSTEM_CLOCK.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1] if server.servers else port
    view.write(f"status page: http://127.0.0.1:{bound}/")
    try:
        yield
    finally:
        app.close()  # end open event streams: uvicorn waits for them before it stops
        server.should_exit = True
        thread.join(timeout=5)
