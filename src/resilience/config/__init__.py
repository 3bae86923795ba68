"""Configuration as data: breakers, retries, limits, timeouts, checks and recovery from a file.

::

    from resilience import config

    settings = config.load("resilience.toml")      # or .json, .yaml, or a mapping
    billing = settings.policy("billing")           # retry -> breaker -> ... -> timeout
    billing.call(fetch_invoice, 42)
    settings.poll()                                # reload if the file changed

A remote's sections are listed in :data:`SECTIONS` (name -> what it validates as and the
strategy it adds); environment variables ``RESILIENCE__<KEY>__<KEY>...`` override keys.
See ``docs/configuration.md``.
"""

from __future__ import annotations

from resilience.config._chaos import ChaosConfig
from resilience.config._env import PREFIX as ENV_PREFIX
from resilience.config._events import ConfigReloaded, ReloadRefused
from resilience.config._limits import (
    AIMDLimiterConfig,
    Gradient2LimiterConfig,
    HedgeConfig,
    LimiterConfig,
    RateLimitConfig,
)
from resilience.config._live import Configuration, load
from resilience.config._policy import LivePolicy
from resilience.config._read import ConfigError
from resilience.config._sections import (
    SECTIONS,
    CheckConfig,
    NotifierConfig,
    RecoveryConfig,
    RetryConfig,
    Section,
    StoreConfig,
    Wiring,
)

__all__ = [
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
