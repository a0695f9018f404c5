"""`python -m steps.sample_data`: write a generated market (see generator.py)."""

from __future__ import annotations

from collections.abc import Sequence

from steps.common.cli import StepArgumentParser, run_main
from steps.common.io import write_metrics
from steps.common.logging import StepTimer, get_logger
from steps.sample_data.generator import generate_market
from steps.sample_data.writer import load_universe, write_market


def _tickers(value: str) -> int | str:
    return "all" if value == "all" else int(value)


def parse_args(argv: Sequence[str] | None) -> object:
    parser = StepArgumentParser(prog="python -m steps.sample_data", description=__doc__)
    parser.add_argument("--output", required=True)
    parser.add_argument("--days", type=int, default=40)
    parser.add_argument("--tickers", type=_tickers, default="all", help="first N tickers of the universe, or all")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--frequency", choices=["1min", "1d"], default="1min")
    parser.add_argument("--universe", default="configs/universe.csv")
    parser.add_argument("--start", default="2025-01-02")
    parser.add_argument("--metrics-dir", default=None, help="where metrics.json goes (default: --output)")
    parser.add_log_format()
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logger = get_logger("sample_data", args.log_format)
    timer = StepTimer(logger)
    universe = load_universe(args.universe, args.tickers)
    with timer.block("generate"):
        market = generate_market(universe, days=args.days, seed=args.seed, start=args.start,
                                 frequency=args.frequency)
    with timer.block("write"):
        counts = write_market(market, args.output)
    logger.info("wrote %d bars and %d tweets for %d tickers to %s", counts["bars"], counts["tweets"],
                len(universe), args.output)
    write_metrics(args.metrics_dir or args.output, {"timings_s": timer.as_metrics(), "rows": counts,
                                                    "tickers": len(universe), "days": args.days})
    return 0


if __name__ == "__main__":
    run_main(main)
