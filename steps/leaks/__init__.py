"""Leak tests for the features table and the code that built it (`python -m steps.leaks`)."""
