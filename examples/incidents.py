"""An incident from failure to post-mortem, as the operations runbook runs it (scenario 2).

The orders database fails at night. Automatic recovery tries twice and gives up; the
on-call engineer is told. Nobody acknowledges within the P1 response target (30 min), so
the incident escalates: the team lead is told and it becomes P0. The engineer then
acknowledges it from a shell (``python -m resilience incidents ack``) while the service
keeps running on the same SQLite file, writes a note, and the next recovery works and
resolves it. Meanwhile a flaky cache opens and resolves incidents again and again: it is
marked flapping and pages once. Time runs on a fake clock: the night takes a moment.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

from resilience.recovery import (
    CallbackNotifier,
    EscalationPolicy,
    EscalationTier,
    Incident,
    IncidentPolicy,
    RecoveryManager,
    Stage,
)
from resilience.stores import SQLiteIncidentStore
from resilience.testing import FakeClock

MINUTE = 60.0


def expect(ok: bool, failure: str) -> None:
    """Stop the example if the runbook did not go as planned."""
    if not ok:
        raise SystemExit(failure)


def main(folder: Path) -> None:
    clock = FakeClock()
    path = folder / "incidents.db"
    store = SQLiteIncidentStore(path)
    on_call: list[str] = []
    team_lead: list[str] = []

    def tell(inbox: list[str], who: str) -> CallbackNotifier:
        def send(incident: Incident) -> None:
            inbox.append(incident.id)
            print(
                f"  -> {who}: [{incident.severity.value}] {incident.component}: {incident.detail}"
            )

        return CallbackNotifier(send)

    manager = RecoveryManager(
        clock=clock,
        stages=[Stage(), Stage(delay=MINUTE)],
        store=store,
        notifiers=[tell(on_call, "on-call")],
        incidents=IncidentPolicy(
            escalation=EscalationPolicy(
                tiers=(
                    EscalationTier(notifiers=(tell(team_lead, "team lead"),), raise_severity=True),
                )
            ),
            flapping_threshold=3,
            flapping_window=30 * MINUTE,
        ),
    )
    database = {"up": False}

    def reconnect() -> bool:
        return database["up"]  # False: the action failed

    manager.register("orders-db", actions=[reconnect], severity="P1")

    print("03:00 orders-db fails")
    incident = asyncio.run(manager.recover("orders-db", reason="health check: connection refused"))
    expect(
        incident.state.value == "open" and len(on_call) == 1,
        "the incident was not opened and paged",
    )

    print("03:31 the targets are checked: nobody acknowledged")
    clock.advance(30 * MINUTE)
    (escalated,) = asyncio.run(manager.check_targets())
    expect(escalated.severity.value == "P0" and len(team_lead) == 1, "it did not escalate")

    print("03:35 the on-call engineer acknowledges from a shell")
    clock.advance(4 * MINUTE)
    cli = [sys.executable, "-m", "resilience", "incidents"]
    where = ["--sqlite", str(path)]
    done = subprocess.run(  # noqa: S603 - this interpreter, our own arguments
        [*cli, "ack", incident.id[:8], *where, "--by", "dana"],
        capture_output=True,
        text=True,
        check=False,
    )
    expect(done.returncode == 0, done.stderr)
    print("  ", done.stdout.strip())
    manager.note(incident.id, by="dana", text="primary out of disk; freeing space")

    print("03:50 the next recovery works and resolves the incident")
    clock.advance(15 * MINUTE)
    database["up"] = True
    asyncio.run(manager.recover("orders-db", reason="retry after freeing disk"))
    final = manager.tracker.get(incident.id)
    expect(final.state.value == "resolved", "the recovery did not resolve it")

    print("04:00 a flaky cache: open, resolve, open, resolve ...")
    cache = {"up": False}
    manager.register("cache", actions=[lambda: cache["up"]], severity="P2")
    for _ in range(3):
        cache["up"] = False
        asyncio.run(manager.recover("cache", reason="evictions"))
        clock.advance(MINUTE)
        cache["up"] = True
        asyncio.run(manager.recover("cache", reason="evictions"))
    flapping = [i for i in manager.incidents("cache") if i.flapping]
    print(f"   {len(flapping)} cache incidents marked flapping; on-call paged {len(on_call)} times")
    # orders-db once, the cache's first failure, then the flapping page once
    expect(len(on_call) == 3, f"on-call was paged {len(on_call)} times, not 3")

    print("\nThe incident, for the post-mortem:")
    print(final.summary())
    for entry in final.timeline:
        print(f"  {entry.kind.value:<16} {entry.by:<8} {entry.text}")
    for breach in final.breaches:
        print(f"  breach: {breach.severity.value} {breach.target.value} target")
    store.close()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        main(Path(folder))
