"""Redis stores: breaker state shared by a fleet, a shared retry budget, checkpoints.

:class:`~resilience.stores.RedisBreakerStore`, :class:`~resilience.stores.RedisRetryBudget`
and :class:`~resilience.stores.RedisCheckpointStore` need the ``redis`` extra; import them
from :mod:`resilience.stores` (or :mod:`resilience`). Their Lua scripts are the ``*.lua``
files of this package.
"""
