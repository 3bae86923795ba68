"""A desktop app's health: components, offline mode, and a report (scenario 1).

The app talks to a backend over HTTP and keeps its data in SQLite. Its health registry
checks the backend, the database, the cache, the filesystem and the encryption key;
the report says healthy / degraded / critical; while the backend is down, syncing
falls back to offline mode instead of failing. The backend here is a real HTTP server
on a loopback port, first not started (connection refused), then started. When the
database file is damaged, a recovery manager attached to the health registry backs it
up and recreates it (resilience.contrib.sqlite); a lost key cannot be recovered, so the
report fails clearly.
"""

from __future__ import annotations

import shutil
import socket
import sqlite3
import tempfile
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from resilience import (
    CheckResult,
    ComponentStatus,
    FeatureChanged,
    FeatureGate,
    HealthRegistry,
    RecoveryManager,
    Stage,
)
from resilience.contrib.sqlite import sqlite_check, sqlite_repair

data = Path(tempfile.mkdtemp(prefix="desktop-app-"))
port = socket.create_server(("127.0.0.1", 0)).getsockname()[1]  # free, nobody listening
backend_url = f"http://127.0.0.1:{port}/ping"
cache: dict[str, str] = {"settings": "{}"}

health = HealthRegistry(default_timeout=2.0)


@health.check("backend", critical=False, timeout=1.0)
def backend() -> bool:
    with urllib.request.urlopen(backend_url, timeout=1.0) as response:
        return bool(response.status == 200)


def init_database(path: Path) -> None:
    """The app's schema: what a fresh install creates."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        db.execute("PRAGMA user_version=16")
    db.close()


health.register("database", sqlite_check(data / "app.db", schema_version=16, tables=["notes"]))

# Level 1 of the plan, recover silently: a damaged database is backed up and recreated.
recovery = RecoveryManager(stages=[Stage(attempts=2)])
recovery.register("database", actions=[sqlite_repair(data / "app.db", init_database)])
recovery.attach(health)  # ERROR starts the repair; the check verifies it


@health.check("cache", critical=False)
def cache_check() -> CheckResult:
    if "settings" not in cache:
        return CheckResult(ComponentStatus.WARNING, "cache empty: it will be rebuilt")
    return CheckResult(ComponentStatus.OK, f"{len(cache)} entries")


@health.check("filesystem")
def filesystem() -> CheckResult:
    free = shutil.disk_usage(data).free / 2**30
    if free < 0.1:
        return CheckResult(ComponentStatus.ERROR, f"disk full: {free:.2f} GiB free")
    (data / ".write-test").write_text("ok")
    return CheckResult(ComponentStatus.OK, f"{free:.1f} GiB free", {"free_gib": round(free, 1)})


@health.check("encryption-key")
def encryption_key() -> bool:
    return (data / "key.bin").exists()


gate = FeatureGate(health, listeners=[lambda e: print(f"  feature {describe(e)}")])
gate.feature("sync", requires=["backend"])


def describe(event: FeatureChanged) -> str:
    return f"{event.feature!r} {'ON' if event.enabled else 'OFF'}" + (
        f" ({event.reason})" if event.reason else ""
    )


@gate.requires("backend", fallback=lambda note: f"saved {note!r} locally (offline mode)")
def sync(note: str) -> str:
    return f"synced {note!r} with the backend"


class Backend(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"pong")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def main() -> None:
    (data / "key.bin").write_bytes(b"\x00" * 32)
    init_database(data / "app.db")

    print("Starting; the backend is not running yet:")
    report = health.run()
    print(report.render())
    print(f"  -> {sync('meeting notes')}")

    print("\nThe backend comes up:")
    server = HTTPServer(("127.0.0.1", port), Backend)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    report = health.run()
    print(report.render())
    print(f"  -> {sync('meeting notes')}")

    print("\nThe disk mangles the database (database disk image is malformed):")
    with (data / "app.db").open("r+b") as f:
        f.write(b"\xff" * 100)  # the header
    report = health.run()  # the database turns ERROR: its repair starts in the background
    print(report.render())
    for future in recovery.running().values():
        incident = future.result(timeout=30)
        print(f"  recovery: {incident.resolution.value}; {incident.detail}")
    backups = sorted(p.name for p in data.glob("app.db.*.bak"))
    print(f"  the damaged file is kept as {backups}")
    report = health.run()
    print(report.render())
    if report.components["database"].status is not ComponentStatus.OK or not backups:
        raise SystemExit("the database was not repaired")

    print("\nThe encryption key is lost (nothing to recover: fail clearly):")
    (data / "key.bin").unlink()
    report = health.run()
    print(report.render())
    print(f"  HTTP status for the readiness probe: {report.http_status}")

    server.shutdown()
    health.close()
    shutil.rmtree(data)


if __name__ == "__main__":
    main()
