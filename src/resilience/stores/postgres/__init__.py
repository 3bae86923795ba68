"""PostgreSQL stores."""
