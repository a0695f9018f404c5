"""The feature catalogue: every feature family, how its columns are named, and what it needs, declared once.

Why one declaration: a family used to be listed in the kernels, the builder and the leak replay, each in its
own tuple, and adding one meant finding all of them. Now the table's columns, their order and which are
dropped for an absent input follow from the lines below, and every reader takes them from here:
- the batch build (build.py, bar_features.py): the table's columns, the features dropped for absent inputs;
- the live engine (engine.py) and the live path's manifest reader (steps/live/training.py);
- the sentiment windows (sentiment.py);
- the leak replay (steps/leaks/replay.py): which replayed value is which column. Its formulas stay its own
  on purpose: causality is proved by a second, independent computation, so only names and needs are shared;
- the docs: tests/steps/test_feature_catalogue.py checks docs/data.md's feature table against this list, that
  every indicator is a kernel output and that the replay computes every bar feature.

A new feature is its kernel (an output of kernels.window_sweep for an indicator, a value of
bar_features.session_values for a session feature), one line here, and its formula in steps/leaks/replay.py.

This module declares and derives names only: it imports the settings model and nothing that computes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from steps.features.settings import FeatureSettings

Kind = Literal["return", "indicator", "period", "session", "relative", "sentiment"]
SentimentWindows = Literal["every", "shortest", "second", "longest"]


@dataclass(frozen=True)
class Family:
    """One line of the catalogue: a family of columns and how they are named.

    kind (the columns it gives, for windows w of `settings.windows`):
    - return: `<name>_<w>` (bar_features.trailing_returns);
    - indicator: `<name>_<w>`, and `<name>_daily` on 1-minute bars (the same sweep over daily bars, the last
      `daily_window` completed sessions): an output of kernels.window_sweep;
    - period: `<name>_<p>`, p the setting `period` names, unless p is one of the windows (rsi_14 beside the
      windows' RSIs);
    - session: `<name>` (bar_features.session_values);
    - relative: `<name>_<w>`, across tickers at the row's ts (bar_features.add_relative_returns);
    - sentiment: `<name>_<w><unit>` at `windows` of the settings' windows, and `<name>_daily` (a 1-day window)
      when `daily` (sentiment.py).
    needs: the optional bar inputs (settings.OPTIONAL_BAR_INPUTS) the family reads besides close: a column is
    dropped from the table when the bars lack one of them; "tweets" for sentiment (informative: sentiment is
    switched by `include_sentiment`, never dropped).
    """

    name: str
    kind: Kind
    needs: tuple[str, ...] = ()
    period: str = ""
    windows: SentimentWindows = "every"
    daily: bool = False


# One line per family, in the table's column order.
CATALOGUE: tuple[Family, ...] = (
    Family("ret", "return"),
    Family("ret_daily", "session"),
    Family("vol", "indicator"),
    Family("range", "indicator", needs=("high", "low")),
    Family("volume_z", "indicator", needs=("volume",)),
    Family("vwap_dev", "indicator", needs=("high", "low", "volume")),  # VWAP of the typical price (h + l + c) / 3
    Family("rsi", "indicator"),
    Family("macd", "indicator"),
    Family("macd_hist", "indicator"),
    Family("bb_pctb", "indicator"),
    Family("rsi", "period", period="rsi_period"),
    Family("gap_overnight", "session", needs=("open",)),
    Family("prev_day_return", "session"),
    Family("prev_day_range", "session", needs=("high", "low")),
    Family("mkt_rel_ret", "relative"),
    Family("sec_rel_ret", "relative"),
    Family("sent", "sentiment", needs=("tweets",), windows="every", daily=True),
    Family("sent_mean", "sentiment", needs=("tweets",), windows="shortest"),
    Family("sent_sum", "sentiment", needs=("tweets",), windows="second"),
    Family("sent_pos_ratio", "sentiment", needs=("tweets",), windows="longest"),
    Family("tweet_count", "sentiment", needs=("tweets",), windows="every", daily=True),
)
# The families the window sweep computes, per window and (1-minute bars) on daily bars.
INDICATORS: tuple[str, ...] = tuple(f.name for f in CATALOGUE if f.kind == "indicator")
SESSION_FEATURES: tuple[str, ...] = tuple(f.name for f in CATALOGUE if f.kind == "session")


@dataclass(frozen=True)
class Column:
    """A feature column: its name, its family, and its window (a bar count, "daily", or "" for none)."""

    name: str
    family: Family
    window: str


def family_columns(family: Family, settings: FeatureSettings) -> list[Column]:
    """The columns `family` gives under `settings` (full bars: no input absent)."""
    windows = [str(w) for w in settings.windows]
    if family.kind in ("return", "relative"):
        return [Column(f"{family.name}_{w}", family, w) for w in windows]
    if family.kind == "indicator":
        suffixes = windows + (["daily"] if settings.frequency == "1min" else [])
        return [Column(f"{family.name}_{s}", family, s) for s in suffixes]
    if family.kind == "period":
        period = getattr(settings, family.period)
        return [] if period in settings.windows else [Column(f"{family.name}_{period}", family, str(period))]
    if family.kind == "session":
        return [Column(family.name, family, "")]
    chosen = {"every": windows, "shortest": windows[:1], "second": windows[1:2] or windows[:1],
              "longest": windows[-1:]}[family.windows]
    columns = [Column(f"{family.name}_{w}{settings.window_unit}", family, w) for w in chosen]
    return columns + ([Column(f"{family.name}_daily", family, "daily")] if family.daily else [])


def every_column(settings: FeatureSettings, *, sentiment: bool | None = None) -> list[Column]:
    """Every column the settings define when the bars have every input, in the table's order (sentiment:
    whether to include the sentiment columns; default `settings.include_sentiment`)."""
    with_sentiment = settings.include_sentiment if sentiment is None else sentiment
    return [column for family in CATALOGUE if with_sentiment or family.kind != "sentiment"
            for column in family_columns(family, settings)]


def missing_needs(column: Column, settings: FeatureSettings) -> list[str]:
    """The absent inputs (settings.absent_inputs) that `column` needs, sorted: empty when it is computed."""
    return sorted(set(settings.absent_inputs) & set(column.family.needs))


def table_columns(settings: FeatureSettings, *, sentiment: bool | None = None) -> list[Column]:
    """The columns of the table, in order: every column but those that need an absent input."""
    return [c for c in every_column(settings, sentiment=sentiment) if not missing_needs(c, settings)]


def feature_columns(settings: FeatureSettings) -> list[str]:
    """The table's feature columns, in order (without those that need an input in `settings.absent_inputs`)."""
    return [c.name for c in table_columns(settings)]


def bar_feature_names(settings: FeatureSettings) -> list[str]:
    """The bar feature columns (every family but sentiment), without those that need an absent input."""
    return [c.name for c in table_columns(settings, sentiment=False)]


def dropped_features(settings: FeatureSettings) -> dict[str, list[str]]:
    """feature -> the absent inputs it would need: what the table leaves out, for the manifest and the report."""
    return {c.name: missing_needs(c, settings) for c in every_column(settings, sentiment=False)
            if missing_needs(c, settings)}


def columns_of_kind(settings: FeatureSettings, kind: Kind) -> list[Column]:
    """The table's columns of one kind, in order (e.g. the relative returns the live engine fills in)."""
    return [c for c in table_columns(settings, sentiment=kind == "sentiment") if c.family.kind == kind]


def sentiment_columns(settings: FeatureSettings) -> list[Column]:
    """The sentiment columns the settings define, whether or not `include_sentiment` puts them in the table."""
    return [c for c in every_column(settings, sentiment=True) if c.family.kind == "sentiment"]
