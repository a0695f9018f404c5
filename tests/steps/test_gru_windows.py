"""The GRU's sequences as windows into one flat matrix give the numbers the materialised sequences gave.

The reference is built here, the old way and independently of the module: each row's sequence is its
ticker's last K rows up to it, found by sorting each ticker's rows by time (a pandas loop, not
`sequence_indices`), NaN-padded at the front, materialised as (rows, K, features). Training on those
arrays with the old loop (written out below) and training on the windows must give the same weights, bit
for bit, and the same predictions.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from steps.common.folds import fold_masks, holdout_mask  # noqa: E402
from steps.features.table import load_feature_table  # noqa: E402
from steps.train.algorithms.gru_model import GRUAlgorithm, feature_statistics  # noqa: E402
from steps.train.algorithms.sequences import SequenceMatrix  # noqa: E402

LOG = logging.getLogger("test")
K = 4
PARAMS = {**GRUAlgorithm.defaults(), "max_epochs": 3, "patience": 1, "hidden_size": 8, "sequence_length": K,
          "batch_size": 64, "nthread": 1, "device": "cpu", "seed": 7}


def materialised(frame: pd.DataFrame, columns: list[str], length: int) -> np.ndarray:
    """(rows, length, features) float32: each row's ticker's last `length` rows up to it, oldest first."""
    values = frame[columns].to_numpy(dtype="float32", na_value=np.nan)
    out = np.full((len(frame), length, len(columns)), np.nan, dtype="float32")
    for _, rows in frame.groupby("ticker", sort=False).groups.items():
        positions = np.asarray(frame.index.get_indexer(rows))
        positions = positions[np.argsort(frame["ts"].to_numpy()[positions], kind="stable")]
        for n, row in enumerate(positions):
            history = positions[max(0, n - length + 1):n + 1]
            out[row, length - len(history):] = values[history]
    return out


def standardised(sequences: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return np.nan_to_num((sequences - mean) / scale, nan=0.0, posinf=0.0, neginf=0.0).astype("float32")


def old_training_loop(model: GRUAlgorithm, sequences: np.ndarray, y: np.ndarray, epochs: int) -> dict:
    """The loop as it was before windows: the whole standardised array as one tensor, indexed per batch."""
    model._setup()
    network = model._build(sequences.shape[2])
    optimiser = torch.optim.Adam(network.parameters(), lr=float(PARAMS["learning_rate"]),
                                 weight_decay=float(PARAMS["weight_decay"]))
    loss_fn = torch.nn.BCEWithLogitsLoss()
    inputs = torch.from_numpy(standardised(sequences, model.mean, model.scale))
    targets = torch.from_numpy(y.astype("float32"))
    generator = torch.Generator().manual_seed(int(PARAMS["seed"]))
    for _ in range(epochs):
        network.train()
        for rows in torch.randperm(len(inputs), generator=generator).split(int(PARAMS["batch_size"])):
            optimiser.zero_grad()
            loss_fn(network(inputs[rows]), targets[rows]).backward()
            optimiser.step()
    return network.state_dict()


@pytest.fixture(scope="module")
def table(features_dir: Path):
    table = load_feature_table(features_dir)
    frame = table.frame.copy()
    column = table.feature_columns[0]
    frame.loc[frame.index[::7], column] = np.nan  # missing and infinite values standardise to 0 both ways
    frame.loc[frame.index[3::11], column] = np.inf
    return table, frame


def test_windows_gather_exactly_the_materialised_sequences(table) -> None:
    source, frame = table
    columns = source.feature_columns
    x = GRUAlgorithm.design_matrix(frame, columns, PARAMS)
    reference = materialised(frame, columns, K)
    assert x.shape == reference.shape
    np.testing.assert_array_equal(x.gather(), reference)  # NaN where NaN: missing history, missing values
    train, _ = next(iter(fold_masks(frame, source.folds)))
    np.testing.assert_array_equal(x[train].gather(), reference[train])
    np.testing.assert_array_equal(x[[5, 0, 5]].gather(), reference[[5, 0, 5]])
    np.testing.assert_array_equal(x[3].gather(), reference[[3]])
    compact = x[train].compact()
    assert len(compact.rows) < len(x.rows)  # a fold's share of the table, not the table
    np.testing.assert_array_equal(compact.gather(), reference[train])


def test_a_fold_slice_selects_positions_and_shares_the_feature_rows(table) -> None:
    source, frame = table
    x = GRUAlgorithm.design_matrix(frame, source.feature_columns, PARAMS)
    train, _ = next(iter(fold_masks(frame, source.folds)))
    part = x[train]
    assert part.rows is x.rows  # no copy of the features
    assert part.windows.dtype == np.int32 and part.windows.shape == (int(train.sum()), K)
    assert x.windows.min() >= 0 and x.windows.max() == len(frame)  # the padding row, never a negative position
    assert np.isnan(x.rows[-1]).all()


def test_training_on_windows_equals_training_on_materialised_sequences(table) -> None:
    source, frame = table
    columns = source.feature_columns
    y = frame["label"].to_numpy(dtype="float64")
    train, validation = next(iter(fold_masks(frame, source.folds)))
    holdout = holdout_mask(frame, source.folds)
    train, validation = train & ~holdout, validation & ~holdout
    x = GRUAlgorithm.design_matrix(frame, columns, PARAMS)
    reference = materialised(frame, columns, K)

    windowed, old = GRUAlgorithm(dict(PARAMS)), GRUAlgorithm(dict(PARAMS))
    best = windowed.fit(x[train], y[train], x[validation], y[validation], columns).best_iteration
    assert old.fit(reference[train], y[train], reference[validation], y[validation], columns).best_iteration == best
    # the scaler: over the fitted rows themselves, as over the materialised sequences' last step
    own_rows = frame.loc[train, columns].to_numpy(dtype="float32").astype("float64")
    own_rows[~np.isfinite(own_rows)] = np.nan
    np.testing.assert_array_equal(windowed.mean, np.nanmean(own_rows, axis=0).astype("float32"))
    np.testing.assert_array_equal(windowed.scale, np.nanstd(own_rows, axis=0).astype("float32"))
    np.testing.assert_array_equal(windowed.mean, old.mean)
    np.testing.assert_array_equal(windowed.scale, old.scale)
    for name, tensor in old.network.state_dict().items():
        assert torch.equal(windowed.network.state_dict()[name], tensor), name
    scores = windowed.predict(x[validation])
    np.testing.assert_array_equal(scores, old.predict(reference[validation]))
    with torch.no_grad():  # the network itself on the reference, standardised here
        direct = torch.sigmoid(windowed.network(torch.from_numpy(
            standardised(reference[validation], windowed.mean, windowed.scale)))).numpy()
    np.testing.assert_allclose(scores, direct, rtol=1e-6, atol=1e-7)


def test_refit_on_windows_equals_the_old_loop_on_materialised_sequences(table) -> None:
    source, frame = table
    columns = source.feature_columns
    y = frame["label"].to_numpy(dtype="float64")
    rows = ~holdout_mask(frame, source.folds)
    x = GRUAlgorithm.design_matrix(frame, columns, PARAMS)
    model = GRUAlgorithm(dict(PARAMS))
    model.refit(x[rows], y[rows], 2, columns)
    expected = old_training_loop(model, materialised(frame, columns, K)[rows], y[rows], epochs=2)
    for name, tensor in expected.items():
        assert torch.equal(model.network.state_dict()[name], tensor), name


def test_predict_in_chunks_matches_one_pass(table, monkeypatch: pytest.MonkeyPatch) -> None:
    """Scoring more rows than a chunk: chunk borders change nothing but the batch the network sees."""
    import steps.train.algorithms.gru_model as gru_model

    source, frame = table
    columns = source.feature_columns
    y = frame["label"].to_numpy(dtype="float64")
    x = GRUAlgorithm.design_matrix(frame, columns, PARAMS)
    model = GRUAlgorithm(dict(PARAMS))
    model.refit(x, y, 1, columns)
    whole = model.predict(x)
    monkeypatch.setattr(gru_model, "PREDICT_CHUNK", 37)
    np.testing.assert_allclose(model.predict(x), whole, rtol=1e-6, atol=1e-7)
    assert model.predict(x[np.zeros(len(frame), dtype=bool)]).shape == (0,)


def test_a_frame_without_ticker_and_time_gives_each_row_a_history_of_one() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, np.nan], "b": [0.5, np.inf, 3.0]})
    x = GRUAlgorithm.design_matrix(frame, ["a", "b"], {"sequence_length": 3})
    sequences = x.gather()
    assert np.isnan(sequences[:, :2]).all()
    np.testing.assert_array_equal(sequences[:, -1], frame.to_numpy(dtype="float32"))


def test_materialised_input_must_be_three_dimensional() -> None:
    with pytest.raises(ValueError, match="rows, length, features"):
        SequenceMatrix.from_sequences(np.zeros((4, 3), dtype="float32"))



def test_the_scaler_is_numpys_nanmean_and_nanstd_bit_for_bit() -> None:
    """Computed in one float64 copy, in chunks of rows, yet the same float64 bits as np.nanmean / np.nanstd."""
    rng = np.random.default_rng(5)
    spread = np.exp(rng.normal(0.0, 4.0, (70_000, 6)))  # magnitudes over ~10 decades: sums round, order shows
    values = (rng.standard_normal((70_000, 6)) * spread * [1e-3, 1, 50, 1e4, 1, 1] + [0, 3, -7, 1e5, 0, 0])
    values = values.astype("float32")
    values[rng.random(values.shape) < 0.1] = np.nan
    values[rng.random(values.shape) < 0.01] = np.inf
    values[:, 4] = np.nan  # a feature with no value at all
    values[:, 5] = 2.5  # a constant
    x = SequenceMatrix.from_sequences(values[:, None, :])
    mean, std = feature_statistics(x)
    finite = np.where(np.isfinite(values), values, np.nan).astype("float64")
    with pytest.warns(RuntimeWarning):  # numpy's own warnings about the empty feature
        np.testing.assert_array_equal(mean, np.nanmean(finite, axis=0))
        np.testing.assert_array_equal(std, np.nanstd(finite, axis=0))
    model = GRUAlgorithm(dict(PARAMS))
    model._fit_scaler(x)
    assert model.mean[4] == 0.0 and model.scale[4] == 1.0  # no value: standardises to 0
    assert model.mean[5] == 2.5 and model.scale[5] == 1.0  # constant: scale 1, not a division by 0


def test_a_per_sector_gru_serves_each_row_from_its_groups_windows(features_dir: Path, tmp_path: Path) -> None:
    """The loader slices the windows by group (`x[rows]`): each group's rows score as its model scores their
    sequences built here, whatever rows of other groups sit between them in the frame."""
    from steps.train.algorithms import load_model_dir
    from steps.train.run import Grouping, run_training

    run_training(features_dir, tmp_path / "model", tmp_path / "out", GRUAlgorithm, dict(PARAMS), LOG,
                 Grouping("sector", min_group_rows=50))
    model = load_model_dir(tmp_path / "model")
    assert model.group_models  # at least one group trained its own GRU
    frame = load_feature_table(features_dir).frame
    scores = model.predict(frame)
    reference = materialised(frame, model.features, K)
    groups = model.groups_of(frame)
    for group in np.unique(groups):
        rows = groups == group
        own = model.global_model if group == "global" else model.group_models[group]
        np.testing.assert_array_equal(scores[rows], own.predict(reference[rows]))


@pytest.mark.parametrize("argument", [("--sequence_length", "0"), ("--batch_size", "0"), ("--hidden_size", "-3")])
def test_a_size_below_one_is_refused_in_one_line_before_anything_is_written(argument, features_dir: Path,
                                                                             tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "SM_CHANNEL_TRAIN": str(features_dir), "SM_MODEL_DIR": str(tmp_path / "model"),
           "SM_OUTPUT_DATA_DIR": str(tmp_path / "output"), "SM_INPUT_CONFIG_DIR": str(tmp_path / "config")}
    result = subprocess.run([sys.executable, "-m", "steps.train", "--algorithm", "gru", *argument],
                            capture_output=True, text=True, env=env, timeout=120,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"column '{argument[0][2:]}'" in lines[0] and "at least 1" in lines[0], lines
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert not (tmp_path / "model").exists() and not (tmp_path / "output").exists()
