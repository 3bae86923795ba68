"""Integrations with other libraries and tools; each module imports what it needs lazily."""
