"""LoadShedding's set of down components, proven against a plain model by a state machine."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from resilience import CheckResult, ComponentStatus, HealthRegistry
from resilience.contrib.starlette import LoadShedding

CRITICAL = {"db": True, "queue": True, "cache": False}
STATUSES = [ComponentStatus.OK, ComponentStatus.WARNING, ComponentStatus.ERROR]


async def _inner(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def status_of(app: LoadShedding, path: str) -> int:
    """One HTTP request through the ASGI middleware; the status it answered."""
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app({"type": "http", "path": path, "method": "GET"}, receive, send))
    return int(sent[0]["status"])


class SheddingMachine(RuleBasedStateMachine):
    """Components change and are checked; the middleware sheds exactly when the model does."""

    chosen: frozenset[str] | None = None

    def __init__(self) -> None:
        super().__init__()
        self.health = HealthRegistry(default_timeout=2)
        self.now = dict.fromkeys(CRITICAL, ComponentStatus.OK)  # what each check will say
        self.checked: dict[str, ComponentStatus] = {}  # the model: the latest results
        for name, critical in CRITICAL.items():
            self.health.register(name, self._check(name), critical=critical)
        self.app = LoadShedding(_inner, health=self.health, components=self.chosen)

    def _check(self, name: str) -> Any:
        return lambda: CheckResult(self.now[name])

    def _counts(self, name: str) -> bool:
        return CRITICAL[name] if self.chosen is None else name in self.chosen

    def expected(self) -> frozenset[str]:
        return frozenset(
            n for n, s in self.checked.items() if s is ComponentStatus.ERROR and self._counts(n)
        )

    @rule(name=st.sampled_from(sorted(CRITICAL)), status=st.sampled_from(STATUSES))
    def change(self, name: str, status: ComponentStatus) -> None:
        self.now[name] = status

    @rule()
    def run_all(self) -> None:
        self.health.run()
        self.checked.update(self.now)

    @rule(name=st.sampled_from(sorted(CRITICAL)))
    def recheck_one(self, name: str) -> None:
        self.health.recheck(name)
        self.checked[name] = self.now[name]

    @rule(path=st.sampled_from(["/orders", "/readyz", "/livez"]))
    def request(self, path: str) -> None:
        shed = bool(self.expected()) and path == "/orders"
        assert status_of(self.app, path) == (503 if shed else 200)

    @invariant()
    def down_matches_the_model(self) -> None:
        assert self.app.down == self.expected()

    def teardown(self) -> None:
        self.health.close()


class ChosenMachine(SheddingMachine):
    """The same, with components= naming a non-critical component and leaving a critical out."""

    chosen = frozenset({"cache", "db"})


TestShedding = SheddingMachine.TestCase
TestShedding.settings = settings(max_examples=30, stateful_step_count=20, deadline=None)
TestChosen = ChosenMachine.TestCase
TestChosen.settings = settings(max_examples=30, stateful_step_count=20, deadline=None)
