"""The Django application of the integration: checks the ``RESILIENCE`` setting at startup."""

from __future__ import annotations

from resilience._core.extras import missing

try:
    from django.apps import AppConfig  # type: ignore[import-untyped]
except ImportError as _exc:  # pragma: no cover - the extra is installed in tests
    raise missing("django", "Django") from _exc


class ResilienceConfig(AppConfig):  # type: ignore[misc]
    """``resilience.contrib.django`` in ``INSTALLED_APPS``."""

    name = "resilience.contrib.django"
    label = "resilience"
    verbose_name = "resilience"

    def ready(self) -> None:
        """Validate the ``RESILIENCE`` setting now, not on the first probe."""
        from resilience.contrib.django.conf import settings  # noqa: PLC0415 - needs the app registry

        settings()
