"""Model families by name (`get_algorithm`), and `load_model_dir`: one loader for every family's model folder.

Which families exist, and where each one's class lives, is declared in steps/train/settings.py (`ALGORITHMS`);
this package holds their implementations and binds a name to its class on first use."""

from __future__ import annotations

import importlib

from steps.common.errors import StepConfigError
from steps.train.algorithms.base import Algorithm, FitResult, HyperParameter
from steps.train.algorithms.loader import LoadedModel, find_model_folder, load_model_dir
from steps.train.settings import ALGORITHMS


def get_algorithm(name: str) -> type[Algorithm]:
    """The family's class, its module imported now (a job imports only its own library)."""
    if name not in ALGORITHMS:
        raise StepConfigError(
            f"unknown algorithm {name!r}", column="algorithm",
            fix=f"use one of: {', '.join(sorted(ALGORITHMS))}",
        )
    entry = ALGORITHMS[name]
    return getattr(importlib.import_module(entry.module), entry.class_name)


__all__ = ["Algorithm", "FitResult", "HyperParameter", "LoadedModel", "find_model_folder", "get_algorithm",
           "load_model_dir"]
