"""The public surface: each public namespace's ``__all__``, pinned name by name.

A name added to or dropped from a namespace changes this file too, so that a change of
the public API is always a deliberate one. The stores backed by optional extras (Redis,
PostgreSQL) are imported on first use; ``import resilience`` must not import their
client libraries.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys

import pytest

RESILIENCE = [
    "AIMD",
    "ActionRecord",
    "AdaptiveLimiter",
    "AlternateRemote",
    "Attempt",
    "Attempts",
    "Backoff",
    "BatchProcessor",
    "BatchProgress",
    "BatchResult",
    "BreakerConfig",
    "BreakerLink",
    "BreakerRegistry",
    "BreakerSnapshot",
    "BreakerStore",
    "BudgetSnapshot",
    "Bulkhead",
    "BulkheadConfig",
    "BulkheadFullError",
    "BulkheadRejected",
    "CachedFallback",
    "CachedResultServed",
    "CallRecorded",
    "CallRejected",
    "CallTimeoutError",
    "CallbackNotifier",
    "CheckResult",
    "CheckpointError",
    "CheckpointStore",
    "CircuitBreaker",
    "CircuitOpenError",
    "CircuitState",
    "Classification",
    "Classifier",
    "Clock",
    "ComponentChanged",
    "ComponentHealth",
    "ComponentStatus",
    "EmailNotifier",
    "Event",
    "EventRecorder",
    "FailureKind",
    "Fallback",
    "FeatureChanged",
    "FeatureGate",
    "Gradient2",
    "HealthMonitor",
    "HealthRegistry",
    "HealthReport",
    "HealthStatus",
    "Hedge",
    "HedgeStarted",
    "HedgeWon",
    "Incident",
    "IncidentReport",
    "IncidentStore",
    "ItemFailure",
    "ItemKey",
    "ItemRecord",
    "JobBusyError",
    "JobLeases",
    "LeaseLostError",
    "LimitChanged",
    "LimitExceededError",
    "LimiterRejected",
    "Listener",
    "LoggingNotifier",
    "Measured",
    "Measurement",
    "MemoryCheckpointStore",
    "MemoryIncidentStore",
    "MisusedCallError",
    "Notifier",
    "NotifierRecord",
    "NotifyError",
    "Outcome",
    "PagerDutyNotifier",
    "PartialFailure",
    "PerRemote",
    "Pipeline",
    "RateDelayed",
    "RateLimited",
    "RateLimitedError",
    "RateLimiter",
    "RateLimiterOptions",
    "RateLink",
    "RateStore",
    "RecoveryManager",
    "RecoveryStats",
    "RegistryFullError",
    "RejectedError",
    "RemoteBreakers",
    "RemoteUnavailableError",
    "Remotes",
    "Replace",
    "ResilienceError",
    "Resilient",
    "Resolution",
    "RestartBudget",
    "RetryBudget",
    "RetryPolicy",
    "RetryResultError",
    "RetryScheduled",
    "Router",
    "RoutingMatrix",
    "SQLiteCheckpointStore",
    "SQLiteIncidentStore",
    "Severity",
    "SharedBreaker",
    "SlackNotifier",
    "Stage",
    "StateChanged",
    "StoreDegraded",
    "StoreRecovered",
    "Strategy",
    "SystemClock",
    "TelegramNotifier",
    "Timeout",
    "WebhookNotifier",
    "__version__",
    "diagnostics_bundle",
    "incident_report",
    "log_event",
    "postmortem",
    "resilient",
    "retry_on_status",
]

BATCH = [
    "BatchProcessor",
    "BatchProgress",
    "BatchResult",
    "CheckpointError",
    "CheckpointStore",
    "ItemFailure",
    "ItemKey",
    "ItemRecord",
    "JobBusyError",
    "JobLeases",
    "LeaseLostError",
    "MemoryCheckpointStore",
]

HEALTH = [
    "CheckResult",
    "ComponentChanged",
    "ComponentHealth",
    "ComponentStatus",
    "FeatureChanged",
    "FeatureGate",
    "HealthMonitor",
    "HealthRegistry",
    "HealthReport",
    "HealthStatus",
    "aggregate",
]

RECOVERY = [
    "DEFAULT_STAGES",
    "ActionRecord",
    "Breach",
    "CallbackNotifier",
    "ComponentFigures",
    "EmailNotifier",
    "EntryKind",
    "EscalationPolicy",
    "EscalationTier",
    "EventRecorder",
    "Incident",
    "IncidentError",
    "IncidentPolicy",
    "IncidentReport",
    "IncidentState",
    "IncidentStore",
    "IncidentTracker",
    "LoggingNotifier",
    "MemoryIncidentStore",
    "MutableIncidentStore",
    "Notifier",
    "NotifierRecord",
    "NotifyError",
    "PagerDutyNotifier",
    "RecoveryManager",
    "RecoveryStats",
    "Resolution",
    "RestartBudget",
    "Router",
    "RoutingMatrix",
    "Severity",
    "SeverityTargets",
    "SlackNotifier",
    "Stage",
    "Target",
    "Targets",
    "TelegramNotifier",
    "TimelineEntry",
    "UnknownIncidentError",
    "WebhookNotifier",
    "WeekFigures",
    "diagnostics_bundle",
    "failure_type",
    "incident_report",
    "postmortem",
]

STORES = [
    "PostgresCheckpointStore",
    "PostgresIncidentStore",
    "RedisBreakerStore",
    "RedisCheckpointStore",
    "RedisRateStore",
    "RedisRetryBudget",
    "SQLiteCheckpointStore",
    "SQLiteIncidentStore",
]

EVENTS = [
    "BatchResult",
    "BulkheadRejected",
    "CallRecorded",
    "CallRejected",
    "ChaosInjected",
    "CircuitState",
    "ComponentChanged",
    "ConfigReloaded",
    "Event",
    "FeatureChanged",
    "HedgeStarted",
    "HedgeWon",
    "LimitChanged",
    "LimiterRejected",
    "Listener",
    "Outcome",
    "RateDelayed",
    "RateLimited",
    "ReloadRefused",
    "RetryScheduled",
    "StateChanged",
    "StoreDegraded",
    "StoreRecovered",
]

CONFIG = [
    "ENV_PREFIX",
    "SECTIONS",
    "AIMDLimiterConfig",
    "ChaosConfig",
    "CheckConfig",
    "ConfigError",
    "ConfigReloaded",
    "Configuration",
    "Gradient2LimiterConfig",
    "HedgeConfig",
    "LimiterConfig",
    "LivePolicy",
    "NotifierConfig",
    "RateLimitConfig",
    "RecoveryConfig",
    "ReloadRefused",
    "RetryConfig",
    "Section",
    "StoreConfig",
    "Wiring",
    "load",
]

CHAOS = [
    "ChaosInjected",
    "ChaosSwitch",
    "InjectFault",
    "InjectLatency",
    "InjectResult",
]

TESTING = [
    "FakeClock",
    "set_testing",
]

# Exported by ``resilience`` on first use (not in its ``__all__``): their client libraries
# are optional extras.
RESILIENCE_LAZY = [
    "PostgresCheckpointStore",
    "RedisBreakerStore",
    "RedisCheckpointStore",
    "RedisRateStore",
    "RedisRetryBudget",
]

PINS = {
    "resilience": RESILIENCE,
    "resilience.batch": BATCH,
    "resilience.config": CONFIG,
    "resilience.chaos": CHAOS,
    "resilience.events": EVENTS,
    "resilience.health": HEALTH,
    "resilience.recovery": RECOVERY,
    "resilience.stores": STORES,
    "resilience.testing": TESTING,
}

OPTIONAL_CLIENTS = ("redis", "psycopg", "psycopg2", "asyncpg")


def isort_key(name: str) -> tuple[int, str]:
    """ruff's RUF022 order: SCREAMING_SNAKE_CASE, then CamelCase, then everything else."""
    if re.fullmatch(r"[A-Z][A-Z0-9_]*", name) and len(name) > 1:
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


def test_the_pins_are_sorted_as_ruff_sorts_all() -> None:
    """Every pinned list is in the order ruff keeps ``__all__`` in."""
    for pin in [*PINS.values(), RESILIENCE_LAZY]:
        assert pin == sorted(pin, key=isort_key)


@pytest.mark.parametrize("module", sorted(PINS))
def test_all_is_pinned(module: str) -> None:
    """A public namespace's ``__all__`` is exactly its pinned list, in that order."""
    assert importlib.import_module(module).__all__ == PINS[module]


@pytest.mark.parametrize("module", sorted(PINS))
def test_every_name_in_all_is_importable(module: str) -> None:
    """``from <namespace> import <name>`` works for every name in ``__all__``."""
    namespace = importlib.import_module(module)
    for name in namespace.__all__:
        assert getattr(namespace, name) is not None, name


@pytest.mark.parametrize("module", sorted(PINS))
def test_dir_lists_every_exported_name(module: str) -> None:
    """``dir()`` of a namespace shows every name of its ``__all__``."""
    namespace = importlib.import_module(module)
    assert set(namespace.__all__) <= set(dir(namespace))


def test_the_lazy_stores_are_importable_from_resilience_and_are_the_stores() -> None:
    """The Redis and PostgreSQL stores import from ``resilience`` as the same objects."""
    import resilience  # noqa: PLC0415
    import resilience.stores  # noqa: PLC0415

    for name in RESILIENCE_LAZY:
        assert getattr(resilience, name) is getattr(resilience.stores, name)
    assert sorted(dir(resilience)) == sorted([*RESILIENCE, *RESILIENCE_LAZY])


def test_an_unknown_name_is_an_attribute_error() -> None:
    """A name neither exported nor lazy raises AttributeError naming the module."""
    import resilience  # noqa: PLC0415
    import resilience.stores  # noqa: PLC0415

    # The modules' __getattr__ types every attribute as object: mypy lets these through.
    with pytest.raises(AttributeError, match=re.escape("'resilience' has no attribute 'Nope'")):
        _ = resilience.Nope
    with pytest.raises(AttributeError, match=re.escape("'resilience.stores' has no attribute")):
        _ = resilience.stores.Nope


def test_the_subpackages_export_the_objects_resilience_exports() -> None:
    """A name exported by both ``resilience`` and a subpackage is one object."""
    import resilience  # noqa: PLC0415

    for module in sorted(PINS):
        namespace = importlib.import_module(module)
        for name in set(namespace.__all__) & set(resilience.__all__):
            assert getattr(namespace, name) is getattr(resilience, name), (module, name)


def test_importing_the_public_namespaces_imports_no_optional_client() -> None:
    """``import resilience`` and its public namespaces load neither redis nor psycopg."""
    code = "\n".join(
        [
            "import sys",
            "import resilience, resilience.batch, resilience.health",
            "import resilience.recovery, resilience.stores, resilience.testing",
            "import resilience.events, resilience.config",
            "import resilience.events, resilience.chaos",
            "from resilience import SQLiteCheckpointStore, SQLiteIncidentStore",
            "from resilience.stores import SQLiteCheckpointStore, SQLiteIncidentStore",
            f"loaded = sorted(m for m in {OPTIONAL_CLIENTS!r} if m in sys.modules)",
            "print(','.join(loaded))",
        ]
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


@pytest.mark.parametrize(
    ("name", "client"),
    [
        ("PostgresCheckpointStore", "psycopg"),
        ("RedisBreakerStore", "redis"),
        ("RedisCheckpointStore", "redis"),
        ("RedisRetryBudget", "redis"),
    ],
)
def test_a_lazy_store_imports_its_client_on_first_use(name: str, client: str) -> None:
    """Reading a Redis or PostgreSQL store from ``resilience`` is what imports its client."""
    code = "\n".join(
        [
            "import sys",
            "import resilience",
            f"assert {client!r} not in sys.modules",
            f"getattr(resilience, {name!r})",
            f"assert {client!r} in sys.modules",
        ]
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
