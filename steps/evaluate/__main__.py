"""`python -m steps.evaluate --model DIR --features DIR --output DIR --algorithm xgboost [--settings JSON]`.

Settings: steps/evaluate/settings.py (`--help` lists them with defaults and bounds)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from steps.common.cli import StepArgumentParser, run_main
from steps.common.logging import get_logger
from steps.common.settings import parse_step_arguments
from steps.evaluate.settings import EvaluateSettings


def main(argv: Sequence[str] | None = None) -> int:
    parser = StepArgumentParser(prog="python -m steps.evaluate", description=__doc__)
    parser.add_argument("--model", required=True, help="folder with model.tar.gz or an extracted model folder")
    parser.add_argument("--features", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--algorithm", default=None, help="checked against the model's metadata")
    parser.add_argument("--trials", default=None,
                        help="the round's tuning trial archives: collect their out-of-fold predictions too")
    parser.add_argument("--earlier-trials", default=None, help="the previous round's Evaluate output (its trials)")
    parser.add_argument("--round", default="round-1", help="the round's name in the trial collection")
    parser.add_argument("--trials-completed", type=int, default=None,
                        help="trials the tuning job completed (TrainingJobStatusCounters.Completed)")
    args, settings = parse_step_arguments(parser, EvaluateSettings, argv)
    # after parsing: --help answers without sklearn and pandas
    from steps.evaluate.run import run_evaluation
    from steps.evaluate.trials import TrialsInput

    logger = get_logger("evaluate", args.log_format)
    trials = None
    if args.trials or args.earlier_trials:
        trials = TrialsInput(Path(args.trials) if args.trials else None,
                             Path(args.earlier_trials) if args.earlier_trials else None, args.round,
                             args.trials_completed)
    run_evaluation(args.model, args.features, args.output, args.algorithm, logger, bootstrap=settings.bootstrap,
                   seed=settings.seed, suspicious_auc=settings.suspicious_auc, min_auc=settings.min_auc,
                   signal=settings.backtest, trials=trials)
    return 0


if __name__ == "__main__":
    run_main(main)
