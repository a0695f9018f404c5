"""`python -m steps.leaks --features DIR --bars DIR [--tweets DIR] [--folds FILE] --output DIR [--strict]
[--baseline-output DIR]`.

Options: `--cutoffs 5 --seed 0` (truncation instants), `--max-single-feature-auc 0.75
--min-future-correlation 0.3 --max-future-to-past-correlation 3.0` (the target-leakage screen),
`--min-asymmetry-z 3.0` (past_future_asymmetry, with the same correlation floor).

The contract: the feature and fold settings as steps.features takes them (`--frequency --windows
--sample-every-bars --label-horizon-bars --label-dead-zone --ingest-lag-seconds --include-sentiment
--n-folds --train-days --validation-days --embargo-bars --holdout-days --daily-window`, same defaults). The
pipeline passes configs/pipeline.yaml's; the checks use them, never the table's manifest, and
settings_contract fails when the manifest records anything else.

`--baseline-output DIR`: also write the data-quality baseline of the training rows there (Model Monitor's
statistics.json and constraints.json, steps/features/baseline.py).

Exit 0 whatever the checks find (the pipeline's ConditionStep reads leak_report.json), 1 on a leak with
--strict, 2 on bad input.
"""

from __future__ import annotations

from collections.abc import Sequence

from steps.common.cli import StepArgumentParser, parse_bool, run_main
from steps.common.logging import get_logger
from steps.features.arguments import add_settings_arguments, settings_from_args
from steps.leaks.asymmetry import AsymmetryThresholds
from steps.leaks.checks import LeakThresholds
from steps.leaks.run import run_leaks


def main(argv: Sequence[str] | None = None) -> int:
    parser = StepArgumentParser(prog="python -m steps.leaks", description=__doc__)
    parser.add_argument("--features", required=True)
    parser.add_argument("--bars", required=True)
    parser.add_argument("--tweets", default=None)
    parser.add_argument("--folds", default=None, help="folds.json (default: the one in the features folder)")
    parser.add_argument("--output", required=True)
    parser.add_argument("--baseline-output", default=None,
                        help="also write Model Monitor's statistics.json and constraints.json of the training rows")
    parser.add_argument("--cutoffs", type=int, default=5, help="random truncation instants")
    parser.add_argument("--truncation-tickers", type=int, default=8,
                        help="tickers sampled for the truncation check (0: all); the other checks see every row")
    parser.add_argument("--seed", type=int, default=0)
    defaults = LeakThresholds()
    parser.add_argument("--max-single-feature-auc", type=float, default=defaults.max_single_feature_auc,
                        help="flag a feature whose AUC alone lies outside [1 - a, a]")
    parser.add_argument("--min-future-correlation", type=float, default=defaults.min_future_correlation,
                        help="flag a feature whose |rank corr| with the forward return is at least this ...")
    parser.add_argument("--max-future-to-past-correlation", type=float,
                        default=defaults.max_future_to_past_correlation,
                        help="... and more than this many times its |rank corr| with the past return")
    parser.add_argument("--min-asymmetry-z", type=float, default=AsymmetryThresholds().min_asymmetry_z,
                        help="flag a feature whose future-return correlation (>= --min-future-correlation) exceeds "
                             "its past-return correlation by this many standard errors")
    add_settings_arguments(parser)
    parser.add_argument("--strict", nargs="?", const=True, default=False, type=parse_bool,
                        help="exit 1 when a leak is found (also --strict true/false)")
    parser.add_log_format()
    args = parser.parse_args(argv)
    logger = get_logger("leaks", args.log_format)
    thresholds = LeakThresholds(args.max_single_feature_auc, args.min_future_correlation,
                                args.max_future_to_past_correlation)
    report = run_leaks(args.features, args.bars, args.tweets, args.output, cutoffs=args.cutoffs,
                       seed=args.seed, logger=logger, truncation_tickers=args.truncation_tickers,
                       folds_file=args.folds, thresholds=thresholds, baseline_output=args.baseline_output,
                       contract=settings_from_args(args),
                       asymmetry=AsymmetryThresholds(args.min_future_correlation, args.min_asymmetry_z))
    if not report["passed"]:
        logger.error("leaks found: %s", ", ".join(c["name"] for c in report["checks"] if not c["passed"]))
        return 1 if args.strict else 0
    return 0


if __name__ == "__main__":
    run_main(main)
