"""`python -m steps.live`: score bars and tweets as they arrive, with the training table's features.

    python -m steps.live --features runs/<run>/features --bars BARS --tweets TWEETS \\
        --serve-url http://127.0.0.1:8080 --model-package-arn ARN --score-from 2025-02-03 --output scores/
    python -m steps.live --features ... --follow FEED_DIR [--bars HISTORY --tweets HISTORY] \\
        --endpoint conviction-ensemble-v5-... [--endpoint-url http://127.0.0.1:5000] --output scores/

Replay (--bars without --follow): the recorded history in arrival order; scores from --score-from on.
Follow (--follow DIR): the history (if given) warms the engine up unscored, then new files in DIR/bars and
DIR/tweets are taken as they appear, until --idle-s seconds pass without one.
The features' manifest.json gives the feature settings (ingest lag, windows, absent inputs), the sectors and
the columns the model takes, so the live rows are built exactly as the training rows were.
Exit 2 with one line on bad input or a model that refuses; scores already written stay complete. Follow:
a feed file that cannot be read or fails validation is moved to DIR/rejected/ with its reason and the loop
goes on; the run then exits 3, naming the first one.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from steps.common.cli import StepArgumentParser, run_main
from steps.common.errors import StepError, StepInputError


class RejectedFiles(StepError):
    """The follower scored every valid delivery and set some files aside: exit 3, not 2 (nothing was refused
    outright) and not 0 (someone must look at rejected/)."""

    exit_code = 3


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = StepArgumentParser(prog="python -m steps.live", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", required=True, help="the training features folder (its manifest.json)")
    parser.add_argument("--bars", help="bars to replay (file or folder); with --follow, the warm-up history")
    parser.add_argument("--tweets", help="scored tweets to replay (file or folder)")
    parser.add_argument("--follow", help="a folder with bars/ and tweets/ that the feeds write parquet files into")
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--serve-url", help="a running `python -m steps.serve`, e.g. http://127.0.0.1:8080")
    model.add_argument("--endpoint", help="a SageMaker endpoint name (boto3 sagemaker-runtime InvokeEndpoint)")
    parser.add_argument("--endpoint-url", help="the runtime API's URL (the emulator's, e.g. http://127.0.0.1:5000)")
    parser.add_argument("--region", default=None)
    parser.add_argument("--model-package-arn", default="local", help="written beside every score")
    parser.add_argument("--model-columns", help="comma-separated columns the model takes (default: the table's)")
    parser.add_argument("--score-from", help="UTC time; earlier decision times only warm the engine up")
    parser.add_argument("--output", required=True)
    parser.add_argument("--poll-s", type=float, default=0.5)
    parser.add_argument("--idle-s", type=float, default=60.0, help="follow: stop after this long without a file")
    parser.add_argument("--max-files", type=int, default=None, help="follow: stop after this many files")
    parser.add_log_format()
    args = parser.parse_args(argv)
    if args.follow is None and args.bars is None:
        parser.error("pass --bars to replay, or --follow DIR to score a feed")
    if not 0 < args.poll_s <= 60 or not args.idle_s > 0 or (args.max_files is not None and args.max_files < 1):
        parser.error("--poll-s must be in (0, 60], --idle-s > 0, --max-files >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import pandas as pd

    from steps.common.io import clear_outputs
    from steps.common.logging import get_logger
    from steps.features.engine import FeatureEngine
    from steps.features.inputs import load_inputs
    from steps.live.model_client import EndpointModel, HttpModel
    from steps.live.scorer import (
        REJECTED_DIR,
        SCORES_FILE,
        SUMMARY_FILE,
        DayScores,
        FolderFollower,
        LiveScorer,
        replay,
        write_scores,
        write_summary,
    )
    from steps.live.training import load_training_manifest

    logger = get_logger("live", args.log_format)
    output = Path(args.output)
    if not args.follow:
        clear_outputs(output, [SCORES_FILE, SUMMARY_FILE])  # first: a run that fails leaves no earlier scores
    training = load_training_manifest(Path(args.features), args.model_columns)
    if args.serve_url:
        model = HttpModel(args.serve_url)
    else:
        from steps.common.aws import bounded_client

        client = bounded_client("sagemaker-runtime", endpoint_url=args.endpoint_url, region=args.region)
        model = EndpointModel(args.endpoint, client)
    score_from = None
    if args.score_from:
        try:
            score_from = pd.Timestamp(args.score_from)
        except ValueError:
            raise StepInputError(f"{args.score_from!r} is not a time", column="--score-from",
                                 fix="pass an ISO time such as 2025-02-03T14:30Z") from None
        score_from = score_from.tz_localize("UTC") if score_from.tzinfo is None else score_from.tz_convert("UTC")
    tickers = list(training.sectors) if training.sectors else None
    engine = FeatureEngine(training.settings, training.sectors, expected=tickers)

    day_scores = DayScores(output)

    scorer = LiveScorer(engine, model, training.columns, args.model_package_arn, score_from,
                        on_scores=day_scores.save if args.follow else None, keep_scores=not args.follow)
    if args.bars:
        inputs = load_inputs(args.bars, args.tweets, include_sentiment=training.settings.include_sentiment,
                             sectors=training.sectors, logger=logger, frequency=training.settings.frequency)
        training.check_bars(inputs.bars.columns, args.bars)
        if args.follow:
            scorer.score_from = pd.Timestamp.max.tz_localize("UTC")  # history: warm-up only
        replay(scorer, inputs.bars, inputs.tweets, training.settings)
        scorer.score_from = score_from
    if args.follow:
        known = set(training.sectors) if training.sectors else None
        follower = FolderFollower(Path(args.follow), known, args.poll_s, args.idle_s, args.max_files,
                                  required_bar_columns=training.required_bar_inputs())
        follower.follow(scorer, logger)
        rejected = follower.rejected
        feed = {"quarantined_feed_rows": follower.quarantined_rows, "quarantined_feed": follower.quarantined,
                "duplicate_files": follower.duplicate_files, "duplicate_tweets": follower.duplicate_tweets}
    else:
        write_scores(scorer.table(), output)
        rejected, feed = [], {"quarantined_feed_rows": 0}
    write_summary(output, scorer, {"model_package_arn": args.model_package_arn, "rejected_files": rejected, **feed})
    logger.info("scored %d decision times into %s", len(scorer.decision_seconds), output)
    if rejected:
        raise RejectedFiles(f"{len(rejected)} feed file(s) rejected, first {rejected[0]['file']}: "
                            f"{rejected[0]['reason']} (moved to {Path(args.follow) / REJECTED_DIR}; every valid "
                            "file was scored)")
    lost = {"bar(s) older than their ticker's newest (dropped)": engine.dropped_bars,
            "feed row(s) stamped ahead of the feed's clock (quarantined)": feed["quarantined_feed_rows"],
            "row(s) with a non-finite feature (not scored)": scorer.quarantined_rows}
    if any(lost.values()):
        said = ", ".join(f"{count} {what}" for what, count in lost.items() if count)
        raise RejectedFiles(f"{args.follow or args.bars}: {said}; every other row was scored (see "
                            f"{output / SUMMARY_FILE}); fix: look at the feed's clock and the quarantined rows")
    return 0


if __name__ == "__main__":
    run_main(main)
