"""`python -m steps.sample_data`: write a generated market (see generator.py)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from steps.common.cli import StepArgumentParser, run_main
from steps.common.errors import StepConfigError
from steps.common.logging import StepTimer, get_logger
from steps.sample_data.defaults import BY_TICKER_BARS, MINUTES_PER_SESSION, TWEET_RATE_PER_MINUTE


def _tickers(value: str) -> int | str:
    return "all" if value == "all" else int(value)


# Named sizes: tiny for unit tests, quick for `--profile quick`, full for benchmarks/bench_features.py
# (56 tickers x 252 days of minute bars = ~5.5 M bars; the tweet rate raised to give ~1 M tweets); 2y and 5y
# for benchmarks/bench_scale.py (11 M and 27.5 M bars, written one ticker at a time: by_ticker.py).
SIZES: dict[str, dict[str, object]] = {
    "tiny": {"days": 10, "tickers": 4},
    "small": {"days": 30, "tickers": 8},
    "quick": {"days": 40, "tickers": "all"},
    "full": {"days": 252, "tickers": "all", "tweet_rate": 0.2},
    "2y": {"days": 504, "tickers": "all", "tweet_rate": 0.2},
    "5y": {"days": 1260, "tickers": "all", "tweet_rate": 0.2},
}


def parse_args(argv: Sequence[str] | None) -> object:
    parser = StepArgumentParser(prog="python -m steps.sample_data", description=__doc__)
    parser.add_argument("--output", required=True)
    parser.add_argument("--size", choices=sorted(SIZES), default=None,
                        help="a named size (days, tickers, tweet rate); explicit --days/--tickers win")
    parser.add_argument("--days", type=int, default=None, help="trading days (default 40)")
    parser.add_argument("--tickers", type=_tickers, default=None,
                        help="first N tickers of the universe, or all (default all)")
    parser.add_argument("--tweet-rate", type=float, default=None,
                        help=f"tweets per ticker-minute before the |return| boost (default "
                             f"{TWEET_RATE_PER_MINUTE})")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--signal", type=float, default=None,
                        help="strength of the planted signal (drift and reversal) as a multiple of the default: "
                             "1 = the default market (byte-identical), 0 = a null market whose labels are "
                             "independent of every input (generator.py)")
    parser.add_argument("--frequency", choices=["1min", "1d"], default="1min")
    parser.add_argument("--universe", default="configs/universe.csv")
    parser.add_argument("--start", default="2025-01-02")
    parser.add_argument("--by-ticker", action="store_true",
                        help=f"generate and write one ticker at a time (memory of one ticker; automatic above "
                             f"{BY_TICKER_BARS:,} bars; a different sample of the same model, see by_ticker.py)")
    parser.add_argument("--metrics-dir", default=None, help="where metrics.json goes (default: --output)")
    parser.add_log_format()
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # after parsing: --help answers without numpy, pandas and scipy
    from steps.common.io import write_metrics
    from steps.sample_data.by_ticker import write_market_by_ticker
    from steps.sample_data.generator import MarketParams, generate_market
    from steps.sample_data.writer import load_universe, write_market

    size = SIZES.get(args.size or "", {})
    args.days = args.days if args.days is not None else int(size.get("days", 40))  # type: ignore[arg-type]
    args.tickers = args.tickers if args.tickers is not None else size.get("tickers", "all")
    tweet_rate = args.tweet_rate if args.tweet_rate is not None else size.get("tweet_rate")
    params = MarketParams(tweet_rate_per_minute=float(tweet_rate)) if tweet_rate is not None else None  # type: ignore[arg-type]
    logger = get_logger("sample_data", args.log_format)
    timer = StepTimer(logger)
    if args.days < 1:  # numpy would fail deep in the generator with a traceback
        raise StepConfigError(f"--days {args.days} is below 1", file="command line", column="days",
                              fix="pass at least 1 trading day (or a --size)")
    if args.signal is not None:
        if not (math.isfinite(args.signal) and 0 <= args.signal <= 10):
            raise StepConfigError(f"--signal {args.signal} is outside 0..10", file="command line", column="signal",
                                  fix="pass 0 (a null market), 1 (the default) or a multiple in between")
        params = (params or MarketParams()).with_signal(args.signal)
        logger.info("planted signal x %g: signal_strength %g, reversal %g%s", args.signal, params.signal_strength,
                    params.reversal, " (NULL MARKET: labels independent of every input)" if params.is_null else "")
    universe = load_universe(args.universe, args.tickers)
    by_ticker = args.by_ticker or args.days * MINUTES_PER_SESSION * len(universe) > BY_TICKER_BARS
    if by_ticker:
        logger.info("writing one ticker at a time (%d tickers x %d days)", len(universe), args.days)
        with timer.block("generate_and_write"):
            counts = write_market_by_ticker(universe, args.output, days=args.days, seed=args.seed, start=args.start,
                                            frequency=args.frequency, params=params)
        logger.info("wrote %d bars and %d tweets for %d tickers to %s", counts["bars"], counts["tweets"],
                    len(universe), args.output)
        write_metrics(args.metrics_dir or args.output, {"timings_s": timer.as_metrics(), "rows": counts,
                                                        "tickers": len(universe), "days": args.days,
                                                        "by_ticker": True})
        return 0
    with timer.block("generate"):
        market = generate_market(universe, days=args.days, seed=args.seed, start=args.start,
                                 frequency=args.frequency, params=params)
    with timer.block("write"):
        counts = write_market(market, args.output)
    logger.info("wrote %d bars and %d tweets for %d tickers to %s", counts["bars"], counts["tweets"],
                len(universe), args.output)
    write_metrics(args.metrics_dir or args.output, {"timings_s": timer.as_metrics(), "rows": counts,
                                                    "tickers": len(universe), "days": args.days})
    return 0


if __name__ == "__main__":
    run_main(main)
