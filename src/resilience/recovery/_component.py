"""A component registered for recovery: its configuration, actions and record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field, field_validator

from resilience._core.options import Options, Seconds
from resilience.recovery._budget import BudgetRecord
from resilience.recovery._incidents import Severity
from resilience.recovery._stages import Stage

__all__ = ["Component", "ComponentConfig"]


class ComponentConfig(Options):
    """How one component is recovered, validated once at registration."""

    name: str = Field(min_length=1)
    severity: Severity
    stages: tuple[Stage, ...] | None = Field(min_length=1)
    timeout: Seconds | None = Field(gt=0)

    @field_validator("severity", mode="before")
    @classmethod
    def _severity(cls, value: Any) -> Severity:  # noqa: ANN401 - parsed here
        return Severity.parse(value)


@dataclass(eq=False)
class Component:
    """A registered component; its state is guarded by the manager's lock."""

    config: ComponentConfig
    actions: tuple[Callable[[], object], ...]
    verify: Callable[[], object] | None
    suspended: bool = False
    budget: BudgetRecord = field(default_factory=BudgetRecord)
