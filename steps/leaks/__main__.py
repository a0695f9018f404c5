"""`python -m steps.leaks --features DIR --bars DIR --tweets DIR --output DIR [--cutoffs 5] [--seed 0] [--strict]`.

Exit 0 whatever the checks find (the pipeline's ConditionStep reads leak_report.json), 1 on a leak with
--strict, 2 on bad input.
"""

from __future__ import annotations

from collections.abc import Sequence

from steps.common.cli import StepArgumentParser, parse_bool, run_main
from steps.common.logging import get_logger
from steps.leaks.run import run_leaks


def main(argv: Sequence[str] | None = None) -> int:
    parser = StepArgumentParser(prog="python -m steps.leaks", description=__doc__)
    parser.add_argument("--features", required=True)
    parser.add_argument("--bars", required=True)
    parser.add_argument("--tweets", default=None)
    parser.add_argument("--output", required=True)
    parser.add_argument("--cutoffs", type=int, default=5, help="random truncation instants")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--strict", nargs="?", const=True, default=False, type=parse_bool,
                        help="exit 1 when a leak is found (also --strict true/false)")
    parser.add_log_format()
    args = parser.parse_args(argv)
    logger = get_logger("leaks", args.log_format)
    report = run_leaks(args.features, args.bars, args.tweets, args.output, cutoffs=args.cutoffs,
                       seed=args.seed, logger=logger)
    if not report["passed"]:
        logger.error("leaks found: %s", ", ".join(c["name"] for c in report["checks"] if not c["passed"]))
        return 1 if args.strict else 0
    return 0


if __name__ == "__main__":
    run_main(main)
