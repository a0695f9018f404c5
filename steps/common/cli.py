"""Command-line helpers shared by the step programs: one place turns input errors into exit codes."""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from steps.common.errors import StepError
from steps.common.resource_config import RESOURCE_CONFIG

# The project's one reading of a boolean word (step arguments, hyperparameters, settings, and the pipelines'
# environment switches such as HPO=1): SageMaker renders ParameterBoolean as `true`/`false`.
TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")


def parse_bool(value: str | bool) -> bool:
    """Parse true/false/1/0/yes/no/on/off, any case; anything else is an error (a typo is not `false`)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise argparse.ArgumentTypeError(f"expected one of {'/'.join(TRUE_WORDS + FALSE_WORDS)}, got {value!r}")


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


LOG_FORMAT_HELP = "text: '<UTC time> <step> <LEVEL> <message>'; json: one JSON object a line"


def add_log_format(parser: argparse.ArgumentParser) -> None:
    """`--log-format text|json`: every command that writes log records takes it (docs/design.md, CLIs)."""
    parser.add_argument("--log-format", choices=["text", "json"], default="text", help=LOG_FORMAT_HELP)


class RenamedFlag(argparse.Action):
    """An old spelling of a renamed flag, kept for one release: it sets the new flag's value and says on stderr
    that it is deprecated and what replaces it. Not shown in --help (the new flag's help names it)."""

    def __init__(self, option_strings: Sequence[str], dest: str, replacement: str = "", **kwargs) -> None:
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, **kwargs)
        self.replacement = replacement

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values,
                 option_string: str | None = None) -> None:
        print(f"{parser.prog}: warning: {option_string} is deprecated and goes in the next release; "
              f"use {self.replacement}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_renamed_flag(parser: argparse.ArgumentParser, old: str, new: str, dest: str) -> None:
    """Accept `old` as a deprecated spelling of `new` (which stores into `dest`) for one release."""
    parser.add_argument(old, dest=dest, action=RenamedFlag, replacement=new, default=argparse.SUPPRESS)


class StepArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors exit with 2 on one line (argparse prints usage; that is fine)."""

    def add_log_format(self) -> None:
        add_log_format(self)


# sysexits' EX_IOERR: the machine, not the input, is at fault (a full disk, a read-only mount, a file in the way).
IO_ERROR_EXIT = 74

_IO_FIXES = {
    errno.ENOSPC: "free space on that filesystem or point the output at another one",
    errno.EDQUOT: "free space within your quota or point the output at another filesystem",
    errno.EROFS: "point the output at a writable folder (that mount is read-only)",
    errno.EACCES: "make the folder writable by this user or point the output elsewhere",
    errno.EPERM: "make the folder writable by this user or point the output elsewhere",
    errno.EEXIST: "a file is in the way of a folder: remove it or choose another path",
    errno.ENOTDIR: "a file is in the way of a folder: remove it or choose another path",
    errno.EISDIR: "a folder is in the way of a file: remove it or choose another path",
    errno.ENOENT: "check the path (a parent folder is missing or cannot be created)",
}


def io_error_line(exc: OSError) -> str:
    """One line for an operating-system error: the path, what the system said, and what to do."""
    reason = exc.strerror or (errno.errorcode.get(exc.errno, "") if exc.errno else "") or type(exc).__name__
    fix = _IO_FIXES.get(exc.errno or 0, "check the path, the free space and the permissions")
    if exc.filename is None:  # e.g. pyarrow's writer: the path is not known here, the reason says what failed
        return " ".join(f"{reason}; fix: {fix}".split())
    where = os.fsdecode(exc.filename) if isinstance(exc.filename, bytes) else str(exc.filename)
    if exc.filename2 is not None:
        where = f"{where} -> {exc.filename2}"
    return " ".join(f"{where}: {reason}; fix: {fix}".split())


# Where SageMaker reads why a job failed (the first 1 KB): a training job's FailureReason from
# /opt/ml/output/failure, a processing job's ExitMessage from /opt/ml/output/message.
# https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-training-signal-success-failure.html
# https://docs.aws.amazon.com/sagemaker/latest/dg/byoc-metadata.html
_PROCESSING_CONFIG = RESOURCE_CONFIG


def job_failure_file() -> str | None:
    """The file this job's failure line goes to, or None outside a SageMaker job: a training job (SageMaker
    sets TRAINING_JOB_NAME; the local runner's host mode SM_OUTPUT_DIR), else a processing job (SageMaker
    writes /opt/ml/config/resourceconfig.json)."""
    if os.environ.get("SM_OUTPUT_DIR"):
        return os.path.join(os.environ["SM_OUTPUT_DIR"], "failure")
    if os.environ.get("TRAINING_JOB_NAME"):
        return "/opt/ml/output/failure"
    if os.path.isfile(_PROCESSING_CONFIG):
        return "/opt/ml/output/message"
    return None


def report_job_failure(line: str) -> None:
    """Tell SageMaker (and the local runner) why the job failed; never fails the exit path itself."""
    path = job_failure_file()
    if path is None:
        return
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as failure:
            failure.write(line[:1024])
    except OSError:
        pass


def main_guard(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    """Run a step's main; a StepError becomes exit code 2 and an OSError (full disk, read-only mount, a file in the
    way of the output folder) exit code 74, each with one line on stderr and no traceback. The outputs are
    written temp-then-rename, so a step stopped here leaves the previous output or none, never half of one.
    In a SageMaker job the same line goes to its failure file (`job_failure_file`); so does an unexpected
    exception's last line, whose traceback still follows."""
    try:
        code = main(argv)
    except StepError as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"error: {message}", file=sys.stderr)
        report_job_failure(message)
        return exc.exit_code
    except OSError as exc:
        line = io_error_line(exc)
        print(f"error: {line}", file=sys.stderr)
        report_job_failure(line)
        return IO_ERROR_EXIT
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        report_job_failure(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": "))
        raise
    return int(code or 0)


def run_main(main: Callable[[Sequence[str] | None], int | None]) -> None:
    """Entry point for `__main__` modules: exit with main_guard's code."""
    sys.exit(main_guard(main))


def forwarding_getattr(cli_module: str, implementation: str) -> Callable[[str], Any]:
    """A CLI module's `__getattr__` (PEP 562): the implementation module's names, imported on first use, so the
    command line stays light enough for `--help` and `from <cli module> import <name>` keeps working."""

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return getattr(importlib.import_module(implementation), name)
        except AttributeError:
            raise AttributeError(f"module {cli_module!r} has no attribute {name!r}") from None

    return __getattr__
