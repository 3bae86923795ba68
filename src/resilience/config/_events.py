"""What a live configuration reports: a reload applied, or a reload refused."""

from __future__ import annotations

from dataclasses import dataclass

from resilience._core.events import INFO, WARNING, Event

__all__ = ["ConfigReloaded", "ReloadRefused"]


@dataclass(frozen=True, slots=True)
class ConfigReloaded(Event):
    """A new configuration is in force; ``changed`` names the remotes whose settings changed."""

    source: str
    """The file (or ``"<mapping>"``) it was read from."""
    changed: tuple[str, ...]

    event_name = "config.reloaded"
    level = INFO

    def describe(self) -> str:
        """``configuration reloaded from app.toml; changed: s3, billing``."""
        changed = ", ".join(self.changed) if self.changed else "no remote"
        return f"configuration reloaded from {self.source}; changed: {changed}"

    def fields(self) -> dict[str, object]:
        """The source and the changed remotes."""
        return {"event": self.event_name, "source": self.source, "changed": list(self.changed)}


@dataclass(frozen=True, slots=True)
class ReloadRefused(Event):
    """A new configuration could not be used: the one in force stays, unchanged."""

    source: str
    reason: str
    """Every problem, one per line, each naming where (file and line) and the field."""

    event_name = "config.reload_refused"
    level = WARNING

    def describe(self) -> str:
        """``reload of app.toml refused, the configuration in force stays: <reason>``."""
        return (
            f"reload of {self.source} refused, the configuration in force stays: "
            f"{self.reason.replace(chr(10), '; ')}"
        )
