"""`python -m steps.import_prices --input SRC [--input SRC ...] --output DIR`: real daily OHLCV -> bars."""

from __future__ import annotations

from collections.abc import Sequence

from steps.common.cli import StepArgumentParser, parse_bool, run_main
from steps.common.logging import get_logger
from steps.import_prices.run import import_prices


def main(argv: Sequence[str] | None = None) -> int:
    parser = StepArgumentParser(prog="python -m steps.import_prices", description=__doc__)
    parser.add_argument("--input", action="append", required=True,
                        help="a CSV file, a folder of CSVs (one per ticker, named TICKER.csv, or long format with "
                             "a ticker/symbol column), or arch:sp500 / arch:nasdaq (prices shipped by `arch`)")
    parser.add_argument("--output", required=True, help="writes OUTPUT/bars/ (+ _universe.csv) and OUTPUT/tweets/")
    parser.add_argument("--sector", default="Unknown", help="sector written to _universe.csv for every ticker")
    parser.add_argument("--adjust", type=parse_bool, default=True, help="scale OHLC by Adj Close / Close")
    parser.add_argument("--start", default=None, help="first date to keep (YYYY-MM-DD)")
    parser.add_argument("--end", default=None, help="last date to keep (YYYY-MM-DD)")
    parser.add_log_format()
    args = parser.parse_args(argv)
    logger = get_logger("import_prices", args.log_format)
    summary = import_prices(args.input, args.output, sector=args.sector, adjust=args.adjust, start=args.start,
                            end=args.end, logger=logger)
    logger.info("wrote %d daily bars for %s (%s .. %s) to %s", summary["bars"], ", ".join(summary["tickers"]),
                summary["start"], summary["end"], args.output)
    return 0


if __name__ == "__main__":
    run_main(main)
