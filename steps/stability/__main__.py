"""`python -m steps.stability --features DIR --output DIR [--output-features DIR] [--baseline-output DIR]
[--floor 0.01] ...`.

SHAP stability selection over the walk-forward folds (see steps/stability/select.py for the scale and the
rules). Writes selected_features.json, stability_report.json, stability.svg and analysis.json (the SHAP
values in SageMaker Clarify's explainability format) to --output, with --output-features a copy of the
features folder whose manifest lists only the selected columns, and with --baseline-output Model
Monitor's statistics.json and constraints.json of the training rows over the selected columns.
Exit 0, or 2 on bad input.
"""

from __future__ import annotations

from collections.abc import Sequence

from steps.common.cli import StepArgumentParser, parse_bool, run_main
from steps.common.logging import get_logger
from steps.stability.rfe import RfeSettings
from steps.stability.run import run_stability
from steps.stability.select import StabilitySettings


def main(argv: Sequence[str] | None = None) -> int:
    defaults = StabilitySettings()
    parser = StepArgumentParser(prog="python -m steps.stability", description=__doc__)
    parser.add_argument("--features", required=True, help="the steps.features output folder")
    parser.add_argument("--output", required=True, help="report folder")
    parser.add_argument("--output-features", default=None, help="narrowed copy of the features folder")
    parser.add_argument("--baseline-output", default=None,
                        help="Model Monitor statistics.json and constraints.json of the selected columns")
    parser.add_argument("--floor", type=float, default=defaults.floor,
                        help="minimum mean share of total mean |SHAP| (0.01 = 1%%)")
    parser.add_argument("--max-rank-spread", type=float, default=defaults.max_rank_spread,
                        help="largest rank movement across folds, as a share of the feature count")
    parser.add_argument("--min-sign-correlation", type=float, default=defaults.min_sign_correlation)
    parser.add_argument("--min-validation-z", type=float, default=defaults.min_validation_z,
                        help="minimum agreement of a feature's SHAP values with validation labels (z score)")
    parser.add_argument("--min-features", type=int, default=defaults.min_features)
    parser.add_argument("--max-rows-per-fold", type=int, default=defaults.max_rows_per_fold,
                        help="validation rows explained per fold (train rows: 4x)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--rfe", type=parse_bool, default=False,
                        help="also run recursive feature elimination with walk-forward CV (a feature must pass both)")
    parser.add_argument("--rfe-step", type=float, default=RfeSettings.step,
                        help="share of the starting features RFE removes per round, in (0, 1)")
    parser.add_argument("--rfe-min-features", type=int, default=RfeSettings.min_features)
    parser.add_log_format()
    args = parser.parse_args(argv)
    settings = StabilitySettings(floor=args.floor, max_rank_spread=args.max_rank_spread,
                                 min_sign_correlation=args.min_sign_correlation,
                                 min_validation_z=args.min_validation_z, min_features=args.min_features,
                                 max_rows_per_fold=args.max_rows_per_fold, seed=args.seed)
    try:
        rfe = RfeSettings(enabled=args.rfe, step=args.rfe_step, min_features=args.rfe_min_features,
                          max_rows_per_fold=args.max_rows_per_fold, seed=args.seed)
    except ValueError as exc:
        parser.error(str(exc))
    run_stability(args.features, args.output, args.output_features, settings, get_logger("stability", args.log_format),
                  baseline_output=args.baseline_output, rfe=rfe)
    return 0


if __name__ == "__main__":
    run_main(main)
