"""Stores of shared and durable state: SQLite, PostgreSQL and Redis."""
