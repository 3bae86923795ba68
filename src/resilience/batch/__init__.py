"""Checkpointed batches."""
