"""The public API as a user writes it, for the type checker only: never run, never collected.

``mypy --strict src tests`` checks this file. ``assert_type`` proves what a form returns
(decorators keep the decorated function's signature); each ``# type: ignore[code]`` marks
a misuse the annotations forbid, and ``warn_unused_ignores`` (part of ``--strict``) fails
the check if mypy ever stops reporting it.
"""

# ``deprecated`` is off by default; on here, so that the overload that marks
# ``call(async_fn)`` as a misuse is proven to be reported.
# mypy: enable-error-code="deprecated"

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from datetime import timedelta
from pathlib import Path
from typing import Any, assert_type

import httpx
from starlette.applications import Starlette

import resilience
from resilience import (
    AIMD,
    AdaptiveLimiter,
    AlternateRemote,
    Attempt,
    Attempts,
    Backoff,
    BatchProcessor,
    BatchResult,
    BreakerConfig,
    BreakerRegistry,
    BreakerSnapshot,
    Bulkhead,
    BulkheadConfig,
    BulkheadFullError,
    BulkheadRejected,
    CachedFallback,
    CachedResultServed,
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    Classification,
    Classifier,
    Event,
    FailureKind,
    Fallback,
    Gradient2,
    Hedge,
    HedgeStarted,
    HedgeWon,
    LimitChanged,
    LimiterRejected,
    LimitExceededError,
    Measurement,
    Pipeline,
    RejectedError,
    RemoteBreakers,
    Remotes,
    RemoteUnavailableError,
    Replace,
    Resilient,
    RetryBudget,
    RetryPolicy,
    RetryResultError,
    RetryScheduled,
    Strategy,
    Timeout,
    config,
    resilient,
    retry_on_status,
)
from resilience.batch import CheckpointStore, ItemKey, ItemRecord, MemoryCheckpointStore
from resilience.chaos import ChaosInjected, ChaosSwitch, InjectFault, InjectLatency, InjectResult
from resilience.contrib.aiohttp import ResilientMiddleware
from resilience.contrib.grpc import AsyncResilientInterceptor, ResilientInterceptor
from resilience.contrib.httpx import AsyncResilientTransport, ResilientTransport
from resilience.contrib.logging import JSONFormatter
from resilience.contrib.otel import OTelSpans
from resilience.contrib.requests import ResilientAdapter
from resilience.contrib.starlette import LoadShedding, guard, health_routes
from resilience.contrib.structlog import StructlogListener
from resilience.health import (
    CheckResult,
    ComponentStatus,
    FeatureGate,
    HealthMonitor,
    HealthRegistry,
    HealthReport,
    HealthStatus,
)
from resilience.recovery import (
    Breach,
    CallbackNotifier,
    EmailNotifier,
    EntryKind,
    EscalationPolicy,
    EscalationTier,
    Incident,
    IncidentError,
    IncidentPolicy,
    IncidentState,
    IncidentTracker,
    LoggingNotifier,
    MemoryIncidentStore,
    MutableIncidentStore,
    NotifierRecord,
    PagerDutyNotifier,
    RecoveryManager,
    RecoveryStats,
    RestartBudget,
    Router,
    RoutingMatrix,
    Severity,
    SeverityTargets,
    SlackNotifier,
    Stage,
    Target,
    Targets,
    TelegramNotifier,
    TimelineEntry,
    UnknownIncidentError,
    WebhookNotifier,
)
from resilience.stores import (
    PostgresCheckpointStore,
    PostgresIncidentStore,
    RedisBreakerStore,
    RedisCheckpointStore,
    RedisRetryBudget,
    SQLiteCheckpointStore,
    SQLiteIncidentStore,
)
from resilience.testing import FakeClock, set_testing

# ------------------------------------------------------------------ the calls we protect


def fetch(bucket: str, key: str, *, version: int = 0) -> bytes:
    """A sync call to a remote."""
    return f"{bucket}/{key}@{version}".encode()


async def afetch(bucket: str, key: str, *, version: int = 0) -> bytes:
    """The same call, async."""
    await asyncio.sleep(0)
    return f"{bucket}/{key}@{version}".encode()


def cached(exc: BaseException, bucket: str, key: str, *, version: int = 0) -> bytes:
    """A fallback: called with the final error and the call's arguments."""
    return b""


clock = FakeClock(start=10.0)

# ------------------------------------------------------------------------ configuration


def configuration_forms(path: Path) -> bytes:
    """A configuration loaded from a file or a mapping, its builders, and reloads."""
    events: list[object] = []
    settings = config.load(path, env={}, clock=clock, listeners=[events.append])
    assert_type(settings, config.Configuration)
    assert_type(settings.registry, BreakerRegistry)
    assert_type(settings.breaker("s3"), BreakerConfig)
    assert_type(settings.retry("s3"), RetryPolicy | None)
    assert_type(settings.reload(), bool)
    assert_type(settings.poll(), bool | None)
    assert_type(settings.health(), HealthRegistry)
    assert_type(settings.recovery(), RecoveryManager)
    settings.registry.reconfigure(BreakerConfig(failure_threshold=2), overrides={})
    settings.registry.get("s3").reconfigure(BreakerConfig(open_for=5))
    assert_type(config.load({"remotes": {"s3": {}}}).reload({"remotes": {"s3": {}}}), bool)
    try:
        config.load("missing.toml")
    except config.ConfigError as exc:
        assert_type(exc.problems, tuple[str, ...])
    live = settings.live("s3")
    assert_type(live, config.LivePolicy)
    assert_type(live.call(fetch, "b", "k", version=1), bytes)
    assert_type(live(fetch)("b", "k"), bytes)
    return settings.policy("s3").call(fetch, "b", "k")


def configuration_sections() -> None:
    """The sections of the limits and of fault injection, as models and as the table."""
    assert_type(config.RateLimitConfig(rate=5, per=1, burst=5).rate, float)
    assert_type(config.HedgeConfig(delay=0.05, max_hedges=2).max_hedges, int)
    aimd = config.AIMDLimiterConfig(initial_limit=4)
    gradient = config.Gradient2LimiterConfig(algorithm="gradient2", smoothing=0.5)
    assert_type(aimd.backoff_ratio, float)
    assert_type(gradient.smoothing, float)
    assert_type(config.ChaosConfig(fault="timeout", rate=0.1).enabled, bool)
    limiter: config.LimiterConfig = gradient
    assert isinstance(limiter, Gradient2)
    section = config.SECTIONS["bulkhead"]
    assert_type(section, config.Section)
    settings = config.load({"remotes": {"s3": {"bulkhead": {"max_concurrent": 2}}}}, env={})
    assert_type(settings.policy("s3").strategies, tuple[Strategy, ...])
    assert_type(config.RateLimitConfig(rate=5, shared=True).shared, bool)
    settings.close()


def misuse_config_reload() -> None:
    """reload() takes a mapping, not a number."""
    config.load({"remotes": {"s3": {}}}).reload(3)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- circuit breaker


def breaker_forms() -> None:
    """Decorator, call(), with-block and snapshot of a breaker."""
    breaker = CircuitBreaker("s3", BreakerConfig(failure_threshold=3, open_for=30), clock=clock)
    protected = breaker(fetch)
    assert_type(protected("b", "k", version=2), bytes)
    assert_type(breaker.call(fetch, "b", "k", version=1), bytes)
    with breaker:
        fetch("b", "k")
    assert_type(breaker.state, CircuitState)
    assert_type(breaker.snapshot(), BreakerSnapshot)
    breaker.add_listener(print)
    try:
        breaker.call(fetch, "b", "k")
    except CircuitOpenError as exc:
        assert_type(exc.retry_after, float | None)


async def async_breaker_forms() -> None:
    """The async forms of a breaker: decorator, acall() and async with."""
    breaker = CircuitBreaker("s3")
    protected = breaker(afetch)
    assert_type(await protected("b", "k", version=2), bytes)
    assert_type(await breaker.acall(afetch, "b", "k"), bytes)
    async with breaker:
        await afetch("b", "k")


def registry_forms() -> None:
    """A registry of breakers per remote, and protect() by name or from the arguments."""
    registry = BreakerRegistry(
        BreakerConfig(failure_rate=0.5, window=20),
        overrides={"s3-*": BreakerConfig(open_for=60)},
        clock=clock,
        max_breakers=100,
    )
    assert_type(registry.get("s3-eu"), CircuitBreaker)
    by_name = registry.protect("s3-eu")
    assert_type(by_name, RemoteBreakers)
    assert_type(by_name(fetch)("b", "k"), bytes)
    by_bucket = registry.protect(lambda bucket, *_, **__: bucket)
    assert_type(by_bucket.call(fetch, "b", "k"), bytes)
    for breaker in registry:
        assert_type(breaker, CircuitBreaker)
    assert_type(registry.snapshot(), dict[str, BreakerSnapshot])


# ------------------------------------------------------------------------------ retries


def retry_forms() -> bytes:
    """Decorator, call() and iteration of a retry policy; timedelta durations."""
    policy = RetryPolicy(
        attempts=4,
        backoff=Backoff(initial=0.2, max=5, jitter="equal"),
        deadline=timedelta(seconds=30),
        max_retry_after=timedelta(minutes=1),
        wait_for_open_circuit=timedelta(seconds=2),
        budget=RetryBudget(ratio=0.1, clock=clock),
        clock=clock,
        on_retry=lambda event: assert_type(event, RetryScheduled),
    )
    assert_type(policy.replace(attempts=5), RetryPolicy)
    assert_type(policy(fetch)("b", "k"), bytes)
    assert_type(policy.call(fetch, "b", "k", version=3), bytes)
    assert_type(policy.attempts(fetch, "b", "k"), Attempts)
    for attempt in policy:
        assert_type(attempt, Attempt)
        assert_type(attempt.number, int)
        with attempt:
            return fetch("b", "k")
    raise AssertionError  # the last failure propagates out of the loop


async def async_retry_forms() -> bytes:
    """The async forms of a retry policy: decorator, acall() and async for."""
    policy = RetryPolicy(attempts=3)
    assert_type(await policy(afetch)("b", "k"), bytes)
    assert_type(await policy.acall(afetch, "b", "k"), bytes)
    async for attempt in policy:
        with attempt:
            return await afetch("b", "k")
    raise AssertionError


def result_retries() -> httpx.Response:
    """retry_on_result: a predicate on the value, or retry_on_status for responses."""
    none = RetryPolicy(retry_on_result=lambda value: value is None, clock=clock)
    assert_type(none.call(fetch, "b", "k"), bytes)
    http = RetryPolicy(retry_on_result=retry_on_status(503, 429), clock=clock)
    try:
        return http.call(httpx.get, "http://127.0.0.1/")
    except RetryResultError as gave_up:
        assert_type(gave_up.attempts, int)
        assert_type(gave_up.result, object)
        for attempt in http:
            with attempt:
                attempt.set_result(httpx.get("http://127.0.0.1/"))
        raise


def misuse_retry_on_result() -> None:
    """retry_on_result takes a predicate, not a status."""
    RetryPolicy(retry_on_result=503)  # type: ignore[arg-type]


def partial_retries() -> None:
    """partial(): a multi-item call whose failed items alone are retried."""

    def upload(paths: list[str], *, bucket: str) -> dict[str, int]:
        return dict.fromkeys(paths, 0)

    assert_type(RetryPolicy().partial(upload)(["a", "b"], bucket="x"), dict[str, int])


# -------------------------------------------------------------------------- composition


def composition() -> None:
    """resilient(...) and Pipeline(...) keep the signature of what they wrap."""
    registry = BreakerRegistry(clock=clock)
    policy = resilient(
        lambda bucket, *_, **__: bucket,
        retry=RetryPolicy(attempts=3, clock=clock),
        breaker=registry,
        timeout=timedelta(seconds=2),
        fallback=cached,
        classifier=Classifier.default(),
        clock=clock,
    )
    assert_type(policy, Resilient)
    assert_type(policy(fetch)("b", "k"), bytes)
    assert_type(policy.call(fetch, "b", "k"), bytes)
    pipeline = Pipeline(
        Fallback(cached),
        RetryPolicy(attempts=2, clock=clock),
        CircuitBreaker("db", clock=clock),
        Timeout(timedelta(milliseconds=500), clock=clock),
    )
    assert_type(pipeline(fetch)("b", "k", version=1), bytes)
    assert_type(pipeline.call(fetch, "b", "k"), bytes)
    with pipeline:
        fetch("b", "k")


def fallbacks() -> None:
    """CachedFallback and AlternateRemote: alone, in resilient(), per remote."""
    cache = CachedFallback(
        name="listing",
        key=lambda bucket, *_, **__: bucket,
        max_entries=100,
        max_age=timedelta(minutes=5),
        clock=clock,
        on_served=lambda event: assert_type(event, CachedResultServed),
    )
    assert_type(cache(fetch)("b", "k"), bytes)
    assert_type(cache.call(fetch, "b", "k"), bytes)
    assert_type(cache.measurements()[0].healthy, bool)
    registry = BreakerRegistry(clock=clock)
    alternate = AlternateRemote({"b": ["b-mirror"]}, remote="bucket", breakers=registry)
    assert_type(alternate.call(fetch, "b", "k"), bytes)
    policy = resilient(
        lambda bucket, *_, **__: bucket,
        breaker=registry,
        fallback=[cache, alternate],
    )
    assert_type(policy(fetch)("b", "k"), bytes)
    per_remote = resilient(
        lambda bucket, *_, **__: bucket,
        fallback=Remotes(lambda name: CachedFallback(name=name)),
    )
    assert_type(per_remote.call(fetch, "b", "k"), bytes)
    try:
        alternate.call(fetch, "b", "k")
    except RemoteUnavailableError as unavailable:
        assert_type(unavailable.retry_after, float | None)
        assert_type(unavailable.tried, tuple[tuple[str, str], ...])


async def async_composition() -> None:
    """The async forms of resilient(...) and Pipeline(...)."""
    policy = resilient(retry=RetryPolicy(), breaker=CircuitBreaker("db"), timeout=1.5)
    assert_type(await policy(afetch)("b", "k"), bytes)
    assert_type(await policy.acall(afetch, "b", "k"), bytes)
    pipeline = Pipeline(RetryPolicy(), Timeout(2))
    assert_type(await pipeline.acall(afetch, "b", "k"), bytes)
    async with pipeline:
        await afetch("b", "k")


async def hedging_and_chaos() -> None:
    """Hedge (async only) and the chaos strategies, alone and in resilient(...)."""
    seen: list[HedgeStarted | HedgeWon] = []
    hedge = Hedge(
        delay=timedelta(milliseconds=50),
        max_hedges=2,
        percentile=95,
        window=100,
        min_samples=10,
        name="search",
        on_hedge=seen.append,
    )
    assert_type(await hedge(afetch)("b", "k", version=2), bytes)
    assert_type(await hedge.acall(afetch, "b", "k"), bytes)
    assert_type(hedge.delay, float)
    assert_type(hedge.idle, bool)
    assert_type(hedge.measurements(), list[Measurement])
    injected: list[ChaosInjected] = []
    drill = ChaosSwitch("drill", enabled=False)
    drill.enable()
    assert_type(drill.enabled, bool)
    fault = InjectFault(ConnectionError, rate=0.1, switch=drill, seed=1, on_inject=injected.append)
    slow = InjectLatency(timedelta(seconds=1), rate=0.5, switch=lambda: True)
    stale = InjectResult(b"", rate=0.5, switch=False)
    assert_type(fault(fetch)("b", "k"), bytes)
    assert_type(await stale(afetch)("b", "k"), bytes)
    assert_type(slow.call(fetch, "b", "k"), bytes)
    policy = resilient(retry=RetryPolicy(), hedge=hedge, timeout=1, chaos=fault)
    assert_type(await policy.acall(afetch, "b", "k"), bytes)
    assert_type(fault.injected, int)


class Deny:
    """A strategy of the user's own: refuses every other attempt, replaces a failure."""

    def __init__(self) -> None:
        self.attempts = 0

    def before(
        self, fn: Callable[..., Any] | None, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> int:
        self.attempts += 1
        if self.attempts % 2 == 0:
            raise RejectedError("every other attempt is refused")
        return self.attempts

    def after(self, token: int, value: object, error: BaseException | None) -> Replace | None:
        return Replace(b"") if error is not None else None


def custom_strategy() -> None:
    """A strategy of one's own is a Strategy, and composes like the built-in ones."""
    deny = Deny()
    assert_type(isinstance(deny, Strategy), bool)
    pipeline = Pipeline(RetryPolicy(attempts=2), deny)
    assert_type(pipeline.strategies, tuple[Strategy, ...])
    assert_type(pipeline(fetch)("b", "k"), bytes)


def classification() -> None:
    """A classifier tells retryable failures from permanent ones."""
    classifier = Classifier.default().with_rule(KeyError, FailureKind.PERMANENT)
    verdict = classifier.classify(ConnectionError())
    assert_type(verdict, Classification)
    assert_type(verdict.kind, FailureKind)
    assert_type(classifier.classify_status(503), Classification)


# ------------------------------------------------------------------------------ batches


def batches(path: Path) -> None:
    """A checkpointed batch over a durable store, with timedelta durations."""

    def copy(item: str) -> None:
        fetch("b", item)

    processor = BatchProcessor(
        "copy-objects",
        copy,
        store=SQLiteCheckpointStore(path / "jobs.db"),
        checkpoint_every=50,
        checkpoint_seconds=timedelta(seconds=5),
        retry=RetryPolicy(attempts=3),
        breaker=BreakerRegistry(),
        remote=lambda _item: "s3",
        lease=timedelta(minutes=2),
        clock=clock,
    )
    result = processor.run(["a", "b"])
    assert_type(result, BatchResult)
    assert_type(result.summary(), str)
    assert_type(processor.records(), dict[ItemKey, ItemRecord])
    store: CheckpointStore = MemoryCheckpointStore()
    BatchProcessor("in-memory", copy, store=store, key=str.casefold)


async def async_batches() -> None:
    """An async batch run."""

    async def copy(item: str) -> None:
        await afetch("b", item)

    assert_type(await BatchProcessor("copy", copy).arun(["a"]), BatchResult)


# --------------------------------------------------------------------- health, recovery


def health_checks() -> HealthReport:
    """Checks registered on a health registry, run into one report; a monitor and a gate."""
    health = HealthRegistry(clock=clock, default_timeout=timedelta(seconds=3))

    @health.check("db", ttl=timedelta(seconds=10), failure_ttl=2)
    def database() -> bool:
        return True

    health.check("disk", critical="no")  # type: ignore[arg-type]
    health.check("disk", critcal=False)  # type: ignore[call-arg]

    async def cache() -> CheckResult:
        return CheckResult(status=ComponentStatus.WARNING, message="slow")

    health.register("cache", cache, critical=False, timeout=timedelta(milliseconds=300))
    health.add_breakers(BreakerRegistry())
    monitor = health.monitor(interval=timedelta(seconds=30), critical_interval=5)
    assert_type(monitor, HealthMonitor)
    gate = FeatureGate(health)
    gate.feature("search", requires=["db"])
    assert_type(gate.enabled("search"), bool)
    guarded = gate.requires("db", fallback=cached)(fetch)
    assert_type(guarded("b", "k"), bytes)
    report = health.run()
    assert_type(report.status, HealthStatus)
    assert_type(report.http_status, int)
    return report


async def async_health_checks(health: HealthRegistry) -> HealthReport:
    """The async run of a health registry."""
    return await health.arun("readiness", critical_only=True)


async def recovery(path: Path, health: HealthRegistry) -> Incident:
    """Staged recovery with a restart budget, notifiers and an incident store."""
    manager = RecoveryManager(
        stages=[Stage(delay=0, attempts=2, interval=5), Stage(delay=60)],
        budget=RestartBudget(max_recoveries=3, period=600),
        notifiers=[
            LoggingNotifier(logging.getLogger("ops")),
            CallbackNotifier(print, min_severity=Severity.P2),
            WebhookNotifier("https://ops.example/hook", timeout=timedelta(seconds=5)),
        ],
        store=SQLiteIncidentStore(path / "incidents.db"),
        clock=clock,
        notify_timeout=timedelta(seconds=10),
    )

    def restart() -> None:
        """Restart the component."""

    manager.register("api", actions=[restart], severity="P1", timeout=timedelta(minutes=2))
    manager.attach(health)
    assert_type(manager.trigger("api"), Future[Incident])
    assert_type(manager.stats(), Mapping[str, RecoveryStats])
    return await manager.recover("api", reason="health check failed")


async def channels() -> None:
    """The channels, routed by severity; PagerDuty's lifecycle hooks."""
    pagerduty = PagerDutyNotifier("0123456789abcdef0123456789abcdef", timeout=timedelta(seconds=5))
    router = Router(
        {
            "slack": SlackNotifier("https://hooks.slack.com/services/T/B/X"),
            "email": EmailNotifier(
                "smtp.example.com",
                sender="alerts@example.com",
                recipients=["oncall@example.com"],
                username="alerts",
                password="secret",  # noqa: S106
                security="starttls",
            ),
            "telegram": TelegramNotifier("1:abc", chat_id=-100, min_severity="P1"),
            "pagerduty": pagerduty,
        },
        routes={"P2": ["slack", "email"], Severity.P3: ["email"]},
        timeout=10,
    )
    assert_type(router.matrix, RoutingMatrix)
    assert_type(router.matrix.channels_for(Severity.P0), tuple[str, ...])
    incident = await RecoveryManager(notifiers=[router]).recover("api", reason="down")
    assert_type(await router.deliver(incident), tuple[NotifierRecord, ...])
    await pagerduty.acknowledge(incident)
    await pagerduty.resolve(incident)


async def incident_lifecycle(path: Path) -> list[Incident]:
    """Targets, escalation, de-duplication and the operators' acts, over a store."""
    policy = IncidentPolicy(
        targets=Targets(P1=SeverityTargets(response=600, resolution=3600)),
        escalation=EscalationPolicy(
            tiers=(
                EscalationTier(after=0, notifiers=(CallbackNotifier(print),), raise_severity=True),
            )
        ),
        dedup_window=600,
        cooldown=900,
        flapping_threshold=3,
    )
    store: MutableIncidentStore = SQLiteIncidentStore(path / "incidents.db")
    manager = RecoveryManager(store=store, incidents=policy, clock=clock)
    manager.register("db", actions=[lambda: False], severity=Severity.P1)
    incident = await manager.recover("db")
    assert_type(incident.state, IncidentState)
    assert_type(incident.timeline, tuple[TimelineEntry, ...])
    assert_type(incident.breaches, tuple[Breach, ...])
    assert_type(manager.acknowledge(incident.id, by="alice"), Incident)
    assert_type(manager.note(incident.id, by="alice", text="on it"), Incident)
    assert_type(manager.resolve(incident.id, by="alice"), Incident)
    tracker: IncidentTracker = manager.tracker
    tracker.reopen(incident.id, by="alice")
    tracker.raise_severity(incident.id, by="alice", to="P0")
    assert_type(await manager.aacknowledge(incident.id, by="alice"), Incident)
    assert_type(await tracker.aresolve(incident.id, by="alice"), Incident)
    assert_type(await manager.aresolve(tracker.reopen(incident.id, by="b").id, by="b"), Incident)
    assert_type(
        await tracker.aacknowledge(tracker.reopen(incident.id, by="b").id, by="b"), Incident
    )
    assert_type(await tracker.aresolve_open("db", by="recovery", text="ok"), list[Incident])
    assert_type(tracker.breaches(), list[tuple[Incident, Breach]])
    entry = TimelineEntry(tracker.now(), EntryKind.NOTE, "by hand", "alice")
    assert_type(store.append(incident.id, entry), Incident)
    assert_type(Breach(Target.RESPONSE, Severity.P0, 0.0, 1.0).target, Target)
    try:
        IncidentTracker(MemoryIncidentStore()).get("nope")
    except UnknownIncidentError:
        pass
    except IncidentError:
        pass
    PostgresIncidentStore("postgresql://localhost/test", table_prefix="app").close()
    return await manager.check_targets()


# ------------------------------------------------------------------------------- stores


def stores() -> Iterable[object]:
    """The stores' constructors, from resilience.stores and from resilience."""
    breakers = RedisBreakerStore(
        "redis://127.0.0.1:6379/0",
        namespace="app",
        on_error="closed",
        flush_interval=timedelta(milliseconds=50),
        timeout=timedelta(milliseconds=250),
        retry_interval=timedelta(seconds=1),
        ttl=timedelta(days=1),
    )
    BreakerRegistry(store=breakers)
    budget = RedisRetryBudget(
        "redis://127.0.0.1:6379/0",
        name="s3",
        window=timedelta(seconds=10),
        flush_every=timedelta(milliseconds=100),
    )
    RetryPolicy(budget=budget)  # a shared budget is a RetryBudget
    return [
        breakers,
        RedisCheckpointStore("redis://127.0.0.1:6379/0", namespace="jobs"),
        PostgresCheckpointStore("dbname=test host=127.0.0.1", table_prefix="app"),
        SQLiteCheckpointStore("jobs.db", durable=False),
        resilience.RedisCheckpointStore("redis://127.0.0.1:6379/0"),
        resilience.PostgresCheckpointStore("dbname=test"),
    ]


# ------------------------------------------------------------------------ integrations


def http_clients(registry: BreakerRegistry) -> None:
    """httpx clients whose transports retry and break per host."""
    transport = ResilientTransport(retry=RetryPolicy(attempts=3), breakers=registry)
    with httpx.Client(transport=transport) as client:
        assert_type(client.get("https://example.org/"), httpx.Response)
    AsyncResilientTransport(httpx.AsyncHTTPTransport(), retry=None, key=lambda _request: "x")


def more_clients(registry: BreakerRegistry) -> None:
    """requests, aiohttp and gRPC clients with a breaker per host or service."""
    adapter = ResilientAdapter(retry=RetryPolicy(attempts=3), breakers=registry)
    assert_type(adapter.breakers, BreakerRegistry)
    ResilientMiddleware(retry=None, key=lambda request: request.url.host or "")
    ResilientInterceptor(retry_methods={"/pkg.Svc/Get"}, key=lambda method: method)
    AsyncResilientInterceptor(breakers=registry)


def web_and_logs(health: HealthRegistry, breaker: CircuitBreaker) -> None:
    """Probe routes, shedding, guards, and the logging and tracing integrations."""
    routes = health_routes(health, show_details=True, prefix="/ops")
    assert_type(guard(breaker)(), CircuitBreaker)
    LoadShedding(Starlette(routes=routes), health=health, retry_after=2)
    JSONFormatter(extras=["request_id"])
    StructlogListener(min_level=20)
    spans = OTelSpans(name="charge")
    Pipeline(spans.operation, RetryPolicy(attempts=2), spans.attempt, breaker)


def testing_helpers(on_event: Callable[[Event], object]) -> None:
    """A fake clock and the testing mode, as a user's tests use them."""
    fake = FakeClock()
    fake.advance(timedelta(seconds=1).total_seconds())
    assert_type(fake.monotonic(), float)
    CircuitBreaker("db", clock=fake, listeners=[on_event])
    with set_testing(attempts=1):
        RetryPolicy(clock=fake).call(fetch, "b", "k")


# ------------------------------------------------------- misuse the annotations forbid
# One misuse a function, and each the last statement: mypy checks no statement after a
# call it judges never to return.


def misuse_breaker_call_of_an_async_function() -> None:
    """call() of an async function never awaits it: the overload marks it deprecated."""
    CircuitBreaker("s3").call(afetch, "b", "k")  # type: ignore[deprecated]


def misuse_retry_call_of_an_async_function() -> None:
    """A retry policy's call() refuses an async function too."""
    RetryPolicy().call(afetch, "b", "k")  # type: ignore[deprecated]


def misuse_pipeline_call_of_an_async_function() -> None:
    """So does the call() of a pipeline."""
    Pipeline(RetryPolicy()).call(afetch, "b", "k")  # type: ignore[deprecated]


def misuse_acall_of_a_sync_function() -> None:
    """acall() takes a function returning an awaitable."""
    asyncio.run(CircuitBreaker("s3").acall(fetch, "b", "k"))  # type: ignore[arg-type]


def misuse_decorated_argument_types() -> None:
    """A decorated function keeps its parameter types."""
    CircuitBreaker("s3")(fetch)(1, "k")  # type: ignore[arg-type]


def misuse_decorated_keyword() -> None:
    """A decorated function keeps its parameter names."""
    RetryPolicy()(fetch)("b", "k", revision=2)  # type: ignore[call-arg]


def misuse_call_arguments() -> None:
    """call() checks the arguments against the function it calls."""
    resilient()(fetch)("b")  # type: ignore[call-arg]


def misuse_retry_argument() -> None:
    """resilient(retry=...) takes a RetryPolicy, not a number of attempts."""
    resilient(retry=3)  # type: ignore[arg-type]


def misuse_pipeline_strategy() -> None:
    """A pipeline takes strategies."""
    Pipeline(3)  # type: ignore[arg-type]


def misuse_batch_store() -> None:
    """A batch's store implements CheckpointStore."""
    BatchProcessor("bad", print, store=object())  # type: ignore[arg-type]


def misuse_recovery_actions(manager: RecoveryManager) -> None:
    """A component's actions are a list of functions, not one."""
    manager.register("db", actions=print)  # type: ignore[arg-type]


def misuse_redis_on_error() -> None:
    """A Redis breaker store's on_error is one of local, closed or open."""
    RedisBreakerStore("redis://127.0.0.1:6379/0", on_error="ignore")  # type: ignore[arg-type]


def misuse_async_transport() -> None:
    """The sync transport wraps a sync httpx transport."""
    ResilientTransport(httpx.AsyncHTTPTransport())  # type: ignore[arg-type]


def bulkhead_forms() -> None:
    """A bulkhead: its config, forms, errors, events and measurements."""
    config = BulkheadConfig(max_concurrent=4, max_queue=8, queue_timeout=0.5)
    bulkhead = Bulkhead("db", config, listeners=[lambda e: assert_type(e.describe(), str)])
    assert_type(Bulkhead("db", max_concurrent=2), Bulkhead)
    assert_type(bulkhead(fetch)("b", "k"), bytes)
    assert_type(bulkhead.call(fetch, "b", "k"), bytes)
    assert_type(bulkhead.in_use, int)
    assert_type(bulkhead.idle, bool)
    assert_type(bulkhead.config, BulkheadConfig)
    assert_type(bulkhead.measurements(), list[Measurement])
    with bulkhead:
        pass
    try:
        bulkhead.call(fetch, "b", "k")
    except BulkheadFullError as exc:
        assert_type(exc.in_use, int)
        assert_type(exc.waited, float | None)
    event = BulkheadRejected("db", 1, 0, 1, 0, None)
    assert_type(event.fields(), dict[str, object])
    per_remote = Remotes(lambda remote: Bulkhead(remote, max_concurrent=2))
    assert_type(resilient(remote="s3", bulkhead=per_remote), Resilient)


async def bulkhead_async_forms(bulkhead: Bulkhead) -> None:
    """The async forms of a bulkhead."""
    assert_type(await bulkhead(afetch)("b", "k"), bytes)
    assert_type(await bulkhead.acall(afetch, "b", "k"), bytes)
    async with bulkhead:
        pass


def limiter_forms() -> None:
    """An adaptive limiter: its algorithms, forms, errors, events and measurements."""
    limiter = AdaptiveLimiter("db", Gradient2(initial_limit=20, max_limit=100))
    aimd = AdaptiveLimiter("db", AIMD(initial_limit=10, backoff_ratio=0.8), clock=FakeClock())
    assert_type(aimd.limit, int)
    assert_type(limiter.algorithm, AIMD | Gradient2)
    assert_type(limiter(fetch)("b", "k"), bytes)
    assert_type(limiter.call(fetch, "b", "k"), bytes)
    assert_type(resilient(limiter=limiter, timeout=1.0), Resilient)
    try:
        limiter.call(fetch, "b", "k")
    except LimitExceededError as exc:
        assert_type(exc.limit, int)
    assert_type(LimitChanged("db", 10, 9, "dropped").level, int)
    assert_type(LimiterRejected("db", 10, 10).describe(), str)


def misuse_bulkhead_config() -> None:
    """A bulkhead's config is a BulkheadConfig."""
    Bulkhead("db", {"max_concurrent": 2})  # type: ignore[arg-type]


def misuse_limiter_algorithm() -> None:
    """A limiter's algorithm is AIMD or Gradient2."""
    AdaptiveLimiter("db", BulkheadConfig())  # type: ignore[arg-type]


def rate_limiter_forms() -> None:
    """A rate limiter's forms keep the signature; acquire() says how long it waited."""
    limiter = resilience.RateLimiter("s3", rate=10, per=timedelta(seconds=1), burst=5, clock=clock)
    limited = limiter(fetch)
    assert_type(limited("b", "k", version=2), bytes)
    assert_type(limiter.call(fetch, "b", "k"), bytes)
    with limiter:
        fetch("b", "k")
    assert_type(limiter.acquire(2, max_wait=0.5), float)
    assert_type(limiter.try_acquire(), bool)
    assert_type(limiter.measurements(), list[resilience.Measurement])
    shared = resilience.RedisRateStore("redis://127.0.0.1:6379/0", on_error="open")
    resilience.RateLimiter("fleet", rate=100, store=shared)
    per_remote = resilience.Remotes(lambda name: resilience.RateLimiter(name, rate=1))
    resilience.resilient(remote="s3", rate_limiter=per_remote)
    try:
        limiter.acquire()
    except resilience.RateLimitedError as exc:
        assert_type(exc.retry_after, float | None)


async def async_rate_limiter_forms() -> None:
    """The async forms of a rate limiter."""
    limiter = resilience.RateLimiter(rate=10)
    assert_type(await limiter(afetch)("b", "k"), bytes)
    assert_type(await limiter.acall(afetch, "b", "k"), bytes)
    assert_type(await limiter.aacquire(), float)
    async with limiter:
        pass


def misuse_rate_limiter() -> None:
    """A rate is a number, and a rate store's on_error one of local, closed or open."""
    resilience.RateLimiter(rate="10/s")  # type: ignore[arg-type]
    resilience.RedisRateStore("redis://127.0.0.1:6379/0", on_error="ignore")  # type: ignore[arg-type]
