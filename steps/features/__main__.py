"""`python -m steps.features`: the BuildFeatures processing step (docs/steps.md)."""

from __future__ import annotations

from collections.abc import Sequence

from steps.common.cli import StepArgumentParser, run_main
from steps.common.logging import get_logger
from steps.common.resource_config import RESOURCE_CONFIG
from steps.common.settings import parse_step_arguments
from steps.features.settings import FeatureCommand, FeatureRun, FeatureSettings


def parse_args(argv: Sequence[str] | None):
    parser = StepArgumentParser(prog="python -m steps.features", description=__doc__)
    parser.add_argument("--bars", required=True, help="bars folder or file (parquet, hive-partitioned, or CSV)")
    parser.add_argument("--tweets", default=None, help="scored tweets folder (may be empty or absent)")
    parser.add_argument("--output", required=True)
    parser.add_argument("--universe", default="configs/universe.csv",
                        help="ticker,sector CSV for the sector column (skipped if the file is absent)")
    parser.add_argument("--resource-config", default=RESOURCE_CONFIG,
                        help="SageMaker's host list; with several hosts this instance writes its shard")
    return parse_step_arguments(parser, FeatureCommand, argv)


def main(argv: Sequence[str] | None = None) -> int:
    args, configured = parse_args(argv)
    from steps.features.run import run_features  # after parsing: --help answers without polars and numba

    logger = get_logger("features", args.log_format)
    settings = FeatureSettings(**configured.model_dump(exclude=set(FeatureRun.model_fields)))
    run_features(args.bars, args.tweets, args.output, settings, universe=args.universe, logger=logger,
                 resource_config=args.resource_config, ticker_batches=configured.ticker_batches,
                 clock_check=configured.clock_check)
    return 0


if __name__ == "__main__":
    run_main(main)
