"""A Django project in one file: health views, the RESILIENCE setting, resilience_status.

Django's own WSGI application is served by wsgiref on loopback; the probes answer over
HTTP, then ``manage.py resilience_status`` runs (as ``call_command``) and fails with 1
once the database check fails.
"""

from __future__ import annotations

import io
import json
import threading
import urllib.error
import urllib.request
from wsgiref.simple_server import WSGIRequestHandler, make_server

import django
from django.conf import settings

from resilience import BreakerRegistry, HealthRegistry

database = {"up": True}
HEALTH = HealthRegistry(default_timeout=2)
HEALTH.register("database", lambda: database["up"])
BREAKERS = BreakerRegistry()

settings.configure(
    DEBUG=False,
    SECRET_KEY="example-only",  # noqa: S106
    ALLOWED_HOSTS=["127.0.0.1"],
    INSTALLED_APPS=["resilience.contrib.django"],
    # a project's urls.py: path("", include("resilience.contrib.django.urls"))
    ROOT_URLCONF="resilience.contrib.django.urls",
    DATABASES={},
    RESILIENCE={"HEALTH": HEALTH, "BREAKERS": BREAKERS, "SHOW_DETAILS": True},
)
django.setup()

from django.core.management import CommandError, call_command  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402


class Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def main() -> None:
    server = make_server("127.0.0.1", 0, get_wsgi_application(), handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        print(f"GET /livez -> {get(f'{base}/livez')}")
        status, body = get(f"{base}/readyz")
        print(f"GET /readyz -> {status} {body['status']}")
        BREAKERS.get("payments")
        out = io.StringIO()
        call_command("resilience_status", stdout=out)
        print(f"manage.py resilience_status (exit 0):\n{out.getvalue()}")

        database["up"] = False
        status, body = get(f"{base}/readyz")
        print(f"database down: GET /readyz -> {status} {body['status']}")
        try:
            call_command("resilience_status", stdout=io.StringIO())
        except CommandError as exc:
            print(f"manage.py resilience_status -> exit {exc.returncode}: {exc}")
        else:
            raise SystemExit("resilience_status should have failed")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
        HEALTH.close()


if __name__ == "__main__":
    main()
