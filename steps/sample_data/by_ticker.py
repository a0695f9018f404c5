"""The generated market written one ticker at a time: years of minute bars in the memory of one ticker.

`generate_market` holds the whole market (every ticker's minutes as 2-D arrays, then one long frame): a year
of the universe (5.5 M bars) peaks at a few GB, five years would not fit a 24 GB machine. This writer draws
the same model (generator.py's docstring) in two passes:

1. what the tickers share, for the whole period: the market and sector shocks (one float per minute and
   sector: ~45 MB for five years) and each ticker's level parameters (daily vol, beta, start price, volume);
2. per ticker, from its own random stream (`SeedSequence([seed, ticker index])`): volatility regime, latent
   conviction, idiosyncratic shocks, wicks, volume noise, missing bars and tweets; written at once to
   `bars/ticker=X/part-0.parquet` and `tweets/part-<index>.parquet`, then dropped.

Deterministic by seed, but not the same draws as `generate_market` (which draws every ticker from one
stream): the two are different samples of one model, so a size keeps the generator it was measured with
(`steps.sample_data` switches to this one above `BY_TICKER_BARS` (defaults.py), or with `--by-ticker`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from steps.common.io import atomic_dir, write_json, write_text
from steps.common.names import safe_name
from steps.sample_data.generator import (
    MINUTES_PER_SESSION,
    NULL_NOTE,
    GeneratedMarket,
    MarketParams,
    ar1,
    draw_tweets,
    intraday_profile,
    minute_grid,
    to_daily,
    trading_days,
)


@dataclass(frozen=True)
class SharedDraws:
    """What every ticker's series reads: the common shocks and the per-ticker levels."""

    market: np.ndarray  # (minutes,)
    sector_shock: np.ndarray  # (minutes, sectors)
    sector_of: np.ndarray  # (tickers,) index into sector_shock's columns
    daily_vol: np.ndarray
    beta: np.ndarray
    start_price: np.ndarray
    volume_level: np.ndarray


def shared_draws(n_tickers: int, sectors: np.ndarray, n_minutes: int, seed: int) -> SharedDraws:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1 << 20]))
    _, sector_of = np.unique(sectors, return_inverse=True)
    return SharedDraws(
        market=rng.standard_normal(n_minutes),
        sector_shock=rng.standard_normal((n_minutes, int(sector_of.max()) + 1)),
        sector_of=sector_of,
        daily_vol=rng.uniform(0.010, 0.025, n_tickers),
        beta=rng.uniform(0.7, 1.3, n_tickers),
        start_price=rng.uniform(20.0, 400.0, n_tickers),
        volume_level=rng.uniform(2e3, 2e4, n_tickers),
    )


def ticker_series(index: int, ticker: str, shared: SharedDraws, close_times: np.ndarray, days: int, seed: int,
                  params: MarketParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(bars, tweets) of one ticker: generator.py's equations with n_tickers = 1 and the shared shocks."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, index]))
    n_minutes = days * MINUTES_PER_SESSION
    minute_of_day = np.tile(np.arange(MINUTES_PER_SESSION), days)
    day_index = np.repeat(np.arange(days), MINUTES_PER_SESSION)
    vol = shared.daily_vol[index]
    regime = ar1(rng.standard_normal((days, 1)), np.log(0.5) / np.log(params.vol_regime_persistence), rng)[:, 0]
    regime = np.exp(params.vol_regime_sd * regime - 0.5 * params.vol_regime_sd**2)
    sigma = vol / np.sqrt(MINUTES_PER_SESSION) * regime[day_index] * intraday_profile(minute_of_day, 1.0)
    z_fast = ar1(rng.standard_normal((n_minutes, 1)), params.signal_half_life_minutes, rng)[:, 0]
    z_slow = ar1(rng.standard_normal((days, 1)), params.slow_half_life_days, rng)[day_index, 0]
    z = np.sqrt(1.0 - params.slow_share) * z_fast + np.sqrt(params.slow_share) * z_slow
    idio = rng.standard_normal(n_minutes)
    previous_idio = np.concatenate([[0.0], idio[:-1]])
    idio_share = 1.0 - params.market_share - params.sector_share
    shock = (np.sqrt(params.market_share) * shared.beta[index] * shared.market
             + np.sqrt(params.sector_share) * shared.sector_shock[:, shared.sector_of[index]]
             + np.sqrt(idio_share) * idio - params.reversal * previous_idio)
    returns = sigma * shock + params.signal_strength * sigma * z
    gaps = np.zeros(n_minutes)
    gaps[np.arange(1, days) * MINUTES_PER_SESSION] = params.gap_vol_ratio * vol * regime[1:] \
        * rng.standard_normal(days - 1)
    log_close = np.log(shared.start_price[index]) + np.cumsum(returns + gaps)
    log_open = log_close - returns
    wick = 0.5 * sigma
    log_high = np.maximum(log_open, log_close) + np.abs(rng.standard_normal(n_minutes)) * wick
    log_low = np.minimum(log_open, log_close) - np.abs(rng.standard_normal(n_minutes)) * wick
    surprise = np.abs(returns) / sigma
    volume = np.round(shared.volume_level[index] * intraday_profile(minute_of_day, 2.0) * (0.6 + 0.4 * surprise)
                      * rng.lognormal(0.0, 0.4, n_minutes))
    keep = rng.random(n_minutes) >= params.missing_bar_rate
    bars = pd.DataFrame({
        "ts": pd.DatetimeIndex(close_times[keep]).tz_localize("UTC"),
        "open": np.exp(log_open[keep]), "high": np.exp(log_high[keep]), "low": np.exp(log_low[keep]),
        "close": np.exp(log_close[keep]), "volume": volume[keep].astype("float64"),
    })
    tweets = draw_tweets(rng, np.array([ticker]), close_times, z[:, None], surprise[:, None], params)
    return bars, tweets


def write_market_by_ticker(universe: pd.DataFrame, output: str | Path, *, days: int, seed: int = 7,
                           start: str = "2025-01-02", frequency: str = "1min",
                           params: MarketParams | None = None) -> dict[str, int]:
    """Write `bars/` (ticker=X/part-0.parquet), `tweets/` (a file per ticker), generator.json and GENERATED.md;
    the same layout as writer.write_market. Each folder is assembled under a temporary name and renamed."""
    if frequency not in ("1min", "1d"):
        raise ValueError(f"unknown frequency {frequency!r} (1min or 1d)")
    params = params or MarketParams()
    root = Path(output)
    root.mkdir(parents=True, exist_ok=True)
    tickers = universe["ticker"].astype(str).to_numpy()
    for ticker in tickers:  # each becomes a folder under `output`: a name, never a path (checked before writing)
        safe_name(ticker, "ticker", "universe")
    sectors = universe["sector"].astype(str).to_numpy() if "sector" in universe else np.array(["-"] * len(tickers))
    close_times = minute_grid(trading_days(start, days)).tz_convert(None).to_numpy()
    shared = shared_draws(len(tickers), sectors, days * MINUTES_PER_SESSION, seed)
    counts = {"bars": 0, "tweets": 0}
    first_ts, last_ts = None, None
    with atomic_dir(root / "bars") as bars_dir, atomic_dir(root / "tweets") as tweets_dir:
        for index, ticker in enumerate(tickers):
            bars, tweets = ticker_series(index, ticker, shared, close_times, days, seed, params)
            if frequency == "1d":
                bars = to_daily(bars.assign(ticker=ticker)).drop(columns="ticker")
            tweets["tweet_id"] = [f"gen-{counts['tweets'] + k:09d}" for k in range(len(tweets))]
            folder = bars_dir / f"ticker={ticker}"
            folder.mkdir()
            pq.write_table(pa.Table.from_pandas(bars, preserve_index=False), folder / "part-0.parquet")
            tweets.to_parquet(tweets_dir / f"part-{index:04d}.parquet", index=False)
            counts["bars"] += len(bars)
            counts["tweets"] += len(tweets)
            first_ts = bars["ts"].min() if first_ts is None else min(first_ts, bars["ts"].min())
            last_ts = bars["ts"].max() if last_ts is None else max(last_ts, bars["ts"].max())
    labelled = pd.DataFrame({"ticker": tickers, "sector": sectors})
    write_json({"seed": seed, "frequency": frequency, "params": params.as_dict(), "tickers": tickers.tolist(),
                "generated": True, "by_ticker": True}, root / "generator.json")
    summary = GeneratedMarket(pd.DataFrame(), pd.DataFrame(), labelled, params, seed, frequency)
    write_text(_generated_md(summary, counts, first_ts, last_ts), root / "GENERATED.md")
    return counts


def _generated_md(market: GeneratedMarket, counts: dict[str, int], first_ts, last_ts) -> str:
    params = "\n".join(f"| `{key}` | {value} |" for key, value in market.params.as_dict().items())
    return f"""# GENERATED DATA — not market data

Everything in this folder was produced by `python -m steps.sample_data` writing one ticker at a time
(module `steps/sample_data/by_ticker.py`; the model is described in `steps/sample_data/generator.py`). No
row is a real price or a real tweet. Use it to exercise the pipeline; never to judge a trading idea.

- seed: {market.seed}
- frequency: {market.frequency}
- tickers: {len(market.universe)} ({', '.join(market.universe['ticker'].head(8))}, ...)
- bars: {counts['bars']} rows, {first_ts} .. {last_ts} (UTC; weekdays, no holiday calendar)
- tweets: {counts['tweets']} rows, model = "sample-generator"

| parameter | value |
| --- | --- |
{params}
{NULL_NOTE if market.params.is_null else ""}"""
