"""Failure classification: the classifier, its default table and the libraries' rules."""
