"""Error types for step programs.

A step fails in one of two ways: the input is wrong (the user can fix it: exit code 2, one line, no
traceback) or the code is wrong (a traceback is what a developer needs). Only the first kind is a
`StepInputError`; `steps.common.cli.main_guard` turns it into the exit code.
"""

from __future__ import annotations

from pathlib import Path


class StepError(Exception):
    """Base class of the errors a step reports on one line."""

    exit_code = 2


class StepInputError(StepError):
    """Bad input: the message names the file, the column and what to do about it.

    Built from parts so that every message has the same shape:
    ``<file>: column '<column>': <problem>; fix: <fix>``.
    """

    def __init__(
        self,
        problem: str,
        *,
        file: str | Path | None = None,
        column: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.problem = problem
        self.file = str(file) if file is not None else None
        self.column = column
        self.fix = fix
        super().__init__(self.one_line())

    def one_line(self) -> str:
        parts = []
        if self.file:
            parts.append(self.file)
        if self.column:
            parts.append(f"column '{self.column}'")
        parts.append(self.problem)
        message = ": ".join(parts)
        if self.fix:
            message += f"; fix: {self.fix}"
        # One line, whatever the pieces held.
        return " ".join(message.split())


class StepConfigError(StepInputError):
    """A bad argument or hyperparameter (the 'file' is the command line or a config file)."""
