"""`python -m pipelines.upsert`: build the definition and publish it (or just print it with --dry-run).

    python -m pipelines.upsert --dry-run --output pipeline.json
    python -m pipelines.upsert --diff                       # what would change in the published pipeline
    python -m pipelines.upsert --start --param MinModelAUC=0.62

Exit codes: 0 done, 1 AWS refused something or the endpoint did not answer (bounded waits:
pipelines/aws_timeouts.py), 2 usage, config, credentials or parameter-policy problem.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import stat
import sys
import time
from pathlib import Path

from pipelines.cli_options import (
    UsageError,
    add_config_arguments,
    config_overrides,
    parse_parameter_values,
    resolve_legacy_options,
)
from pipelines.config import DEFAULT_CONFIG, ConfigError, deep_merge, load_config
from steps.common.logging import get_logger


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.upsert", description=__doc__.splitlines()[0])
    add_config_arguments(parser)
    parser.add_argument("--dry-run", action="store_true", help="build and print the definition; no AWS access")
    parser.add_argument("--output", type=Path, default=None, help="write the definition JSON here (with --dry-run)")
    parser.add_argument("--diff", action="store_true", help="print a unified diff against the published definition")
    parser.add_argument("--start", action="store_true", help="start an execution after publishing (--param …)")
    parser.add_argument(
        "--create-bucket",
        action="store_true",
        help="create pipeline.bucket if it does not exist (as the SageMaker SDK's default bucket is created)",
    )
    return parser


class OutputRefused(ValueError):
    """--output names something the definition must not replace (one line)."""


def _write_through(path: Path, text: str) -> None:
    """A FIFO or a character device (a pipe to another program, /dev/stdout, /dev/null) is written to, never
    replaced; a FIFO with no reader is refused rather than waited on."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise OutputRefused(f"--output {path}: a FIFO with no reader; start the reader first") from None
        raise
    os.set_blocking(descriptor, True)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


def _write_atomically(path: Path, text: str) -> None:
    """Write the definition to `path`, never replacing what the user named with something else.

    A symlink is kept and its target written (temp file beside the target, then rename): the link may
    point into another checkout or a shared folder, and replacing it with a file would silently cut it.
    A FIFO or a character device is written through; any other special file (a block device, a socket,
    a folder) is refused on one line."""
    target = path.resolve() if path.is_symlink() else path
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and (stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)):
        _write_through(target, text)
        return
    if mode is not None and not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a block device" if stat.S_ISBLK(mode) else "a special file"
        raise OutputRefused(f"--output {path}: is {kind}, not a file; name a file")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(text)
    os.replace(partial, target)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # imported once the arguments are read: `--help` answers without loading the SDK, boto3 or pandas
    from botocore.exceptions import BotoCoreError, ClientError

    from pipelines.aws_timeouts import describe_unreachable, unreachable_errors
    from pipelines.definition import definition_json, get_pipeline
    from pipelines.identities import is_local_endpoint, placeholder_errors
    from pipelines.lint import lint_definition
    from pipelines.parameter_table import ParameterPolicy
    from pipelines.parameter_values import checked_parameter_values, parameter_pairs
    from pipelines.publish import (
        AwsTarget,
        PublishError,
        definition_diff,
        ensure_bucket,
        published_definition,
        start_execution,
        upload_pending,
        upsert_pipeline,
    )
    from pipelines.session import OfflinePipelineSession
    log = get_logger("upsert", args.log_format)
    aws_started = time.monotonic()
    try:
        options = resolve_legacy_options(args)
        for note in options.notes:
            log.info(note)
        overrides = deep_merge(options.overrides, config_overrides(args.set))
        config = load_config(args.config or DEFAULT_CONFIG, profile=args.profile, overrides=overrides or None)
        target = AwsTarget(region=config.pipeline.region, endpoint_url=args.endpoint_url)
        if not args.dry_run:
            target.session()  # fail on missing credentials before any work is done
            if not is_local_endpoint(args.endpoint_url):
                refused = placeholder_errors(config, "upsert")
                if refused:  # a pipeline whose every job would fail: say how to set each, publish nothing
                    print("\n".join(refused), file=sys.stderr)
                    return 2
        started = time.perf_counter()
        session = OfflinePipelineSession(config)
        pipeline = get_pipeline(config, session)
        definition = definition_json(pipeline)
        parsed = json.loads(definition)
        parameters = parse_parameter_values(args.param, parsed, ParameterPolicy.from_config(config))
        log.info(
            "built %s: %d top-level steps, %d bytes, %d files to upload, in %.2fs",
            config.pipeline.name,
            len(parsed["Steps"]),
            len(definition),
            len(session.pending_uploads),
            time.perf_counter() - started,
        )
        # lint judges the definition at this start's values (already checked above, now typed)
        values = checked_parameter_values(parameter_pairs(args.param), parsed, ParameterPolicy.from_config(config))
        violations = lint_definition(parsed, config, values)
        for violation in violations:
            log.error("lint: %s", violation)
        if violations and not args.dry_run:
            print(f"upsert: {len(violations)} lint violation(s); nothing published", file=sys.stderr)
            return 1
        if args.dry_run:
            if args.output:
                try:
                    _write_atomically(args.output, definition)
                except OutputRefused as exc:
                    raise UsageError(str(exc)) from None
                except OSError as exc:
                    folder = args.output.parent
                    why = f"{folder} is a file" if folder.exists() and not folder.is_dir() else exc.strerror or exc
                    raise UsageError(f"--output {args.output}: cannot write there ({why})") from None
                log.info("definition written to %s", args.output)
            else:
                sys.stdout.write(definition)
            return 0

        aws_started = time.monotonic()
        sagemaker_client, s3_client = target.client("sagemaker"), target.client("s3")
        if args.diff:
            diff = definition_diff(
                published_definition(sagemaker_client, config.pipeline.name), parsed, config.pipeline.name
            )
            sys.stdout.write((diff or "no changes") + "\n")
            return 0
        ensure_bucket(s3_client, config.pipeline.bucket, config.pipeline.region, create=args.create_bucket, log=log)
        uploaded = upload_pending(s3_client, session.pending_uploads)
        log.info("uploaded %d new files (%d already present)", uploaded, len(session.pending_uploads) - uploaded)
        arn, created = upsert_pipeline(
            sagemaker_client,
            s3_client,
            name=config.pipeline.name,
            definition=definition,
            role_arn=config.pipeline.role_arn,
            description=config.pipeline.description,
            tags=config.pipeline.tags,
            definition_uri=f"{config.s3_root}/definitions/{config.pipeline.name}.json",
            max_parallel_steps=config.pipeline.max_parallel_steps,
        )
        log.info("%s pipeline %s", "created" if created else "updated", arn)
        print(arn)
        if args.start:
            execution = start_execution(sagemaker_client, config.pipeline.name, parameters)
            log.info("started execution %s", execution)
            print(execution)
        return 0
    except (ConfigError, UsageError, PublishError) as exc:
        print(f"upsert: {exc}", file=sys.stderr)
        return 2
    except ClientError as exc:
        error = exc.response.get("Error", {})
        print(f"upsert: AWS refused {exc.operation_name}: {error.get('Code')}: {error.get('Message')}", file=sys.stderr)
        return 1
    except unreachable_errors() as exc:
        waited = time.monotonic() - aws_started
        print(f"upsert: {describe_unreachable(exc, waited, args.endpoint_url)}", file=sys.stderr)
        return 1
    except BotoCoreError as exc:
        print(f"upsert: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
