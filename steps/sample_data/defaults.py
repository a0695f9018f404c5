"""The generator's numbers that `python -m steps.sample_data --help` prints, apart from the generator itself:
the help answers without numpy, pandas and scipy (generator.py and by_ticker.py read them from here)."""

from __future__ import annotations

MINUTES_PER_SESSION = 390
TWEET_RATE_PER_MINUTE = 0.12  # MarketParams.tweet_rate_per_minute's default
BY_TICKER_BARS = 8_000_000  # above this many bars steps.sample_data writes by ticker (one-pass peaks ~4 GB)
