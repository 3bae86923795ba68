"""Retry policies: backoff, budgets, the retry strategy."""
