"""Concurrency limits: the bulkhead and the adaptive limiter."""
