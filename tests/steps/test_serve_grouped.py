"""Per-stock models are servable: requests carry the ticker the artifact routes by; plain models accept it too."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from steps.features.table import load_feature_table
from steps.serve.model import ServingModel
from steps.serve.payload import PayloadError, parse_payload
from steps.train.algorithms import get_algorithm, load_model_dir
from steps.train.run import Grouping, run_training

FAST = {"num_round": 30, "early_stopping_rounds": 5, "num_leaves": 8, "nthread": 1}


@pytest.fixture(scope="module")
def per_stock(features_dir: Path, tmp_path_factory) -> tuple[ServingModel, object]:
    root = tmp_path_factory.mktemp("grouped")
    algorithm = get_algorithm("lightgbm")
    run_training(features_dir, root / "model", root / "out", algorithm, {**algorithm.defaults(), **FAST},
                 logging.getLogger("test"), Grouping("stock", min_group_rows=50))  # fmt: skip
    loaded = load_model_dir(root / "model")
    return ServingModel({"lightgbm": loaded}, None), load_feature_table(features_dir).frame


def test_grouped_model_needs_the_ticker_and_routes_by_it(per_stock):
    model, frame = per_stock
    assert model.keys == ("ticker",)
    rows = frame.head(6)
    header = ",".join(["ticker", *model.features])
    lines = [",".join([str(r["ticker"]), *(repr(float(r[f])) for f in model.features)]) for _, r in rows.iterrows()]
    parsed = parse_payload("\n".join([header, *lines]).encode(), "text/csv", model.features, model.keys)
    np.testing.assert_allclose(model.predict(parsed), model.predict(rows), rtol=1e-12)

    without = ",".join(model.features) + "\n" + "\n".join(line.split(",", 1)[1] for line in lines)
    with pytest.raises(PayloadError, match="missing features: ticker"):
        parse_payload(without.encode(), "text/csv", model.features, model.keys)
    def value(x) -> float | None:  # JSON has no NaN: a missing value is null
        return None if np.isnan(float(x)) else float(x)

    instances = [{"ticker": str(r["ticker"]), **{f: value(r[f]) for f in model.features}} for _, r in rows.iterrows()]
    parsed_json = parse_payload(json.dumps({"instances": instances}).encode(), "application/json",
                                model.features, model.keys)  # fmt: skip
    np.testing.assert_allclose(model.predict(parsed_json), model.predict(rows), rtol=1e-12)
    instances[2]["ticker"] = 7
    with pytest.raises(PayloadError, match="instance 2, 'ticker': expected a ticker symbol"):
        parse_payload(json.dumps({"instances": instances}).encode(), "application/json", model.features, model.keys)


def test_a_plain_model_accepts_and_ignores_a_ticker_column():
    features = ["a", "b"]
    parsed = parse_payload(b"ticker,a,b\nAAPL,1,2\n", "text/csv", features)
    assert list(parsed.columns) == ["a", "b", "ticker"] and parsed["ticker"].tolist() == ["AAPL"]
    assert list(parse_payload(b"1,2\n", "text/csv", features).columns) == ["a", "b"]
