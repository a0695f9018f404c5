"""`python -m steps.ensemble --models DIR --evaluations DIR --features DIR --output DIR [--margin 0.0]`.

Stacks the base models under `--models/<algorithm>/` (each the best tuning job's model.tar.gz) with a
regularised logistic regression on their out-of-fold predictions, scores the holdout, and writes
model.tar.gz, evaluation.json, holdout_predictions.parquet, smoke_rows.parquet and metrics.json.
"""

from __future__ import annotations

from collections.abc import Sequence

from steps.common.cli import StepArgumentParser, run_main
from steps.common.logging import get_logger
from steps.common.settings import parse_step_arguments
from steps.ensemble.settings import EnsembleSettings


def main(argv: Sequence[str] | None = None) -> int:
    parser = StepArgumentParser(prog="python -m steps.ensemble", description=__doc__.splitlines()[0])
    parser.add_argument("--models", required=True, help="folder of <algorithm>/ folders, each with model.tar.gz")
    parser.add_argument("--evaluations", required=True, help="folder of <algorithm>/evaluation.json")
    parser.add_argument("--features", required=True)
    parser.add_argument("--output", required=True)
    args, settings = parse_step_arguments(parser, EnsembleSettings, argv)
    from steps.ensemble.run import run_ensemble  # after parsing: --help answers without sklearn

    logger = get_logger("ensemble", args.log_format)
    run_ensemble(args.models, args.evaluations, args.features, args.output, logger, margin=settings.margin,
                 c=settings.c, period=settings.period, smoke_rows=settings.smoke_rows, bootstrap=settings.bootstrap,
                 seed=settings.seed, signal=settings.backtest)
    return 0


if __name__ == "__main__":
    run_main(main)
