"""``resilience_status``."""
