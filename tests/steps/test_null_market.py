"""A null market (`python -m steps.sample_data --signal 0`): labels independent of every feature (issue 30).

The check that the pipeline is not fooling itself: on a market with nothing to find, a model finds nothing.
Measured on the features steps.features builds (12 tickers x 20 days, a row every 15 bars, 30-bar label):
a logistic regression's holdout AUC (last 8 days) and each feature's AUC alone, against noise measured by
the same day-block bootstrap the evaluation uses (steps/evaluate/metrics.py), on three seeds. The default
market, the same draws with the planted signal, is the control: there the same measurements are far out.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from steps.common.folds import session_dates
from steps.common.validation import validate_bars, validate_tweets
from steps.evaluate.metrics import bootstrap_std
from steps.features.build import build_features
from steps.features.catalogue import feature_columns
from steps.features.settings import FeatureSettings
from steps.sample_data.generator import MarketParams, generate_market
from steps.sample_data.writer import load_universe

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = FeatureSettings()  # the intraday default: 1-minute bars, a row every 15 bars, a 30-bar label
# 4.5 standard deviations: over ~60 features x 3 seeds, a null feature exceeds it by chance with p ~ 1e-3.
Z = 4.5


@cache
def _table(signal: float, seed: int) -> pd.DataFrame:
    universe = load_universe(ROOT / "configs" / "universe.csv", 12)
    market = generate_market(universe, days=20, seed=seed, params=MarketParams().with_signal(signal))
    return build_features(validate_bars(market.bars, "bars"), validate_tweets(market.tweets, "tweets"), SETTINGS,
                          threads=1)


def _holdout_auc(frame: pd.DataFrame) -> tuple[float, float]:
    """A logistic regression fitted on the first 12 days, its AUC on the last 8 and that AUC's day-block sd."""
    columns = [c for c in feature_columns(SETTINGS) if c in frame.columns]
    days = session_dates(frame["ts"])
    train = days < np.unique(days)[12]
    x = frame[columns].astype("float64")
    x = ((x - x[train].mean()) / x[train].std().replace(0.0, 1.0)).fillna(0.0).clip(-5, 5).to_numpy()
    labels = frame["label"].to_numpy()
    model = LogisticRegression(C=0.1, max_iter=1000).fit(x[train], labels[train])
    scores = model.predict_proba(x[~train])[:, 1]
    spread = bootstrap_std(labels[~train], scores, days[~train], resamples=200, seed=0)["auc"]
    return float(roc_auc_score(labels[~train], scores)), spread


def _weighted_aucs(values: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The AUC of `values` for each row of `weights` (rows counted that many times: a bootstrap draw), ties at
    half: for every distinct value, its positives beat the negatives below it and tie with those at it."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    w = weights[:, order]
    positive = np.add.reduceat(w * labels[order], starts, axis=1)
    negative = np.add.reduceat(w * (1 - labels[order]), starts, axis=1)
    below = np.cumsum(negative, axis=1) - negative
    wins = (positive * (below + 0.5 * negative)).sum(axis=1)
    return wins / (positive.sum(axis=1) * negative.sum(axis=1))


def _feature_aucs(frame: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Each feature's AUC alone against the label (missing values at the median) and its day-block bootstrap sd
    (whole days drawn with replacement, as steps/evaluate/metrics.py draws them)."""
    labels = frame["label"].to_numpy(dtype="float64")
    unique, index = np.unique(session_dates(frame["ts"]), return_inverse=True)
    chosen = np.random.default_rng(0).integers(0, len(unique), (200, len(unique)))
    times = np.stack([np.bincount(row, minlength=len(unique)) for row in chosen])[:, index].astype("float64")
    found = {}
    for column in (c for c in feature_columns(SETTINGS) if c in frame.columns):
        values = frame[column].astype("float64")
        values = values.fillna(values.median()).to_numpy()
        if np.unique(values).size < 2:
            continue
        auc = _weighted_aucs(values, labels, np.ones((1, len(values))))[0]
        assert auc == pytest.approx(roc_auc_score(labels, values))  # the tie rule is sklearn's
        found[column] = (float(auc), float(np.std(_weighted_aucs(values, labels, times), ddof=1)))
    return found


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_on_a_null_market_a_model_and_every_feature_are_at_chance(seed: int) -> None:
    auc, spread = _holdout_auc(_table(0.0, seed))
    assert abs(auc - 0.5) < Z * spread, (auc, spread)
    assert spread < 0.03  # the noise is that of ~2,500 rows in 8 days, not a licence for any AUC
    features = _feature_aucs(_table(0.0, seed))
    assert len(features) > 40
    outside = {c: a for c, (a, s) in features.items() if abs(a - 0.5) >= Z * s}
    assert not outside, outside


def test_the_default_market_shows_its_planted_edge_on_the_same_draws() -> None:
    """The control: the same seed with the planted signal. Were the null market's chance AUCs an artefact of the
    measurement, the default market would be at chance too."""
    auc, spread = _holdout_auc(_table(1.0, 1))
    assert auc - 0.5 > 2 * Z * spread and auc > 0.6, (auc, spread)
    features = _feature_aucs(_table(1.0, 1))
    edge = {c: a for c, (a, s) in features.items() if abs(a - 0.5) >= Z * s}
    assert "sent_60m" in edge and edge["sent_60m"] > 0.6  # tweets lean with the conviction that drifts prices


def test_signal_scales_the_planted_knobs_and_one_is_the_default_market() -> None:
    default = MarketParams()
    assert MarketParams().with_signal(1.0) == default
    null = default.with_signal(0.0)
    assert (null.signal_strength, null.reversal) == (0.0, 0.0) and null.is_null and not default.is_null
    half = default.with_signal(0.5)
    assert (half.signal_strength, half.reversal) == (0.06, 0.05)
    assert half.sentiment_loading == default.sentiment_loading  # the tweets are drawn as before
    with pytest.raises(ValueError, match="signal strength"):
        default.with_signal(-1.0)


def test_the_cli_writes_a_labelled_null_market_and_refuses_a_bad_strength(tmp_path: Path, universe_csv: Path,
                                                                          capsys) -> None:
    from steps.common.cli import main_guard
    from steps.sample_data.__main__ import main

    assert main(["--output", str(tmp_path / "null"), "--days", "5", "--tickers", "2", "--universe",
                 str(universe_csv), "--signal", "0"]) == 0
    params = json.loads((tmp_path / "null" / "generator.json").read_text())["params"]
    assert (params["signal_strength"], params["reversal"]) == (0.0, 0.0)
    assert "NULL MARKET" in (tmp_path / "null" / "GENERATED.md").read_text()
    assert main(["--output", str(tmp_path / "default"), "--days", "5", "--tickers", "2", "--universe",
                 str(universe_csv)]) == 0
    assert "NULL MARKET" not in (tmp_path / "default" / "GENERATED.md").read_text()
    capsys.readouterr()
    for bad in ("-1", "nan", "11"):
        code = main_guard(main, ["--output", str(tmp_path / f"bad{bad}"), "--days", "5", "--universe",
                                 str(universe_csv), "--signal", bad])
        err = capsys.readouterr().err.strip()
        assert code == 2 and "--signal" in err and len(err.splitlines()) == 1
        assert not (tmp_path / f"bad{bad}").exists()


def test_the_quick_runs_sample_data_section_passes_the_signal_to_the_generator(tmp_path: Path,
                                                                                universe_csv: Path) -> None:
    """`--set sample_data.signal=0`: the local run generates its empty input prefix as a null market."""
    from pipelines.config import load_config
    from pipelines.local.runner import sample_data_settings
    from pipelines.local.sample_data import ensure_sample_data
    from pipelines.local.store import LocalStore

    assert sample_data_settings(load_config(profile="quick"))["signal"] is None  # the default market
    config = load_config(profile="quick", overrides={"sample_data": {"signal": 0, "days": 5, "tickers": 2,
                                                                     "universe": str(universe_csv)}})
    settings = {**sample_data_settings(config), "days": 5}
    store = LocalStore(tmp_path / "store")
    said: list[str] = []
    described = ensure_sample_data(store, "s3://bucket/sample/bars/", "s3://bucket/sample/tweets/", settings,
                                   echo=said.append, log_dir=tmp_path)
    assert "--signal 0.0" in described and "--signal 0.0" in said[0]
    assert "NULL MARKET" in (store.path("s3://bucket/sample/bars").parent / "GENERATED.md").read_text()
