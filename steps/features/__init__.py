"""Features, labels and walk-forward folds from bars and scored tweets (`python -m steps.features`).

Nothing is imported here: pipelines/config.py reads `steps.features.settings`, and a package import of the
feature code (polars, numba) would slow every pipelines CLI's `--help`."""
