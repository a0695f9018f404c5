"""The step handlers by step type: the runner's factory (one handler module per step type).

Each handler names its step type's declaration (`pipelines.definition.step_types.STEP_TYPES`), and the
factory is read from the modules of this package: a new step type is its declaration (one class and one
`STEP_TYPES` line) and one handler module here, with no list to extend. tests/pipelines/test_step_types.py
holds the two tables to each other (every declared type has exactly one handler, and no handler is left over).
"""

from __future__ import annotations

import importlib
import pkgutil

from pipelines.definition.step_types import STEP_TYPES
from pipelines.local.handlers.base import StepHandler, StepResult, StepRun


def discover_handlers() -> dict[str, StepHandler]:
    """One instance of every concrete handler class in this package's modules, keyed by its step type.

    A class is a handler where it declares `declaration` itself (a base class shared by handlers does not);
    two handlers for one type are refused here rather than one silently replacing the other."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    handlers: dict[str, StepHandler] = {}
    pending = list(StepHandler.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if "declaration" not in vars(cls) or not cls.__module__.startswith(f"{__name__}."):
            continue
        handler = cls()
        if handler.step_type in handlers:
            raise TypeError(f"two handlers for step type {handler.step_type}: "
                            f"{type(handlers[handler.step_type]).__name__} and {cls.__name__}")
        handlers[handler.step_type] = handler
    declared = [name for name in STEP_TYPES if name in handlers]  # the declarations' order, as messages list them
    return {name: handlers[name] for name in [*declared, *sorted(set(handlers) - set(declared))]}


HANDLERS: dict[str, StepHandler] = discover_handlers()

__all__ = ["HANDLERS", "StepHandler", "StepResult", "StepRun", "discover_handlers"]
