"""`python -m steps.lockbox --features DIR --output-features DIR --output-lockbox DIR`.

Seals the final holdout (the lockbox) away from the features folder that the rounds read (steps/lockbox/seal.py):
--output-features gets every row before it whose label also ends before it, --output-lockbox the rest. The
features must have been built with --final-holdout-days > 0. Exit 0, or 2 on bad input.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from steps.common.cli import StepArgumentParser, run_main
from steps.common.logging import get_logger


def main(argv: Sequence[str] | None = None) -> int:
    parser = StepArgumentParser(prog="python -m steps.lockbox", description=__doc__.splitlines()[0])
    parser.add_argument("--features", required=True, help="the steps.features output folder (every row)")
    parser.add_argument("--output-features", required=True, help="the sealed features folder the rounds read")
    parser.add_argument("--output-lockbox", required=True, help="the lockbox folder, read by steps.final_holdout")
    parser.add_log_format()
    args = parser.parse_args(argv)
    # Imported after parsing: --help answers without pandas.
    from steps.features.table import load_feature_table
    from steps.lockbox.seal import seal

    logger = get_logger("lockbox", args.log_format)
    seal(load_feature_table(args.features), Path(args.output_features), Path(args.output_lockbox), logger)
    return 0


if __name__ == "__main__":
    run_main(main)
