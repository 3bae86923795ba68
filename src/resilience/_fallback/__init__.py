"""Fallbacks that keep state or call again: the last good result, an alternate remote."""
