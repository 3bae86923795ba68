"""Django: health views, the RESILIENCE setting and resilience_status, in a real Django."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import django  # type: ignore[import-untyped]
import pytest
from django.conf import settings as django_settings  # type: ignore[import-untyped]
from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped]
from django.core.management import CommandError, call_command  # type: ignore[import-untyped]
from django.test import Client, override_settings  # type: ignore[import-untyped]

from probe_world import TOKEN, check_probes, make_health, wsgiref_serving
from resilience import BreakerRegistry, HealthRegistry
from resilience.contrib.django.conf import settings as resilience_settings

HEALTH = make_health()
"""The registry the setting names by its dotted path (this module is ``test_contrib_django``)."""


SETTING = {"HEALTH": "test_contrib_django.HEALTH", "TOKEN": TOKEN}


@pytest.fixture(scope="module", autouse=True)
def configured() -> None:
    if not django_settings.configured:  # once per process, whoever comes first
        django_settings.configure(
            DEBUG=False,
            SECRET_KEY="tests-only",  # noqa: S106 - a loopback test server
            ALLOWED_HOSTS=["*"],
            INSTALLED_APPS=["resilience.contrib.django"],
            ROOT_URLCONF="resilience.contrib.django.urls",
            MIDDLEWARE=[],
            DATABASES={},
            RESILIENCE=SETTING,
        )
        django.setup()


@pytest.fixture(autouse=True)
def setting(configured: None) -> Iterator[None]:
    """Each test starts from this module's setting, whoever configured Django."""
    with override_settings(RESILIENCE=SETTING, ROOT_URLCONF="resilience.contrib.django.urls"):
        yield


def client_fetch(client: Client) -> Any:
    def fetch(url: str, token: str | None) -> tuple[int, dict[str, str], dict[str, Any]]:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        response = client.get(url, headers=headers)
        return (
            response.status_code,
            {k.lower(): v for k, v in response.headers.items()},
            response.json(),
        )

    return fetch


def test_views_in_djangos_test_client() -> None:
    """The views answer like the registry's WSGI app, through Django's test client."""
    client = Client()
    check_probes("", token=TOKEN, fetch=client_fetch(client))
    assert client.post("/health").status_code == 405


def test_views_under_a_real_wsgi_server() -> None:
    """Django's WSGI application, served by wsgiref over loopback, answers the probes."""
    from django.core.wsgi import get_wsgi_application  # type: ignore[import-untyped]  # noqa: PLC0415

    with wsgiref_serving(get_wsgi_application()) as base:
        check_probes(base, token=TOKEN)


@pytest.fixture
def healthy() -> Iterator[HealthRegistry]:
    registry = HealthRegistry(default_timeout=2)
    registry.register("database", lambda: True)
    yield registry
    registry.close()


def test_status_command_exits_0_when_healthy_and_lists_breakers(healthy: HealthRegistry) -> None:
    """resilience_status prints the report and the breakers, and returns normally when healthy."""
    breakers = BreakerRegistry()
    breakers.get("payments").force_open()
    out = io.StringIO()
    with override_settings(RESILIENCE={"HEALTH": healthy, "BREAKERS": breakers}):
        call_command("resilience_status", stdout=out)
    text = out.getvalue()
    assert "health: HEALTHY" in text
    assert "payments  FORCED_OPEN" in text


def test_status_command_fails_with_1_when_critical() -> None:
    """With a failing critical check the command raises CommandError with return code 1."""
    out = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("resilience_status", "--json", stdout=out)
    assert caught.value.returncode == 1
    assert "CRITICAL" in str(caught.value)
    assert '"status": "fail"' in out.getvalue()


def test_status_command_by_group() -> None:
    """--group readiness runs only that group: the failing batch export is left out."""
    out = io.StringIO()
    with pytest.raises(CommandError, match="DEGRADED"):  # the backend is down, not critical
        call_command("resilience_status", "--group", "readiness", stdout=out)
    assert "nightly-export" not in out.getvalue()
    assert "backend" in out.getvalue()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (None, "must be a dict"),
        ({}, "HEALTH"),
        ({"HEALTH": "no.such.module.registry"}, "HEALTH: cannot import"),
        ({"HEALTH": 3}, "HEALTH must be a HealthRegistry"),
        ({"HEALTH": HEALTH, "BREAKERS": HEALTH}, "BREAKERS must be a BreakerRegistry"),
        ({"HEALTH": HEALTH, "SHOW_DETAILS": "yes"}, "SHOW_DETAILS"),
        ({"HEALTH": HEALTH, "TOKNE": "x"}, "TOKNE"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(setting: object, message: str) -> None:
    """A wrong RESILIENCE setting is ImproperlyConfigured, naming the field at fault."""
    with override_settings(RESILIENCE=setting), pytest.raises(ImproperlyConfigured) as caught:
        resilience_settings()
    assert message in str(caught.value)
    resilience_settings()  # the setting restored is read again
