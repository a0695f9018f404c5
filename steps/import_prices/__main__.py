"""`python -m steps.import_prices --input SRC [--input SRC ...] --output DIR`: real daily OHLCV -> bars."""

from __future__ import annotations

from collections.abc import Sequence

from steps.common.cli import StepArgumentParser, parse_bool, run_main
from steps.common.clock_modes import CLOCK_MODES
from steps.common.logging import get_logger


def main(argv: Sequence[str] | None = None) -> int:
    parser = StepArgumentParser(prog="python -m steps.import_prices", description=__doc__)
    parser.add_argument("--input", action="append", required=True,
                        help="a CSV file, a folder of CSVs (one per ticker, named TICKER.csv, or long format with "
                             "a ticker/symbol column; OHLCV, close-only, or wide: Date,<TICKER>,<TICKER>,... closes), "
                             "or arch:sp500 / arch:nasdaq (prices shipped by `arch`)")
    parser.add_argument("--ticker", action="append", default=None,
                        help="the ticker of each --input, in the same order (a file without a ticker column is "
                             "otherwise named after its file name, with a warning)")
    parser.add_argument("--output", required=True, help="writes OUTPUT/bars/ (+ _universe.csv) and OUTPUT/tweets/")
    parser.add_argument("--sectors", default=None, help="a ticker,sector CSV: each ticker's sector")
    parser.add_argument("--sector", default="Unknown",
                        help="the sector of every ticker that --sectors does not name (all of them without it)")
    parser.add_argument("--adjust", type=parse_bool, default=True, help="scale OHLC by Adj Close / Close")
    parser.add_argument("--start", default=None, help="first date to keep (YYYY-MM-DD)")
    parser.add_argument("--end", default=None, help="last date to keep (YYYY-MM-DD)")
    parser.add_argument("--clock-check", choices=CLOCK_MODES, default="refuse",
                        help="daily bars whose New York dates fall on Sunday-Thursday (midnight-UTC timestamps read "
                             "in New York: every bar a day early): refuse, warn or off (default %(default)s)")
    parser.add_log_format()
    args = parser.parse_args(argv)
    from steps.import_prices.run import import_prices  # after parsing: --help answers without polars and pandas

    logger = get_logger("import_prices", args.log_format)
    summary = import_prices(args.input, args.output, sector=args.sector, adjust=args.adjust, start=args.start,
                            end=args.end, tickers=args.ticker, sectors_file=args.sectors, logger=logger,
                            clock_check=args.clock_check)
    logger.info("wrote %d daily bars for %s (%s .. %s) to %s", summary["bars"], ", ".join(summary["tickers"]),
                summary["start"], summary["end"], args.output)
    if summary["absent_inputs"]:
        logger.warning("no %s in the prices: steps.features will drop the features that need them",
                       ", ".join(summary["absent_inputs"]))
    return 0


if __name__ == "__main__":
    run_main(main)
