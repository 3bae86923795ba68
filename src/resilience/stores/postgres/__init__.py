"""PostgreSQL stores: checkpoints and job leases many workers share.

:class:`~resilience.stores.PostgresCheckpointStore` needs the ``postgres`` extra (psycopg
3); import it from :mod:`resilience.stores` (or :mod:`resilience`).
"""
