"""A FastAPI service under uvicorn: probes as routes, load shedding, breaker guards.

The database check fails halfway through: while it is down every route but the probes
answers 503 with Retry-After, and ``/readyz`` says why. The payments remote refuses
connections, so its circuit opens and ``/pay`` answers 503 before doing any work.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Annotated

import httpx
import uvicorn
from fastapi import Depends, FastAPI

from resilience import (
    BreakerConfig,
    BreakerRegistry,
    CircuitBreaker,
    CircuitOpenError,
    HealthRegistry,
)
from resilience.contrib.fastapi import LoadShedding, circuit_open_response, guard, health_routes

database = {"up": True}
health = HealthRegistry(default_timeout=2)
health.register("database", lambda: database["up"])
breakers = BreakerRegistry(BreakerConfig(failure_threshold=2, open_for=20))

app = FastAPI()
app.router.routes.extend(health_routes(health))
app.add_middleware(LoadShedding, health=health, retry_after=3)
app.add_exception_handler(CircuitOpenError, circuit_open_response)

Payments = Annotated[CircuitBreaker, Depends(guard(breakers, "payments"))]


def charge() -> str:
    raise ConnectionRefusedError("payments refused the connection")


@app.get("/pay")
def pay(breaker: Payments) -> dict[str, str]:
    try:
        return {"payment": breaker.call(charge)}
    except ConnectionRefusedError:
        return {"payment": "declined, try later"}


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"not as documented: {what}")


def main() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        with httpx.Client(base_url=base, timeout=5) as client:
            for _ in range(3):
                response = client.get("/pay")
                print(f"GET /pay -> {response.status_code} {response.json()}")
            expect(response.status_code == 503, "the open circuit answers 503")
            print(f"  Retry-After: {response.headers['retry-after']}")

            database["up"] = False
            health.run()  # a HealthMonitor runs the checks in production
            response = client.get("/pay")
            print(f"database down: GET /pay -> {response.status_code} {response.json()}")
            expect(response.json()["down"] == ["database"], "the database sheds load")
            ready = client.get("/readyz")
            print(f"GET /readyz -> {ready.status_code} {ready.json()['status']}")
            expect(ready.status_code == 503, "readiness fails")
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        health.close()


if __name__ == "__main__":
    main()
