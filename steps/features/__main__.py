"""`python -m steps.features`: the BuildFeatures processing step (docs/steps.md)."""

from __future__ import annotations

from collections.abc import Sequence

from steps.common.cli import StepArgumentParser, parse_bool, parse_int_list, run_main
from steps.common.logging import get_logger
from steps.features.run import run_features
from steps.features.settings import FeatureSettings


def parse_args(argv: Sequence[str] | None):
    parser = StepArgumentParser(prog="python -m steps.features", description=__doc__)
    parser.add_argument("--bars", required=True, help="bars folder or file (parquet, hive-partitioned, or CSV)")
    parser.add_argument("--tweets", default=None, help="scored tweets folder (may be empty or absent)")
    parser.add_argument("--output", required=True)
    parser.add_argument("--universe", default="configs/universe.csv",
                        help="ticker,sector CSV for the sector column (skipped if the file is absent)")
    parser.add_argument("--frequency", choices=["1min", "1d"], default="1min")
    parser.add_argument("--windows", type=parse_int_list, default=[5, 10, 60])
    parser.add_argument("--sample-every-bars", type=int, default=15)
    parser.add_argument("--label-horizon-bars", type=int, default=30)
    parser.add_argument("--label-dead-zone", type=float, default=0.0)
    parser.add_argument("--ingest-lag-seconds", type=float, default=60.0)
    parser.add_argument("--include-sentiment", type=parse_bool, default=True)
    parser.add_argument("--n-folds", type=int, default=4)
    parser.add_argument("--train-days", type=int, default=126)
    parser.add_argument("--validation-days", type=int, default=21)
    parser.add_argument("--embargo-bars", type=int, default=30)
    parser.add_argument("--holdout-days", type=int, default=21)
    parser.add_argument("--daily-window", type=int, default=10,
                        help="sessions in the window of the *_daily indicators (1-minute bars)")
    parser.add_argument("--resource-config", default="/opt/ml/config/resourceconfig.json",
                        help="SageMaker's host list; with several hosts this instance writes its shard")
    parser.add_log_format()
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logger = get_logger("features", args.log_format)
    settings = FeatureSettings(
        frequency=args.frequency, windows=tuple(args.windows), sample_every_bars=args.sample_every_bars,
        label_horizon_bars=args.label_horizon_bars, label_dead_zone=args.label_dead_zone,
        ingest_lag_seconds=args.ingest_lag_seconds, include_sentiment=args.include_sentiment,
        n_folds=args.n_folds, train_days=args.train_days, validation_days=args.validation_days,
        embargo_bars=args.embargo_bars, holdout_days=args.holdout_days, daily_window=args.daily_window,
    )
    run_features(args.bars, args.tweets, args.output, settings, universe=args.universe, logger=logger,
                 resource_config=args.resource_config)
    return 0


if __name__ == "__main__":
    run_main(main)
