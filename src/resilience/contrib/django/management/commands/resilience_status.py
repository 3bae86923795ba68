"""``manage.py resilience_status``: the checks and breakers now; exit 0 healthy, 1 not."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser  # type: ignore[import-untyped]

from resilience.contrib.django.conf import settings
from resilience.health import HealthStatus


class Command(BaseCommand):  # type: ignore[misc]
    """Run the health checks of ``settings.RESILIENCE`` and print them, with the breakers."""

    help = (
        "Run the health checks of settings.RESILIENCE and print them with the breakers' "
        "states; exits 0 when healthy, 1 when degraded or critical."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """``--group`` selects a probe group; ``--json`` prints the IETF health JSON."""
        parser.add_argument("--group", help="run only the checks of this group (e.g. readiness)")
        parser.add_argument("--json", action="store_true", help="print the health as JSON")

    def handle(self, *args: object, **options: Any) -> None:  # noqa: ANN401 - Django's options
        """Run the checks, print the report, and fail when not healthy."""
        config = settings()
        report = config.health.run(options["group"])
        if options["json"]:
            self.stdout.write(json.dumps(report.to_dict(details=True), indent=2))
        else:
            self.stdout.write(report.render())
            if config.breakers is not None:
                self.stdout.write("breakers:")
                for name, snap in sorted(config.breakers.snapshot().items()):
                    reason = f"  {snap.reason}" if snap.reason else ""
                    self.stdout.write(f"  {name}  {snap.state.name}{reason}")
        if report.status is not HealthStatus.HEALTHY:
            raise CommandError(f"health is {report.status.name}", returncode=1)
