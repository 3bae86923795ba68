"""Paging people by severity: Slack, PagerDuty and Telegram through a routing matrix (scenario 3).

Three loopback HTTP servers stand in for Slack's incoming webhook, PagerDuty's Events
API v2 and Telegram's Bot API; each prints what it received. A recovery of
``payments-db`` fails every stage, so its P0 incident is routed to every channel; a P2
incident of ``search`` skips the pagers. One channel (Telegram) is made to hang: the
others are told at once, and it fails after its own timeout only. Then the P0 incident
is acknowledged and resolved here, and PagerDuty follows with the same ``dedup_key``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from resilience import (
    PagerDutyNotifier,
    RecoveryManager,
    Router,
    SlackNotifier,
    Stage,
    TelegramNotifier,
)

HANG = threading.Event()  # set: the Telegram stand-in stops answering


class StandIn(BaseHTTPRequestHandler):
    """Prints each request as the real service would see it, and answers as it does."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path.startswith("/services/"):
            print(f"  slack     <- {body['blocks'][0]['text']['text']}")
            self._answer(200, b"ok")
        elif self.path == "/v2/enqueue":
            summary = body.get("payload", {}).get("summary", "")
            print(f"  pagerduty <- {body['event_action']} {body['dedup_key']} {summary}")
            self._answer(202, b'{"status": "success", "message": "Event processed"}')
        else:
            if HANG.is_set():
                print("  telegram  <- (no answer)")
                time.sleep(1.0)
                return
            print(f"  telegram  <- chat {body['chat_id']}: {body['text'].splitlines()[0]}")
            self._answer(200, b'{"ok": true, "result": {}}')

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


async def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    pagerduty = PagerDutyNotifier(
        "0123456789abcdef0123456789abcdef", url=f"{base}/v2/enqueue", timeout=5
    )
    router = Router(
        {
            "slack": SlackNotifier(f"{base}/services/T000/B000/XXXX", timeout=5),
            "pagerduty": pagerduty,
            "telegram": TelegramNotifier(
                "123456:ABC-secret", chat_id=-1001, api_url=base, timeout=0.3
            ),
        }
    )
    print("routing matrix:", router.matrix.to_dict())

    manager = RecoveryManager(stages=[Stage(delay=0, attempts=2)], notifiers=[router])

    def reconnect() -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    manager.register("payments-db", actions=[reconnect], severity="P0")
    manager.register("search", actions=[reconnect], severity="P2")

    print("\npayments-db fails (P0: every channel):")
    incident = await manager.recover("payments-db", reason="health check: connection refused")
    print("  recorded:", [(n.notifier, n.ok) for n in incident.notifications])

    print("\nsearch fails (P2: no pagers):")
    await manager.recover("search", reason="health check: index unreachable")

    print("\nTelegram hangs; the others are not held up:")
    HANG.set()
    started = time.perf_counter()
    records = await router.deliver(incident)
    took = time.perf_counter() - started
    for record in records:
        print(f"  {record.notifier}: {'ok' if record.ok else record.error}")
    print(f"  all told in {took:.1f} s (Telegram's timeout is 0.3 s)")
    if [r.ok for r in records] != [True, True, False] or took > 2:
        raise SystemExit("a hanging channel held up the others")

    print("\nacknowledged, then resolved, here: PagerDuty follows with the same dedup_key:")
    acked = await manager.aacknowledge(incident.id, by="alice")
    resolved = await manager.aresolve(incident.id, by="alice", text="failed over")
    told = [(n.notifier, n.ok) for n in (acked.notifications[-1], resolved.notifications[-1])]
    print("  recorded:", told)
    if told != [("pagerduty (acknowledge)", True), ("pagerduty (resolve)", True)]:
        raise SystemExit("PagerDuty was not told of the acknowledgement and the resolution")
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    asyncio.run(main())
