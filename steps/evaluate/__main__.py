"""`python -m steps.evaluate --model DIR --features DIR --output DIR --algorithm xgboost`."""

from __future__ import annotations

from collections.abc import Sequence

from steps.common.cli import StepArgumentParser, run_main
from steps.common.logging import get_logger
from steps.evaluate.run import run_evaluation
from steps.evaluate.signal import signal_settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = StepArgumentParser(prog="python -m steps.evaluate", description=__doc__)
    parser.add_argument("--model", required=True, help="folder with model.tar.gz or an extracted model folder")
    parser.add_argument("--features", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--algorithm", default=None, help="checked against the model's metadata")
    parser.add_argument("--bootstrap", type=int, default=200, help="day-block bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--suspicious-auc", type=float, default=0.70,
                        help="flag a holdout AUC above this as a likely leak (default 0.70)")
    parser.add_argument("--min-auc", type=float, default=None,
                        help="the model gate: flag the latest holdout week when its AUC falls below it")
    parser.add_argument("--backtest-quantile", type=float, default=0.2,
                        help="the backtest goes long the top and short the bottom quantile (0 < q <= 0.5)")
    parser.add_argument("--cost-bps", type=float, default=5.0, help="trading cost per unit traded, each side")
    parser.add_log_format()
    args = parser.parse_args(argv)
    signal = signal_settings(parser, args)
    logger = get_logger("evaluate", args.log_format)
    run_evaluation(args.model, args.features, args.output, args.algorithm, logger, bootstrap=args.bootstrap,
                   seed=args.seed, suspicious_auc=args.suspicious_auc, min_auc=args.min_auc, signal=signal)
    return 0


if __name__ == "__main__":
    run_main(main)
