"""`python -m steps.stability --features DIR --output DIR [--output-features DIR] [--baseline-output DIR]
[--settings JSON | --floor 0.01 ... --rfe-enabled true ...]` (steps/stability/settings.py; `--help` lists them).

SHAP stability selection over the walk-forward folds (see steps/stability/select.py for the scale and the
rules). Writes selected_features.json, stability_report.json, stability.svg and analysis.json (the SHAP
values in SageMaker Clarify's explainability format) to --output, with --output-features a copy of the
features folder whose manifest lists only the selected columns, and with --baseline-output Model
Monitor's statistics.json and constraints.json of the training rows over the selected columns.
Exit 0, or 2 on bad input.
"""

from __future__ import annotations

from collections.abc import Sequence

from steps.common.cli import StepArgumentParser, run_main
from steps.common.logging import get_logger
from steps.common.settings import parse_step_arguments
from steps.stability.settings import StabilitySettings


def main(argv: Sequence[str] | None = None) -> int:
    parser = StepArgumentParser(prog="python -m steps.stability", description=__doc__)
    parser.add_argument("--features", required=True, help="the steps.features output folder")
    parser.add_argument("--output", required=True, help="report folder")
    parser.add_argument("--output-features", default=None, help="narrowed copy of the features folder")
    parser.add_argument("--baseline-output", default=None,
                        help="Model Monitor statistics.json and constraints.json of the selected columns")
    args, settings = parse_step_arguments(parser, StabilitySettings, argv)
    # after parsing: --help answers without shap, xgboost and sklearn
    from steps.stability.rfe import RfeSettings
    from steps.stability.run import run_stability

    run_stability(args.features, args.output, args.output_features, settings, get_logger("stability", args.log_format),
                  baseline_output=args.baseline_output, rfe=RfeSettings.from_settings(settings))
    return 0


if __name__ == "__main__":
    run_main(main)
