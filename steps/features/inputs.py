"""What the bars say about the settings: their frequency must be the configured one, and the optional columns
they lack make those inputs absent. Read by the one-pass build (run.py) and the in-turn build (in_turn.py) alike."""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from steps.common.errors import StepInputError
from steps.features.bar_features import dropped_bar_features, session_columns
from steps.features.settings import FeatureSettings


def check_frequency(bars: pl.DataFrame, frequency: str, source: str | Path) -> None:
    """Daily settings on intraday bars (or the reverse) would silently compute the wrong windows."""
    session, _ = session_columns(bars["ts"].to_physical().to_numpy())
    per_session = pl.DataFrame({"ticker": bars["ticker"], "session": session}).group_by("ticker", "session").len()
    most = int(per_session["len"].max())
    if frequency == "1d" and most > 1:
        raise StepInputError(f"holds up to {most} bars per ticker and session, but the frequency is 1d",
                             file=source, column="ts", fix="pass --frequency 1min, or aggregate to daily bars")
    if frequency == "1min" and most == 1 and per_session.height > 20:
        raise StepInputError("holds one bar per ticker and session (daily bars), but the frequency is 1min",
                             file=source, column="ts", fix="pass --frequency 1d (the daily profile)")


def inputs_settings(settings: FeatureSettings, bars: pl.DataFrame, source: str | Path,
                    logger: logging.Logger) -> FeatureSettings:
    """The settings for these bars (the optional columns they lack are absent), said once in the log: a table
    without volume or range features must not look like one that has them."""
    settings = settings.with_bars(bars.columns)
    dropped = dropped_bar_features(settings)
    if dropped:
        logger.warning("bars %s have no %s column(s): dropped the %d features that need them (%s); the manifest "
                       "lists them under dropped_features", source, ", ".join(settings.absent_inputs), len(dropped),
                       ", ".join(dropped))
    return settings
