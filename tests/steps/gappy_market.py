"""A small market with gaps, for the engine's replay tests: XOM joins on the third session, JPM is away for the
fifth and sixth; two-session daily windows so that the gaps reach the daily features."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from steps.common.validation import validate_bars, validate_tweets
from steps.features.settings import FeatureSettings
from steps.sample_data.generator import generate_market


@dataclass
class GappyMarket:
    bars: pd.DataFrame
    tweets: pd.DataFrame
    settings: FeatureSettings
    sectors: dict[str, str]
    days: list[pd.Timestamp]  # New York session dates, midnight


def gappy_market() -> GappyMarket:
    universe = pd.DataFrame({"ticker": ["AAPL", "JPM", "XOM"], "sector": ["IT", "Financials", "Energy"]})
    market = generate_market(universe, days=8, seed=6)
    bars = market.bars.copy()
    day = bars["ts"].dt.tz_convert("America/New_York").dt.normalize()
    days = sorted(day.unique())
    bars = bars[~((bars["ticker"] == "XOM") & (day < days[2]))
                & ~((bars["ticker"] == "JPM") & day.isin(days[4:6]))].reset_index(drop=True)
    bars = validate_bars(bars, "bars")
    bars = bars.to_pandas() if hasattr(bars, "to_pandas") else bars
    return GappyMarket(bars, validate_tweets(market.tweets, "tweets"), FeatureSettings(daily_window=2),
                       dict(zip(universe["ticker"], universe["sector"], strict=True)), days)
