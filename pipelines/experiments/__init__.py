"""Experiments built from pipeline runs: the same definition, run locally with different parameters."""
