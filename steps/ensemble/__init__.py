"""Stacking ensemble over the best job of each algorithm (`python -m steps.ensemble`)."""
