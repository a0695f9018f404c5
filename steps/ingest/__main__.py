"""`python -m steps.ingest`: the X/Twitter v2 filtered stream -> Parquet partitioned by date and ticker."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from steps.common.cli import StepArgumentParser, run_main
from steps.common.logging import get_logger
from steps.ingest.defaults import DEFAULT_API_BASE
from steps.ingest.rules import DEFAULT_RULE_SUFFIX

if TYPE_CHECKING:
    from steps.ingest.sinks import LocalSink

DEFAULT_SPILL_DIR = Path(tempfile.gettempdir()) / "conviction-ingest-spill"
EXIT_SPILLED = 3  # everything is durable, but some of it is in the spill folder, not the output
EXIT_NOT_DURABLE = 4  # the output and the spill folder both refused rows: they are lost


def parse_args(argv: Sequence[str] | None):
    parser = StepArgumentParser(prog="python -m steps.ingest", description=__doc__)
    parser.add_argument("--output", required=True, help="folder or s3://bucket/prefix for date=/ticker= partitions")
    parser.add_argument("--universe", default="configs/universe.csv")
    parser.add_argument("--secret-id", default="conviction/twitter", help="Secrets Manager secret holding the token")
    parser.add_argument("--secret-key", default="bearer_token", help="key of the token in the JSON secret")
    parser.add_argument("--endpoint-url", default=os.environ.get("CONVICTION_AWS_ENDPOINT"),
                        help="AWS endpoint (the local emulator); env CONVICTION_AWS_ENDPOINT")
    parser.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    parser.add_argument("--api-base", default=DEFAULT_API_BASE, help="stream API origin (tests: a fake server)")
    parser.add_argument("--flush-every", type=int, default=500, help="flush after this many buffered rows")
    parser.add_argument("--flush-seconds", type=float, default=60.0, help="... or after this many seconds")
    parser.add_argument("--max-seconds", type=float, default=3600.0, help="stop (flushing) after this long")
    parser.add_argument("--max-tweets", type=int, default=0, help="stop after this many new rows (0: no limit)")
    parser.add_argument("--backfill-minutes", type=int, default=0, choices=range(0, 6),
                        help="ask the API to re-deliver this many minutes on (re)connect (Pro/Enterprise)")
    parser.add_argument("--rule-max-length", type=int, default=512)
    parser.add_argument("--rule-suffix", default=DEFAULT_RULE_SUFFIX)
    parser.add_argument("--no-sync-rules", action="store_true", help="use the rules already on the stream")
    parser.add_argument("--read-timeout", type=float, default=21.0, help="seconds without a byte (keep-alive: 20s)")
    parser.add_argument("--max-retries", type=int, default=50)
    parser.add_argument("--backoff-scale", type=float, default=1.0, help="multiply tweepy's reconnect waits")
    parser.add_argument("--dedupe-days", type=int, default=2, help="date partitions read back for de-duplication")
    parser.add_argument("--no-metrics", action="store_true", help="skip the CloudWatch TweetsIngested metric")
    parser.add_argument("--metrics-file", default=None, help="write the run's figures here (JSON)")
    parser.add_argument("--spill-dir", default=str(DEFAULT_SPILL_DIR),
                        help="local folder for rows the output will not take (full or read-only disk, S3 down); "
                             "default %(default)s, under the system temp dir so it is on another path than "
                             "the output. Same date=/ticker= layout: move the files back into the output with "
                             "a plain copy. Anything spilled makes the exit code 3; rows "
                             "neither could take, 4")
    parser.add_argument("--write-attempts", type=int, default=3, help="tries per partition file before a flush "
                                                                         "counts as failed")
    parser.add_argument("--write-backoff", type=float, default=0.2, help="first wait between tries (doubles, 2 s max)")
    parser.add_argument("--spill-after", type=int, default=3,
                        help="failed flushes in a row (rows kept in memory) before spilling; the last flush "
                             "always spills what the output refuses")
    parser.add_log_format()
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # after parsing: --help answers without tweepy, aiohttp, polars and pandas
    from steps.common.secrets import Secret, SecretStore
    from steps.ingest.client import Backoff
    from steps.ingest.rules import build_rules
    from steps.ingest.run import IngestSettings, ingest, read_universe
    from steps.ingest.sinks import LocalSink, open_sink
    from steps.ingest.writer import PartitionedTweetWriter

    logger = get_logger("ingest", args.log_format)
    # tweepy/aiohttp log request details at DEBUG; keep them at WARNING whatever the root level is.
    for name in ("tweepy", "aiohttp"):
        logging.getLogger(name).setLevel(logging.WARNING)

    def aws(service: str):
        from steps.common.aws import bounded_client

        return bounded_client(service, region=args.region, endpoint_url=args.endpoint_url)

    token: Secret = SecretStore(region=args.region, endpoint_url=args.endpoint_url).get(args.secret_id,
                                                                                        args.secret_key)
    universe = read_universe(args.universe)
    rules = build_rules(sorted(universe), max_length=args.rule_max_length, suffix=args.rule_suffix)
    sink = open_sink(args.output, s3_client_factory=lambda: aws("s3"))
    spill = LocalSink(args.spill_dir)
    writer = PartitionedTweetWriter(sink, flush_every=args.flush_every, flush_seconds=args.flush_seconds,
                                    logger=logger, spill=spill, write_attempts=args.write_attempts,
                                    write_backoff=args.write_backoff, spill_after=args.spill_after)
    loaded = writer.load_existing(args.dedupe_days)
    logger.info("universe %d tickers, %d rules, %d rows already written (dedupe)", len(universe), len(rules), loaded)
    settings = IngestSettings(
        api_base=args.api_base, flush_every=args.flush_every, flush_seconds=args.flush_seconds,
        max_seconds=args.max_seconds, max_tweets=args.max_tweets, backfill_minutes=args.backfill_minutes,
        read_timeout=args.read_timeout, max_retries=args.max_retries, backoff=Backoff(scale=args.backoff_scale),
        dedupe_days=args.dedupe_days, sync_rules=not args.no_sync_rules,
    )
    cloudwatch = None if args.no_metrics else aws("cloudwatch")
    figures = asyncio.run(ingest(token, writer, universe, rules, settings, logger=logger, cloudwatch=cloudwatch))
    figures["rows_loaded_for_dedupe"] = loaded
    logger.info("ingest done: %s", json.dumps({k: v for k, v in figures.items() if k != "per_ticker"}))
    _write_metrics(figures, args, sink, spill, writer.run_id, logger)
    if figures["rows_not_durable"]:
        print(f"ingest: {figures['rows_not_durable']} rows could not be written to {args.output} nor spilled to "
              f"{spill.root} ({writer.last_error}); {figures['rows_spilled']} rows are in {spill.root}",
              file=sys.stderr)
        return EXIT_NOT_DURABLE
    if figures["rows_spilled"]:
        back = (f"aws s3 cp --recursive --exclude '_metrics/*' {spill.root} {args.output}"
                if args.output.startswith("s3://") else f"cp -rn {spill.root}/. {sink.root}/")
        print(f"ingest: {figures['rows_spilled']} rows in {figures['files_spilled']} files spilled to {spill.root} "
              f"because {args.output} failed ({writer.last_error}); move them back with: {back}", file=sys.stderr)
        return EXIT_SPILLED
    return 0


def _write_metrics(figures, args, sink, spill: LocalSink, run_id: str, logger: logging.Logger) -> None:
    """The run's figures go where asked (default: the local output's `_metrics/`); if that write fails (the
    disk that refused the rows), to the spill folder's `_metrics/`."""
    from steps.common.io import write_json
    from steps.ingest.sinks import LocalSink

    key = f"_metrics/ingest-{run_id}.json"
    body = (json.dumps(figures, indent=2, default=str) + "\n").encode()
    try:
        if args.metrics_file:
            write_json(figures, args.metrics_file)
            return
        if isinstance(sink, LocalSink):
            sink.write(key, body)
            return
    except OSError as exc:
        logger.warning("metrics file failed (%s: %s); writing it to %s", type(exc).__name__, exc,
                       spill.describe(key))
    else:
        if not figures["rows_spilled"]:
            return  # S3 output and nothing spilled: no metrics file, as before
    spill.write(key, body)


if __name__ == "__main__":
    run_main(main)
