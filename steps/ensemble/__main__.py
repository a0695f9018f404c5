"""`python -m steps.ensemble --models DIR --evaluations DIR --features DIR --output DIR [--margin 0.0]`.

Stacks the base models under `--models/<algorithm>/` (each the best tuning job's model.tar.gz) with a
regularised logistic regression on their out-of-fold predictions, scores the holdout, and writes
model.tar.gz, evaluation.json, holdout_predictions.parquet, smoke_rows.parquet and metrics.json.
"""

from __future__ import annotations

from collections.abc import Sequence

from steps.common.cli import StepArgumentParser, run_main
from steps.common.logging import get_logger
from steps.ensemble.run import run_ensemble
from steps.evaluate.signal import signal_settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = StepArgumentParser(prog="python -m steps.ensemble", description=__doc__.splitlines()[0])
    parser.add_argument("--models", required=True, help="folder of <algorithm>/ folders, each with model.tar.gz")
    parser.add_argument("--evaluations", required=True, help="folder of <algorithm>/evaluation.json")
    parser.add_argument("--features", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--margin", type=float, default=0.0,
                        help="the ensemble may sit this much below the best single model's AUC (negative: must lead)")
    parser.add_argument("--c", type=float, default=1.0, help="inverse L2 strength of the logistic meta-learner")
    parser.add_argument("--period", choices=["D", "W", "M"], default="W", help="AUC-by-period granularity")
    parser.add_argument("--smoke-rows", type=int, default=32, help="held-out rows kept for the deploy smoke test")
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backtest-quantile", type=float, default=0.2,
                        help="the backtest goes long the top and short the bottom quantile (0 < q <= 0.5)")
    parser.add_argument("--cost-bps", type=float, default=5.0, help="trading cost per unit traded, each side")
    parser.add_log_format()
    args = parser.parse_args(argv)
    if args.c <= 0:
        parser.error("--c must be > 0")
    signal = signal_settings(parser, args)
    logger = get_logger("ensemble", args.log_format)
    run_ensemble(args.models, args.evaluations, args.features, args.output, logger, margin=args.margin, c=args.c,
                 period=args.period, smoke_rows=args.smoke_rows, bootstrap=args.bootstrap, seed=args.seed,
                 signal=signal)
    return 0


if __name__ == "__main__":
    run_main(main)
