"""`python -m steps.final_holdout --model DIR --features DIR --lockbox DIR --output DIR [--trials DIR]
[--settings JSON | --pbo-blocks 16 ...]`.

Opens the lockbox once (steps/final_holdout/run.py): scores the ensemble artifact of --model (steps.ensemble's
output) on the final holdout of --lockbox (steps.lockbox's output), beside the selection holdout's figures, and
counts the looks before it from the trials collected under --trials (`<algorithm>/`: each the last round's
Evaluate output, steps/evaluate/trials.py).
Writes evaluation.json, holdout_predictions.parquet and metrics.json. Exit 0, or 2 on bad input.
"""

from __future__ import annotations

from collections.abc import Sequence

from steps.common.cli import StepArgumentParser, run_main
from steps.common.logging import get_logger
from steps.common.settings import parse_step_arguments
from steps.final_holdout.settings import FinalHoldoutSettings


def main(argv: Sequence[str] | None = None) -> int:
    parser = StepArgumentParser(prog="python -m steps.final_holdout", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="steps.ensemble's output folder (model.tar.gz, evaluation.json)")
    parser.add_argument("--features", required=True, help="the sealed features (steps.lockbox --output-features)")
    parser.add_argument("--lockbox", required=True, help="the lockbox (steps.lockbox --output-lockbox)")
    parser.add_argument("--trials", default=None,
                        help="a folder per algorithm: its last round's Evaluate output, with the trials collected")
    parser.add_argument("--output", required=True)
    args, settings = parse_step_arguments(parser, FinalHoldoutSettings, argv)
    from steps.final_holdout.run import run_final_holdout  # after parsing: --help answers without the libraries

    run_final_holdout(args.model, args.features, args.lockbox, args.trials, args.output,
                      get_logger("final_holdout", args.log_format), settings)
    return 0


if __name__ == "__main__":
    run_main(main)
