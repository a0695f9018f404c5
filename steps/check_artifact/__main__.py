"""`python -m steps.check_artifact --model DIR --features DIR --evaluation DIR --output DIR`.

Writes check_report.json {"passed", "rows", "max_abs_diff", "summary"}. Exit 0 when the artifact
reproduces the evaluation's holdout predictions exactly; 1 when it does not (so nothing downstream,
Register included, runs on a broken artifact; `--fail-on-mismatch false` leaves that to a condition);
2 on bad input.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from steps.common.cli import StepArgumentParser, parse_bool, run_main
from steps.common.logging import get_logger


def main(argv: Sequence[str] | None = None) -> int:
    parser = StepArgumentParser(prog="python -m steps.check_artifact", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="folder holding model.tar.gz (or the archive itself)")
    parser.add_argument("--features", required=True)
    parser.add_argument("--evaluation", required=True, help="steps.ensemble's output folder")
    parser.add_argument("--output", required=True)
    parser.add_argument("--tolerance", type=float, default=0.0, help="largest |difference| allowed (default exact)")
    parser.add_argument("--fail-on-mismatch", type=parse_bool, default=True)
    parser.add_log_format()
    args = parser.parse_args(argv)
    from steps.check_artifact.run import run_check  # after parsing: --help answers without pandas

    logger = get_logger("check_artifact", args.log_format)
    report = run_check(args.model, args.features, args.evaluation, args.output, logger, tolerance=args.tolerance)
    if not report["passed"] and args.fail_on_mismatch:
        print(f"error: {report['summary']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    run_main(main)
