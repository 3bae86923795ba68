"""PostgreSQL stores: checkpoints and job leases many workers share, and incidents.

:class:`~resilience.stores.PostgresCheckpointStore` and
:class:`~resilience.stores.PostgresIncidentStore` need the ``postgres`` extra (psycopg
3); import them from :mod:`resilience.stores`.
"""
