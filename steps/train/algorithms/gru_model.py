"""A GRU over each ticker's last K feature rows (PyTorch), behind the Algorithm interface.

Input: for every row, the feature vectors of the last `sequence_length` rows of the same ticker up to and
including it, oldest first (`design_matrix`). Every one of those rows is stamped at or before the row's
own time, so the sequence uses nothing the row's features could not; labels never enter the input.
Missing history (a ticker's first rows) is zero after standardisation, the same as a missing value.
Standardisation statistics come from the rows a model is fitted on and are saved with it. The sequences
are never materialised for the whole table (K copies of it: above 10 GB at five years): `design_matrix`
returns a `SequenceMatrix` (the flat rows once, each row's window as K positions), fold slices select
windows, and training, validation and predict gather a batch's sequences when they need it.

Saved as two files that cannot carry code: `gru.pt`, the network's state_dict (tensors only, read back
with `torch.load(weights_only=True)`), and `gru.json`, the architecture sizes and the scaler as JSON
numbers. A `gru.pt` holding anything else (an artifact from before this format, which pickled numpy
arrays, or a crafted one) is refused with a one-line error, never unpickled.

Training: Adam on binary cross-entropy, one pass over the training rows per epoch in a seeded shuffled
order; early stopping on the validation AUC with `patience` epochs; the best epoch's weights are kept.
Deterministic on CPU (seeded generator, deterministic algorithms); uses CUDA when present unless
`device` says otherwise.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from steps.common.errors import StepInputError
from steps.train.algorithms.base import Algorithm, FitResult, default_threads
from steps.train.algorithms.sequences import SequenceMatrix, sequence_indices
from steps.train.hyperparameter_specs import DECLARED

__all__ = ["GRUAlgorithm", "SequenceMatrix", "sequence_indices"]

MODEL_FILE = "gru.pt"
META_FILE = "gru.json"
SCALER_CHUNK = 1 << 16  # rows cast to float64 at a time for the scaler
PREDICT_CHUNK = 8192  # rows scored per forward pass: bounds predict's memory to one chunk's sequences
RETRAIN = "retrain the GRU with this version of steps.train (the saved format is a tensors-only gru.pt plus gru.json)"


def feature_statistics(x: SequenceMatrix) -> tuple[np.ndarray, np.ndarray]:
    """Each feature's float64 mean and standard deviation over the rows themselves (each sequence's last step),
    non-finite values left out; NaN for a feature with no value.

    The statistics over the materialised sequences' last step, which is what they always were: history rows
    outside the fitted set do not weigh in, and a row counts once, not K times. Computed as np.nanmean /
    np.nanstd compute them (sums over the rows with 0 for a missing value, divided by the count), bit for bit
    (tested), but in one float64 copy where they take one more each (0.8 GB at five years). Not by column
    blocks, which would need less: numpy's axis-0 sums round differently for some block widths."""
    own = x.windows[:, -1]
    values = np.empty((len(own), x.rows.shape[1]), dtype="float64")
    for start in range(0, len(own), SCALER_CHUNK):  # float32 -> float64 without a float32 copy of it all
        values[start:start + SCALER_CHUNK] = x.rows[own[start:start + SCALER_CHUNK]]
    missing = np.logical_not(np.isfinite(values), out=np.empty(values.shape, dtype=bool))
    values[missing] = 0.0
    count = len(values) - np.sum(missing, axis=0, dtype=np.intp)  # not ~missing: one bool copy fewer
    with np.errstate(invalid="ignore", divide="ignore"):  # a feature with no value: 0 / 0
        mean = np.sum(values, axis=0) / count
        np.subtract(values, mean, out=values)
        values[missing] = 0.0
        np.multiply(values, values, out=values)
        std = np.sqrt(np.sum(values, axis=0) / count)
    return mean, std


def _torch():
    import torch

    return torch


class GRUAlgorithm(Algorithm):
    name = "gru"
    files = (MODEL_FILE, META_FILE)
    hyperparameters = DECLARED["gru"]

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.network = None
        self.mean: np.ndarray | None = None
        self.scale: np.ndarray | None = None
        self.n_features: int | None = None
        self.feature_names: list[str] | None = None

    # -- input ----------------------------------------------------------------------------------------
    @classmethod
    def design_matrix(cls, frame, columns, params) -> SequenceMatrix:
        """The flat feature rows once and each row's window into them; sequences are gathered per batch."""
        return SequenceMatrix.from_frame(frame, columns, int(params["sequence_length"]))

    @staticmethod
    def _sequences(x: SequenceMatrix | np.ndarray) -> SequenceMatrix:
        """`x` as windows: materialised (rows, K, features) arrays are still accepted (tests, callers of old)."""
        return x if isinstance(x, SequenceMatrix) else SequenceMatrix.from_sequences(np.asarray(x))

    def _standardise(self, x: np.ndarray, in_place: bool = False) -> np.ndarray:
        """(x - mean) / scale in float32, missing and infinite to 0 (into `x` itself when in_place)."""
        scaled = np.subtract(x, self.mean, out=x if in_place else None, dtype=np.float32)
        scaled /= self.scale
        return np.nan_to_num(scaled, copy=False, nan=0.0, posinf=0.0, neginf=0.0)

    def _fit_scaler(self, x: SequenceMatrix) -> None:
        """Standardise by the fitted rows' own statistics (`feature_statistics`); saved with the model."""
        mean, scale = feature_statistics(x)
        self.mean = np.nan_to_num(mean, nan=0.0).astype("float32")
        self.scale = np.where(np.nan_to_num(scale, nan=0.0) > 1e-12, scale, 1.0).astype("float32")

    # -- torch ----------------------------------------------------------------------------------------
    def _device(self):
        torch = _torch()
        wanted = str(self.params["device"]).lower()
        if wanted == "auto":
            wanted = "cuda" if torch.cuda.is_available() else "cpu"
        return torch.device(wanted)

    def _build(self, n_features: int):
        torch = _torch()
        nn = torch.nn
        p = self.params

        class Net(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                layers = int(p["num_layers"])
                self.gru = nn.GRU(n_features, int(p["hidden_size"]), num_layers=layers, batch_first=True,
                                  dropout=float(p["dropout"]) if layers > 1 else 0.0)
                self.dropout = nn.Dropout(float(p["dropout"]))
                self.head = nn.Linear(int(p["hidden_size"]), 1)

            def forward(self, x):
                output, _ = self.gru(x)
                return self.head(self.dropout(output[:, -1, :])).squeeze(-1)

        self.n_features = n_features
        return Net()

    def _setup(self) -> None:
        torch = _torch()
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.manual_seed(int(self.params["seed"]))
        torch.use_deterministic_algorithms(True)
        torch.set_num_threads(default_threads(int(self.params["nthread"])))

    def _epochs(self, x: SequenceMatrix, y: np.ndarray, epochs: int, x_valid: SequenceMatrix | None = None,
                y_valid: np.ndarray | None = None) -> int:
        """Train up to `epochs`; with validation data, stop after `patience` epochs without improvement.

        The rows the windows reach are standardised once (a fold's share of the table, features wide) and
        put on the device with the windows; each batch's sequences are gathered there when it is drawn,
        the same numbers as indexing materialised sequences, without their K copies of the table."""
        from sklearn.metrics import roc_auc_score

        torch = _torch()
        self._setup()
        device = self._device()
        self.network = self._build(x.shape[2]).to(device)
        optimiser = torch.optim.Adam(self.network.parameters(), lr=float(self.params["learning_rate"]),
                                     weight_decay=float(self.params["weight_decay"]))
        loss_fn = torch.nn.BCEWithLogitsLoss()
        reached = x.compact()  # a copy: standardised in place
        source = torch.from_numpy(self._standardise(reached.rows, in_place=True)).to(device)
        windows = torch.from_numpy(reached.windows).to(device)
        del reached
        targets = torch.from_numpy(y.astype("float32")).to(device)
        generator = torch.Generator().manual_seed(int(self.params["seed"]))
        batch = int(self.params["batch_size"])
        best_auc, best_epoch, best_state, waited = -np.inf, 0, None, 0
        for epoch in range(1, int(epochs) + 1):
            self.network.train()
            for rows in torch.randperm(len(windows), generator=generator).split(batch):
                rows = rows.to(device)
                optimiser.zero_grad()
                loss_fn(self.network(source[windows[rows].long()]), targets[rows]).backward()
                optimiser.step()
            if x_valid is None:
                continue
            scores = self.predict(x_valid)
            auc = roc_auc_score(y_valid, scores) if len(np.unique(y_valid)) == 2 else 0.5
            if auc > best_auc:
                best_auc, best_epoch, waited = auc, epoch, 0
                best_state = {k: v.detach().clone() for k, v in self.network.state_dict().items()}
            else:
                waited += 1
                if waited >= int(self.params["patience"]):
                    break
        if best_state is not None:
            self.network.load_state_dict(best_state)
            return best_epoch
        return int(epochs)

    # -- the interface --------------------------------------------------------------------------------
    def fit(self, x_train, y_train, x_valid, y_valid, feature_names):
        self.feature_names = list(feature_names)
        x_train, x_valid = self._sequences(x_train), self._sequences(x_valid)
        self._fit_scaler(x_train)
        best = self._epochs(x_train, y_train, int(self.params["max_epochs"]), x_valid, y_valid)
        return FitResult(best_iteration=max(1, best))

    def refit(self, x, y, iterations, feature_names):
        self.feature_names = list(feature_names)
        x = self._sequences(x)
        self._fit_scaler(x)
        self._epochs(x, y, max(1, int(iterations)))

    def predict(self, x):
        """P(label = 1) per row, PREDICT_CHUNK rows' sequences gathered and standardised at a time."""
        if self.network is None:
            raise RuntimeError("model is not fitted")
        torch = _torch()
        x = self._sequences(x)
        device = next(self.network.parameters()).device
        self.network.eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(x), PREDICT_CHUNK):
                chunk = torch.from_numpy(self._standardise(x.gather(slice(start, start + PREDICT_CHUNK))))
                out.append(torch.sigmoid(self.network(chunk.to(device))).cpu().numpy())
        return np.concatenate(out).astype("float64") if out else np.zeros(0)

    def trained_features(self) -> list[str] | None:
        return list(self.feature_names) if self.feature_names else None

    def save(self, model_dir: Path) -> list[str]:
        if self.network is None:
            raise RuntimeError("model is not fitted")
        torch = _torch()
        from steps.common.io import atomic_path

        state = {k: v.detach().cpu().contiguous() for k, v in self.network.state_dict().items()}
        buffer = io.BytesIO()
        torch.save(state, buffer)  # a plain dict of tensors: readable with weights_only=True
        meta = {
            "format": 2,
            "n_features": int(self.n_features),
            "hidden_size": int(self.params["hidden_size"]),
            "num_layers": int(self.params["num_layers"]),
            "dropout": float(self.params["dropout"]),
            "mean": [float(v) for v in np.asarray(self.mean, dtype="float64")],
            "scale": [float(v) for v in np.asarray(self.scale, dtype="float64")],
            **({"features": list(self.feature_names)} if self.feature_names else {}),
        }
        with atomic_path(model_dir / MODEL_FILE) as temporary:
            temporary.write_bytes(buffer.getvalue())
        with atomic_path(model_dir / META_FILE) as temporary:
            temporary.write_text(json.dumps(meta, indent=1) + "\n")
        return [MODEL_FILE, META_FILE]

    @staticmethod
    def _read_state(path: Path) -> dict[str, Any]:
        """The state_dict in `path`, read without running code: tensors only, anything else refused."""
        torch = _torch()
        if not path.is_file():
            raise StepInputError("the GRU weights file is missing", file=path, fix=RETRAIN)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # any refusal (a pickled object, not tensors) or corruption: the same one line
            raise StepInputError("holds objects other than tensors (an old whole-object GRU artifact, or crafted)"
                                 " or is not a torch file; refused, nothing in it was run", file=path,
                                 fix=RETRAIN) from None
        if not isinstance(state, dict) or not state or not all(
                isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
            raise StepInputError("not a GRU state_dict (a mapping of names to tensors)", file=path, fix=RETRAIN)
        return state

    @staticmethod
    def _read_meta(path: Path) -> dict[str, Any]:
        """gru.json: the architecture sizes and the scaler, checked for type and length."""
        if not path.is_file():
            raise StepInputError("the GRU metadata file is missing (an artifact from before gru.json)", file=path,
                                 fix=RETRAIN)
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise StepInputError(f"not valid JSON ({exc})", file=path, fix=RETRAIN) from None

        def number(value) -> bool:
            return isinstance(value, (int, float)) and not isinstance(value, bool)

        if not isinstance(meta, dict):
            raise StepInputError("not a JSON object", file=path, fix=RETRAIN)
        for key in ("n_features", "hidden_size", "num_layers"):
            if not isinstance(meta.get(key), int) or isinstance(meta.get(key), bool) or meta[key] < 1:
                raise StepInputError("needs a positive integer", file=path, column=key, fix=RETRAIN)
        if not number(meta.get("dropout", 0.0)):
            raise StepInputError("needs a number", file=path, column="dropout", fix=RETRAIN)
        for key in ("mean", "scale"):
            values = meta.get(key)
            if not isinstance(values, list) or len(values) != meta["n_features"] or not all(map(number, values)):
                raise StepInputError(f"needs a list of {meta['n_features']} numbers", file=path, column=key,
                                     fix=RETRAIN)
        names = meta.get("features")
        if names is not None and (not isinstance(names, list) or len(names) != meta["n_features"]
                                  or not all(isinstance(n, str) for n in names)):
            raise StepInputError(f"needs a list of {meta['n_features']} feature names", file=path, column="features",
                                 fix=RETRAIN)
        return meta

    @classmethod
    def load(cls, model_dir: Path, meta: dict[str, Any]) -> GRUAlgorithm:
        model_dir = Path(model_dir)
        state = cls._read_state(model_dir / MODEL_FILE)
        saved = cls._read_meta(model_dir / META_FILE)
        sizes = {k: saved[k] for k in ("hidden_size", "num_layers")}
        model = cls({**cls.defaults(), **meta.get("hyperparameters", {}), **sizes,
                     "dropout": float(saved.get("dropout", 0.0)), "device": "cpu"})
        model.mean = np.asarray(saved["mean"], dtype="float32")
        model.scale = np.asarray(saved["scale"], dtype="float32")
        model.feature_names = list(saved["features"]) if saved.get("features") else None
        model.network = model._build(int(saved["n_features"]))
        try:
            model.network.load_state_dict(state)
        except RuntimeError as exc:
            reason = str(exc).strip().splitlines()[0][:160]
            raise StepInputError(f"the weights do not fit the architecture in {META_FILE} ({reason})",
                                 file=model_dir / MODEL_FILE, fix=RETRAIN) from None
        model.network.eval()
        return model
