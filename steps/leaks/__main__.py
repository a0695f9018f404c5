"""`python -m steps.leaks --features DIR --bars DIR [--tweets DIR] [--folds FILE] --output DIR [--strict]
[--baseline-output DIR]`.

Settings (steps/leaks/settings.py `LeakSettings`; `--help` lists them with defaults and bounds): the replay
(`--cutoffs 5 --truncation-tickers 8 --seed 0`), `--ticker-batches 1` (N > 1: ticker=X/ bar partitions read and
checked in N batches in turn, the same report in the memory of a batch plus the table, docs/leaks.md), the
screens' thresholds (`--max-single-feature-auc 0.75 --min-future-correlation 0.3 --max-future-to-past-correlation
3.0 --min-asymmetry-z 3.0`), and the contract:
the feature and fold settings as steps.features takes them (same names, same defaults). The pipeline passes
configs/pipeline.yaml's as `--settings JSON`; the checks use them, never the table's manifest, and
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
from steps.common.settings import parse_step_arguments
from steps.leaks.settings import LeakSettings


def main(argv: Sequence[str] | None = None) -> int:
    parser = StepArgumentParser(prog="python -m steps.leaks", description=__doc__)
    parser.add_argument("--features", required=True)
    parser.add_argument("--bars", required=True)
    parser.add_argument("--tweets", default=None)
    parser.add_argument("--folds", default=None, help="folds.json (default: the one in the features folder)")
    parser.add_argument("--output", required=True)
    parser.add_argument("--baseline-output", default=None,
                        help="also write Model Monitor's statistics.json and constraints.json of the training rows")
    parser.add_argument("--strict", nargs="?", const=True, default=False, type=parse_bool,
                        help="exit 1 when a leak is found (also --strict true/false)")
    args, settings = parse_step_arguments(parser, LeakSettings, argv)
    # after parsing: --help answers without polars, numba and sklearn
    from steps.leaks.asymmetry import AsymmetryThresholds
    from steps.leaks.checks.target_leakage import LeakThresholds
    from steps.leaks.run import run_leaks

    logger = get_logger("leaks", args.log_format)
    thresholds = LeakThresholds(settings.max_single_feature_auc, settings.min_future_correlation,
                                settings.max_future_to_past_correlation)
    report = run_leaks(args.features, args.bars, args.tweets, args.output, cutoffs=settings.cutoffs,
                       seed=settings.seed, logger=logger, truncation_tickers=settings.truncation_tickers,
                       folds_file=args.folds, thresholds=thresholds, baseline_output=args.baseline_output,
                       contract=settings.contract(),
                       asymmetry=AsymmetryThresholds(settings.min_future_correlation, settings.min_asymmetry_z),
                       ticker_batches=settings.ticker_batches)
    if not report["passed"]:
        logger.error("leaks found: %s", ", ".join(c["name"] for c in report["checks"] if not c["passed"]))
        return 1 if args.strict else 0
    return 0


if __name__ == "__main__":
    run_main(main)
