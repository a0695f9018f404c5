"""The feature catalogue is the one list of features: the docs, the kernels and the leak replay agree with it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from steps.common.validation import validate_bars
from steps.features import catalogue
from steps.features.catalogue import CATALOGUE, INDICATORS, every_column, feature_columns
from steps.features.kernels import OUTPUTS
from steps.features.sentiment import STATISTICS
from steps.features.settings import OPTIONAL_BAR_INPUTS, FeatureSettings
from steps.leaks.replay import replay_decision_rows
from steps.sample_data.generator import GeneratedMarket

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = [FeatureSettings(), FeatureSettings(bar_frequency="1d", windows=(5, 10, 20)),
            FeatureSettings(windows=(3, 14), rsi_period=14), FeatureSettings(windows=(4,), rsi_period=9)]


def documented_families() -> set[str]:
    """The family of every column docs/data.md's feature table names (`vol_w`, `rsi_14`, `sent_mean_5m` ...)."""
    text = (ROOT / "docs" / "data.md").read_text()
    table = text[text.index("| family | columns | definition |"):]
    table = table[:table.index("\n\n")]
    names = {f.name for f in CATALOGUE}
    found = set()
    for row in table.splitlines()[2:]:
        for token in re.findall(r"`([^`]+)`", row.split("|")[2]):
            if token.startswith("..."):
                continue
            family = max((n for n in names if token == n or token.startswith(f"{n}_")), key=len, default=token)
            found.add(family)
    return found


def test_the_docs_feature_table_names_every_family_of_the_catalogue_and_no_other() -> None:
    assert documented_families() == {f.name for f in CATALOGUE}


def test_every_indicator_is_an_output_of_the_window_sweep() -> None:
    assert set(INDICATORS) <= set(OUTPUTS)


def test_a_family_needs_only_optional_bar_inputs_or_tweets_and_sentiment_has_a_statistic() -> None:
    for family in CATALOGUE:
        allowed = {"tweets"} if family.kind == "sentiment" else set(OPTIONAL_BAR_INPUTS)
        assert set(family.needs) <= allowed, family
    assert {f.name for f in CATALOGUE if f.kind == "sentiment"} == set(STATISTICS)


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: f"{s.frequency}-{s.windows}-rsi{s.rsi_period}")
def test_column_names_are_unique_and_an_absent_input_drops_exactly_the_families_that_need_it(
        settings: FeatureSettings) -> None:
    names = [c.name for c in every_column(settings)]
    assert len(names) == len(set(names))
    close_only = settings.replace(absent_inputs=("open", "high", "low", "volume"))
    kept = set(feature_columns(close_only))
    assert {c.name for c in every_column(settings) if not c.family.needs or c.family.kind == "sentiment"} == kept


def test_the_catalogue_is_a_declaration_it_imports_only_the_settings_model() -> None:
    tree = ast.parse(Path(catalogue.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert {m for m in imported if m.startswith("steps")} == {"steps.features.settings"}


@pytest.mark.parametrize("frequency", ["1min", "1d"])
def test_the_leak_replay_recomputes_every_bar_feature_of_the_catalogue(market: GeneratedMarket,
                                                                       frequency: str) -> None:
    """Names shared, formulas not: a catalogue family with no replay formula would go unchecked by causality."""
    bars = validate_bars(market.bars, "bars")
    if frequency == "1d":
        bars = bars.assign(session=bars["ts"].dt.tz_convert("America/New_York").dt.date).groupby(
            ["ticker", "session"], as_index=False).agg(ts=("ts", "last"), open=("open", "first"), high=("high", "max"),
                                                       low=("low", "min"), close=("close", "last"),
                                                       volume=("volume", "sum")).drop(columns="session")
    settings = FeatureSettings(bar_frequency=frequency, windows=(3, 5), rsi_period=4, include_sentiment=False)
    replay = replay_decision_rows(bars, None, settings, None, feature_columns(settings))
    assert set(feature_columns(settings)) <= set(replay.columns)
