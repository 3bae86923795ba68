"""A Flask app with the probes as a blueprint, served by a real WSGI server on loopback.

The search backend is down (not critical): ``/readyz`` is 200 with status "warn". The
inventory remote's circuit is forced open: its view's CircuitOpenError becomes a 503.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request

from flask import Flask
from werkzeug.serving import make_server

from resilience import BreakerRegistry, HealthRegistry
from resilience.contrib.flask import health_blueprint

health = HealthRegistry(default_timeout=2)
health.register("database", lambda: True)
health.register("search", lambda: False, critical=False)
breakers = BreakerRegistry()

app = Flask("shop")
app.register_blueprint(health_blueprint(health, show_details=True))


@app.get("/stock")
def stock() -> dict[str, int]:
    return breakers.get("inventory").call(lambda: {"widgets": 7})


def get(url: str) -> tuple[int, dict[str, object], str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read()), ""
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers.get("Retry-After", "")


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log on stderr
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        status, body, _ = get(f"{base}/readyz")
        print(f"GET /readyz -> {status} {body['status']}")
        print(f"GET /stock -> {get(f'{base}/stock')[:2]}")
        breakers.get("inventory").force_open()
        status, body, retry_after = get(f"{base}/stock")
        print(f"inventory forced open: GET /stock -> {status} {body} Retry-After: {retry_after}")
        if status != 503:
            raise SystemExit("the open circuit was not answered 503")
    finally:
        server.shutdown()
        thread.join(10)
        health.close()


if __name__ == "__main__":
    main()
