"""Automatic recovery and escalation for an automation service (scenarios 2 and 5).

The service watches four components with health checks and recovers each its own way:

- ``api``: an HTTP service on a loopback port that crashed; restarting it fails once
  (its port is still held), then works;
- ``database``: a connection pool that lost its connections; reconnecting works on the
  third try, in the second stage;
- ``memory``: caches grown past their limit; cleared once;
- ``reports``: a downstream service that stays down through every stage, so the incident
  is escalated: P0 goes to the pager (a real HTTP server on loopback standing in for
  one) and to the chat channel.

Then an operator suspends recovery of ``reports`` while working on it, the api crashes
twice more and runs out of its restart budget, and the incident history gives the
statistics. Time is scaled: a minute of the plan is a tenth of a second here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from resilience import (
    CallbackNotifier,
    CheckResult,
    ComponentStatus,
    HealthRegistry,
    Incident,
    LoggingNotifier,
    RecoveryManager,
    RestartBudget,
    Stage,
    WebhookNotifier,
)

MINUTE = 0.1  # seconds standing in for one minute of the recovery plan


class Pager(BaseHTTPRequestHandler):
    """Receives escalations as the pager service's webhook would."""

    pages: list[dict[str, object]] = []  # noqa: RUF012 - one shared inbox

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Pager.pages.append(json.loads(body))
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class Api(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def serve(handler: type[BaseHTTPRequestHandler], port: int = 0) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# ----------------------------------------------------------- the components

class ApiService:
    """The api: an HTTP server on a fixed loopback port, crashed until restarted."""

    def __init__(self) -> None:
        with socket.create_server(("127.0.0.1", 0)) as probe:
            self.port = probe.getsockname()[1]  # free; nothing listens until a restart
        self.server: ThreadingHTTPServer | None = None
        self.restarts = 0

    def restart(self) -> None:
        self.restarts += 1
        if self.restarts % 2 == 1:
            raise OSError(98, "Address already in use")  # the old process still holds it
        self.server = serve(Api, self.port)

    def crash(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


api_service = ApiService()
pool = {"connections": 0, "reconnects": 0}
caches = {"thumbnails": ["..."] * 900, "sessions": ["..."] * 50}
reports_up = False


def reconnect_pool() -> None:
    pool["reconnects"] += 1
    if pool["reconnects"] < 3:
        raise ConnectionRefusedError(111, "Connection refused")
    pool["connections"] = 10


def clear_caches() -> None:
    caches["thumbnails"].clear()  # non-essential; sessions stay


def restart_reports_client() -> None:
    raise TimeoutError("reports.internal did not answer within 5 s")


health = HealthRegistry(default_timeout=1.0)


@health.check("api")
def api() -> bool:
    url = f"http://127.0.0.1:{api_service.port}/"
    with urllib.request.urlopen(url, timeout=0.5) as response:
        return bool(response.status == 200)


@health.check("database")
def database() -> CheckResult:
    if pool["connections"] == 0:
        return CheckResult(ComponentStatus.ERROR, "connection pool empty")
    return CheckResult(ComponentStatus.OK, f"{pool['connections']} connections")


@health.check("memory")
def memory() -> CheckResult:
    used = sum(len(v) for v in caches.values())
    status = ComponentStatus.ERROR if used > 500 else ComponentStatus.OK
    return CheckResult(status, f"{used} cache entries (limit 500)")


@health.check("reports", critical=False)
def reports() -> bool:
    return reports_up


# ------------------------------------------------------------- the recovery plan


def to_chat(incident: Incident) -> None:
    print(f"  #ops <- [{incident.severity.value}] {incident.component}: {incident.detail}")


def show(incident: Incident) -> None:
    print(
        f"  {incident.component:9} {incident.resolution.value:16} after "
        f"{incident.duration / MINUTE:4.1f} min, {len(incident.actions)} actions: "
        f"{incident.detail}"
    )


async def main() -> None:
    # The escalation's log line, as the on-call engineer's log view shows it.
    logging.basicConfig(stream=sys.stdout, format="  log: %(levelname)s %(message)s")
    logging.getLogger("resilience").setLevel(logging.CRITICAL)
    pager = serve(Pager)
    manager = RecoveryManager(
        stages=[
            Stage(delay=0),
            Stage(delay=1 * MINUTE, attempts=2, interval=0.1 * MINUTE),
            Stage(delay=5 * MINUTE, attempts=3, interval=0.1 * MINUTE),
        ],
        budget=RestartBudget(max_recoveries=2, period=60 * MINUTE, reset_after=60 * MINUTE),
        notifiers=[
            WebhookNotifier(
                f"http://127.0.0.1:{pager.server_address[1]}/v2/enqueue?routing_key=SECRET",
                min_severity="P0",
                timeout=2,
            ),
            CallbackNotifier(to_chat, min_severity="P1"),
            LoggingNotifier(logging.getLogger("automation.incidents")),
        ],
    )
    manager.register("api", actions=[api_service.restart], severity="P1")
    manager.register("database", actions=[reconnect_pool], severity="P1")
    manager.register("memory", actions=[clear_caches], stages=[Stage()], severity="P2")
    manager.register("reports", actions=[restart_reports_client], severity="P0")
    manager.attach(health)  # an ERROR starts the component's recovery, its check verifies

    print("1. the first health round finds four components failing; recovery starts")
    report = await health.arun()
    print("  " + report.render().replace("\n", "\n  "))
    print(f"  recovering: {sorted(manager.running())}")
    for incident in await gather(manager):
        show(incident)
    expected = {"api": "recovered", "database": "recovered", "memory": "recovered"}
    if {i.component: i.resolution.value for i in manager.incidents()} != {
        **expected,
        "reports": "escalated",
    }:
        raise SystemExit("an incident did not end as planned")
    (page,) = Pager.pages
    print(f"  pager received: [{page['severity']}] {page['component']}: {page['detail']}")

    print("2. an operator suspends recovery of reports while working on it")
    manager.suspend("reports")
    held = await manager.recover("reports", reason="still down")
    show(held)
    manager.resume("reports")

    print("3. the api crashes twice more: the second crash exhausts its restart budget")
    for _ in range(2):
        api_service.crash()
        await health.arun()
        for incident in await gather(manager):
            show(incident)
    if manager.incidents("api")[-1].resolution.value != "budget exhausted":
        raise SystemExit("the restart budget did not stop the crash loop")

    print("4. the history")
    for name, stats in manager.stats().items():
        rate = "-" if stats.success_rate is None else f"{stats.success_rate:.0%}"
        mttr = stats.mean_time_to_recovery
        print(
            f"  {name:9} incidents {stats.incidents}, recovered {stats.recovered}, "
            f"escalated {stats.escalated}, success {rate}, MTTR "
            f"{'-' if mttr is None else f'{mttr / MINUTE:.1f} min'}"
        )
    if len(Pager.pages) != 1:  # the P1 budget escalation goes to chat, not the pager
        raise SystemExit(f"the pager got {len(Pager.pages)} pages, not 1")
    api_service.crash()
    pager.shutdown()
    pager.server_close()


async def gather(manager: RecoveryManager) -> list[Incident]:
    """Wait for the recoveries in progress."""
    return list(await asyncio.gather(*map(asyncio.wrap_future, manager.running().values())))


if __name__ == "__main__":
    asyncio.run(main())
