"""The command line: ``python -m resilience``."""
