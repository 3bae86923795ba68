"""Staged auto-recovery."""
