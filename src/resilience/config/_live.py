"""A loaded configuration, kept live: read again on a call or when its file changes."""

from __future__ import annotations

import fnmatch
import functools
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from resilience._breaker.config import BreakerConfig
from resilience._breaker.registry import BreakerRegistry
from resilience._classify.classifier import Classifier
from resilience._core.clock import SYSTEM_CLOCK, Clock
from resilience._core.events import Event, emit
from resilience._core.log import log_event
from resilience._core.options import Options
from resilience._core.pipeline import Pipeline
from resilience._core.strategy import Strategy
from resilience._rate.bucket import RateStore
from resilience._retry.policy import RetryPolicy
from resilience.config._checks import check
from resilience.config._events import ConfigReloaded, ReloadRefused
from resilience.config._policy import LivePolicy
from resilience.config._read import MAPPING, ConfigError, Source, breakers, settings_of
from resilience.config._sections import SECTIONS, StoreConfig, Wiring
from resilience.health import HealthRegistry
from resilience.recovery import IncidentStore, RecoveryManager

__all__ = ["Configuration", "load"]

_GLOB_CHARS = frozenset("*?[")


def load(
    source: str | os.PathLike[str] | Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    clock: Clock | None = None,
    classifier: Classifier | None = None,
    listeners: Iterable[Callable[[Event], object]] = (),
    poll_interval: float = 1.0,
) -> Configuration:
    """Read a configuration: a ``.toml``, ``.json`` or ``.yaml`` file, or a mapping.

    Args:
        source: The file's path, or the same structure as a mapping (a framework's
            settings, say).
        env: Where ``RESILIENCE__...`` overrides are read; ``os.environ`` by default,
            ``{}`` for none.
        clock: The time source of every breaker, policy and poll.
        classifier: How every breaker counts failures.
        listeners: Receive :class:`ConfigReloaded` and :class:`ReloadRefused`.
        poll_interval: Seconds of ``clock`` between two looks at the file by
            :meth:`Configuration.poll`.

    Raises:
        ConfigError: Every problem, each with its file and line (or environment
            variable) and field.
    """
    return Configuration(
        source,
        env=os.environ if env is None else env,
        clock=clock if clock is not None else SYSTEM_CLOCK,
        classifier=classifier,
        listeners=tuple(listeners),
        poll_interval=poll_interval,
    )


class Configuration:
    """Settings in force, the breaker registry built from them, and what else they build.

    Built by :func:`load`. :meth:`reload` (or :meth:`poll`, when the file changed) reads
    the source again: a valid one replaces the settings and reconfigures every breaker
    in place, keeping its state; an invalid one is refused whole, the settings in force
    stay, and a :class:`ReloadRefused` event says why.
    """

    def __init__(
        self,
        source: Source,
        *,
        env: Mapping[str, str],
        clock: Clock,
        classifier: Classifier | None,
        listeners: tuple[Callable[[Event], object], ...],
        poll_interval: float,
    ) -> None:
        if isinstance(poll_interval, bool) or not isinstance(poll_interval, int | float) or (
            poll_interval < 0
        ):
            raise ValueError(f"poll_interval must be seconds >= 0, got {poll_interval!r}")
        self._source = source
        self._path = None if isinstance(source, Mapping) else Path(source)
        self._env = env
        self._clock = clock
        self._listeners = listeners
        self._poll_interval = float(poll_interval)
        self._lock = threading.Lock()  # one reload at a time
        self._seen = self._content()
        self._settings = settings_of(source, env)
        default, overrides = breakers(self._settings)
        self._registry = BreakerRegistry(
            default, overrides=overrides, clock=clock, classifier=classifier
        )
        self._next_poll = clock.monotonic() + self._poll_interval
        self._policies: dict[str, Pipeline] = {}  # of the settings in force, by remote
        # (remote, section) -> (its value, its strategy): a bulkhead, a limiter... kept
        # across reloads while the value is equal, so its state stays the remote's.
        self._kept: dict[tuple[str, str], tuple[Any, Strategy]] = {}
        self._build_lock = threading.Lock()  # one instance per remote, even when racing
        self._rate_stores: dict[StoreConfig, RateStore] = {}  # made for shared limiters

    @property
    def source(self) -> str:
        """The file's path, or ``"<mapping>"``."""
        return MAPPING if self._path is None else str(self._path)

    @property
    def settings(self) -> Options:
        """The validated settings in force (``defaults``, ``remotes``, ``store``, ...)."""
        return self._settings

    @property
    def registry(self) -> BreakerRegistry:
        """The breakers of every remote; the same registry across reloads."""
        return self._registry

    @property
    def store(self) -> StoreConfig | None:
        """The ``[store]`` section, if any."""
        store: StoreConfig | None = self._settings.store  # type: ignore[attr-defined]
        return store

    def remotes(self) -> tuple[str, ...]:
        """The remotes the settings name (patterns included), in the file's order."""
        return tuple(self._settings.remotes)  # type: ignore[attr-defined]

    def section(self, remote: str, name: str) -> Any:  # noqa: ANN401 - a section's own type
        """A remote's section ``name``: its own, else its pattern's, else the defaults'."""
        if name not in SECTIONS:
            raise KeyError(f"no section {name!r}; the sections are {', '.join(SECTIONS)}")
        settings = self._settings
        own = _remote_of(settings.remotes, remote)  # type: ignore[attr-defined]
        value = getattr(own, name) if own is not None else None
        return value if value is not None else getattr(settings.defaults, name)  # type: ignore[attr-defined]

    def breaker(self, remote: str) -> BreakerConfig:
        """The configuration ``remote``'s breaker has, overrides merged with the defaults."""
        return self._registry.config_for(remote)

    def retry(self, remote: str) -> RetryPolicy | None:
        """``remote``'s retry policy, or None when it has none."""
        config = self.section(remote, "retry")
        return config.policy(clock=self._clock) if config is not None else None

    def policy(self, remote: str) -> Pipeline:
        """The pipeline of ``remote``: a strategy per section, outermost first.

        Its breaker is the registry's, reconfigured in place by a reload; its retry
        policy and timeout are those of the settings in force now. Built once per
        version of the settings (a reload builds anew); :meth:`live` follows reloads.
        """
        policies = self._policies
        pipeline = policies.get(remote)
        if pipeline is None:
            with self._build_lock:
                pipeline = self._policies.get(remote)
                if pipeline is None:
                    pipeline = self._policies[remote] = self._build(remote)
        return pipeline

    def live(self, remote: str) -> LivePolicy:
        """``remote``'s policy following reloads: each call runs through :meth:`policy`."""
        if not isinstance(remote, str) or not remote:
            raise TypeError(f"a remote's name must be a non-empty str, got {remote!r}")
        return LivePolicy(remote, functools.partial(self.policy, remote))

    def _build(self, remote: str) -> Pipeline:
        def keep(name: str, value: object, build: Callable[[], Strategy]) -> Strategy:
            held = self._kept.get((remote, name))
            if held is not None and held[0] == value:
                return held[1]
            strategy = build()
            self._kept[remote, name] = (value, strategy)
            return strategy

        wiring = Wiring(remote=remote, registry=self._registry, clock=self._clock, keep=keep,
                        rate_store=self._rate_store)
        strategies = []
        for name, section in SECTIONS.items():
            if section.strategy is not None:
                strategy = section.strategy(self.section(remote, name), wiring)
                if strategy is not None:
                    strategies.append(strategy)
        return Pipeline(*strategies, clock=self._clock)

    def _rate_store(self) -> RateStore:
        """The ``[store]``'s rate store (made once per ``[store]``), under the build lock."""
        store = self.store
        if store is None:  # refused at load; kept for a reader of Wiring
            raise ValueError("a shared rate limiter needs a [store] with its Redis URL")
        made = self._rate_stores.get(store)
        if made is None:
            from resilience.stores import RedisRateStore  # noqa: PLC0415 - needs redis

            made = self._rate_stores[store] = RedisRateStore(store.redis, namespace=store.namespace)
        return made

    def close(self) -> None:
        """Close the Redis clients made for shared rate limiters (their limiters go local)."""
        with self._build_lock:
            stores, self._rate_stores = self._rate_stores, {}
        for store in stores.values():
            close = getattr(store, "close", None)
            if close is not None:
                close()

    def health(self, *, classifier: Classifier | None = None) -> HealthRegistry:
        """A new :class:`HealthRegistry` with the check of every remote that has one."""
        registry = HealthRegistry(clock=self._clock, classifier=classifier)
        for remote in self.remotes():
            config = self.section(remote, "check")
            if config is not None:
                registry.register(
                    remote, check(config), critical=config.critical, timeout=config.timeout
                )
        return registry

    def recovery(self, *, store: IncidentStore | None = None) -> RecoveryManager:
        """A new :class:`RecoveryManager` with the ``[recovery]`` budget and notifiers."""
        config = self._settings.recovery  # type: ignore[attr-defined]
        if config is None:
            return RecoveryManager(store=store, clock=self._clock)
        return RecoveryManager(
            budget=config.budget,
            notifiers=[notifier.notifier() for notifier in config.notifiers],
            notify_timeout=config.notify_timeout,
            store=store,
            clock=self._clock,
        )

    def add_listener(self, listener: Callable[[Event], object]) -> None:
        """Deliver later :class:`ConfigReloaded` and :class:`ReloadRefused` events too."""
        if not callable(listener):
            raise TypeError(f"a listener must be callable, got {listener!r}")
        self._listeners = (*self._listeners, listener)

    def reload(self, source: Source | None = None) -> bool:
        """Read the source (or a new mapping) again; whether the new settings are in force.

        All or nothing: settings that do not validate, or whose breaker overrides do not
        merge with the defaults, are refused with a :class:`ReloadRefused` event, and
        everything stays as it was. Applied, every breaker is reconfigured in place.
        """
        with self._lock:
            if source is not None and (self._path is not None or not isinstance(source, Mapping)):
                raise TypeError(
                    "reload(source) takes a new mapping, for a configuration loaded from a "
                    "mapping; one loaded from a file reloads its file: call reload()"
                )
            given = self._source if source is None else source
            self._seen = self._content()
            try:
                settings = settings_of(given, self._env)
                default, overrides = breakers(settings)
                self._registry.reconfigure(default, overrides=overrides)
            except (ConfigError, ValueError, TypeError) as exc:
                self._announce(ReloadRefused(self.source, str(exc)))
                return False
            old, self._settings, self._source = self._settings, settings, given
            with self._build_lock:
                self._policies = {}  # after the settings: a pipeline cached here is new
                moved = old.store != settings.store  # type: ignore[attr-defined]
                self._kept = {  # a changed [store] renews the shared rate limiters too
                    key: held for key, held in self._kept.items()
                    if self.section(*key) == held[0] and not (moved and _shared(held[0]))
                }
        self._announce(ConfigReloaded(self.source, _changed(old, settings)))
        return True

    def poll(self) -> bool | None:
        """Reload if the file changed: None if not (or not looked at yet), else reload()'s.

        Looks at the file at most once per ``poll_interval`` seconds of the clock, so it
        may be called often (per request, or from a loop). A refused file is not tried
        again until it changes.
        """
        if self._path is None:
            return None
        now = self._clock.monotonic()
        if now < self._next_poll:
            return None
        self._next_poll = now + self._poll_interval
        if self._content() == self._seen:
            return None
        return self.reload()

    def _content(self) -> bytes | None:
        if self._path is None:
            return None
        try:
            return self._path.read_bytes()
        except OSError:
            return None

    def _announce(self, event: Event) -> None:
        log_event(event)
        emit(self._listeners, event)

    def __repr__(self) -> str:
        return f"Configuration({self.source!r}, {len(self.remotes())} remotes)"


def _remote_of(remotes: Mapping[str, Any], remote: str) -> Any:  # noqa: ANN401
    """The settings of ``remote``: by its name, else by the first pattern matching it."""
    own = remotes.get(remote)
    if own is not None:
        return own
    for name, settings in remotes.items():
        if not _GLOB_CHARS.isdisjoint(name) and fnmatch.fnmatchcase(remote, name):
            return settings
    return None


def _shared(value: object) -> bool:
    return getattr(value, "shared", False) is True


def _changed(old: Options, new: Options) -> tuple[str, ...]:
    """The remotes whose settings differ (every one, if the defaults changed)."""
    old_remotes, new_remotes = old.remotes, new.remotes  # type: ignore[attr-defined]
    if old.defaults != new.defaults:  # type: ignore[attr-defined]
        return tuple(sorted({*old_remotes, *new_remotes}))
    names = {*old_remotes, *new_remotes}
    return tuple(sorted(n for n in names if old_remotes.get(n) != new_remotes.get(n)))
