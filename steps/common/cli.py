"""Command-line helpers shared by the step programs: one place turns input errors into exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from steps.common.errors import StepError

_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


def parse_bool(value: str | bool) -> bool:
    """Parse true/false/1/0/yes/no (SageMaker renders ParameterBoolean as `true`/`false`)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true/false/1/0/yes/no, got {value!r}")


def parse_int_list(value: str) -> list[int]:
    """Parse `5,10,60` (also `[5, 10, 60]`) into a list of positive ints."""
    text = value.strip().strip("[]")
    try:
        items = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {value!r}") from exc
    if not items or any(item <= 0 for item in items):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {value!r}")
    return items


class StepArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors exit with 2 on one line (argparse prints usage; that is fine)."""

    def add_log_format(self) -> None:
        self.add_argument(
            "--log-format",
            choices=["text", "json"],
            default="text",
            help="text: '<UTC time> <step> <LEVEL> <message>'; json: one JSON object a line",
        )


def main_guard(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    """Run a step's main; a StepError becomes exit code 2 with one line on stderr and no traceback."""
    try:
        code = main(argv)
    except StepError as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"error: {message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


def run_main(main: Callable[[Sequence[str] | None], int | None]) -> None:
    """Entry point for `__main__` modules: exit with main_guard's code."""
    sys.exit(main_guard(main))
