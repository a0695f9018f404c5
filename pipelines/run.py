"""`python -m pipelines.run`: run the published definition on this machine (no Docker, no AWS account).

    python -m pipelines.run [--config configs/pipeline.yaml] [--profile quick] [--param Name=Value ...]
                            [--set section.key=value ...] [--no-cache] [--max-trials N] [--run-dir runs]
                            [--endpoint-url URL] [--max-parallel N]

Steps run as SageMaker runs them: each as soon as every step it depends on has succeeded, concurrently, with
at most N jobs and tuning trials at once (default: the cores). Before anything runs, the definition is held
to SageMaker's rules (lint's), and each step's request to botocore's SageMaker model.

Exit codes: 0 the pipeline succeeded; 1 it failed (a FailStep's message or a step's error is printed), or
it could not mirror itself into the emulator as a pipeline execution (its steps still ran; one line says why);
2 a usage or configuration error (one line); 130 interrupted (Ctrl-C: running jobs are ended, the record
says Stopped).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pipelines.cli_options import (
    UsageError,
    add_config_arguments,
    config_overrides,
    parameter_arguments,
    resolve_legacy_options,
)
from pipelines.config import DEFAULT_CONFIG, ConfigError, deep_merge, load_config
from pipelines.local.errors import LocalRunError
from steps.common.logging import get_logger

EXIT_SUCCEEDED, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def writable_run_dir(path: Path) -> Path:
    """The run folder, created if need be; a file in its place or a folder it cannot write is a usage error."""
    resolved = path.resolve()
    if resolved.exists() and not resolved.is_dir():
        raise UsageError(f"--run-dir {path}: not a folder (a file is there)")
    try:
        resolved.mkdir(parents=True, exist_ok=True)
        probe = resolved / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"--run-dir {path}: cannot write there ({exc.strerror or exc})") from None
    return resolved


MAX_CORES = 1024  # a bound, not a machine: past it a number is a typo


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pipelines.run", description=__doc__.splitlines()[0])
    add_config_arguments(parser)
    parser.add_argument("--no-cache", action="store_true", help="run every step, reuse nothing")
    parser.add_argument("--max-trials", type=int, default=None, help="cap each tuning step's trials")
    parser.add_argument(
        "--run-dir", default="runs", help="the run folder: local S3 store, cache, records (default runs/)"
    )
    parser.add_argument("--cores", type=int, default=None, help="cores for tuning trials (default: all)")
    parser.add_argument(
        "--max-parallel",
        type=int,
        default=None,
        help="jobs and tuning trials running at once (default: the cores); 1 runs one step at a time",
    )
    parser.add_argument(
        "--containers",
        action="store_true",
        help="run every job in the image its step declares, on this machine's Docker, as SageMaker starts it "
        "(build the images first: make images); default: on the host, in this venv",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # imported once the arguments are read: `--help` answers without loading the runner, optuna or pandas
    from pipelines.local.executor import RunOptions, default_cores
    from pipelines.local.runner import print_summary, run_config
    from pipelines.report.local import final_holdout_summary, run_warnings, write_report

    started = time.monotonic()
    try:
        if args.max_trials is not None and args.max_trials < 1:
            raise UsageError("--max-trials must be at least 1")
        if args.max_parallel is not None and args.max_parallel < 1:
            raise UsageError("--max-parallel must be at least 1")
        if args.cores is not None and not 1 <= args.cores <= MAX_CORES:
            raise UsageError(f"--cores {args.cores}: must be from 1 to {MAX_CORES} (default: this machine's cores)")
        legacy = resolve_legacy_options(args)
        log = get_logger("run", args.log_format)
        for note in legacy.notes:
            log.info(note)
        overrides = deep_merge(legacy.overrides, config_overrides(args.set))
        config = load_config(Path(args.config or DEFAULT_CONFIG), args.profile, overrides or None)
        run_dir = writable_run_dir(Path(args.run_dir))
        containers = None
        if args.containers:
            from pipelines.local.jobs.containers import ContainerRuntime

            containers = ContainerRuntime()
            containers.check()
        options = RunOptions(
            run_dir=run_dir,
            parameters=parameter_arguments(args.param),
            use_cache=not args.no_cache,
            max_trials=args.max_trials,
            aws_endpoint=args.endpoint_url,
            cores=args.cores or default_cores(),
            max_parallel=args.max_parallel,
            containers=containers,
        )
        result = run_config(config, options)
    except (ConfigError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except LocalRunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # disk full, read-only folder: one line naming the file, not a traceback
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:  # the runner stopped its jobs and wrote the record as Stopped
        print("interrupted: the execution is Stopped (its record says which steps ran)", file=sys.stderr)
        return EXIT_INTERRUPTED
    print_summary(result)
    try:
        report_path = write_report(Path(result.record.path))
        for line in final_holdout_summary(Path(result.record.path)):
            print(line)
        for warning in run_warnings(Path(result.record.path)):
            print(f"warning: {warning}")
        print(f"report {report_path}")
    except Exception as exc:  # the report is a view of the run: never let it change the run's outcome
        print(f"warning: report not written: {type(exc).__name__}: {exc}", file=sys.stderr)
    print(f"wall time {time.monotonic() - started:.1f}s")
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
