"""Hedging: another attempt when the first is slow to answer; the first success wins."""
