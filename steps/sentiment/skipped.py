"""`python -m steps.sentiment.skipped --output DIR`: an empty FinGPT scores folder, marked as skipped.

The FinBERT step reads FinGPT's scores from a per-execution S3 prefix. A processing input whose prefix
holds no object fails the job, so when UseFinGPT is false this tiny job writes the `_SKIPPED` marker
there instead (readers skip `_` files), and the FinBERT step scores alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from steps.common.cli import StepArgumentParser, run_main
from steps.common.io import write_text


def main(argv: Sequence[str] | None = None) -> int:
    parser = StepArgumentParser(prog="python -m steps.sentiment.skipped", description=__doc__)
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    write_text("FinGPT was not run for this execution (UseFinGPT=false)\n", Path(args.output) / "_SKIPPED")
    return 0


if __name__ == "__main__":
    run_main(main)
