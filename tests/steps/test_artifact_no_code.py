"""No model loader runs code from an artifact (issue 15, class 1).

A GRU artifact is a tensors-only state_dict (`gru.pt`, read with `torch.load(weights_only=True)`) plus
`gru.json` (sizes and scaler as JSON numbers). A crafted `gru.pt` whose unpickling would write a marker
file, and an old artifact that pickled numpy arrays, are refused with a one-line error naming the file,
through the GRU loader and through every entry point that loads models (serve, evaluate, check_artifact);
the marker is never written. A normal train -> save -> load round trip predicts identically.
"""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from steps.check_artifact.run import PREDICTIONS_FILE, run_check  # noqa: E402
from steps.common.errors import StepInputError  # noqa: E402
from steps.common.io import write_manifest  # noqa: E402
from steps.evaluate.run import run_evaluation  # noqa: E402
from steps.serve.model import load_artifact  # noqa: E402
from steps.train.algorithms import get_algorithm, load_model_dir  # noqa: E402
from steps.train.algorithms.gru_model import META_FILE, MODEL_FILE, GRUAlgorithm  # noqa: E402
from steps.train.algorithms.loader import write_model_meta  # noqa: E402

LOG = logging.getLogger("test")
FEATURES = ["f0", "f1", "f2"]
PARAMS = {"max_epochs": 2, "patience": 1, "hidden_size": 4, "sequence_length": 3, "nthread": 1, "device": "cpu",
          "batch_size": 64}


class Payload:
    """Unpickling this runs `exec`, which writes the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


def _frame(rows: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)
    frame["ticker"] = np.repeat(["AAA", "BBB"], rows // 2)
    frame["ts"] = pd.Timestamp("2024-01-02") + pd.to_timedelta(np.tile(np.arange(rows // 2), 2), unit="h")
    return frame


def _trained_model_folder(folder: Path) -> tuple[Path, GRUAlgorithm, pd.DataFrame]:
    cls = get_algorithm("gru")
    params = {**cls.defaults(), **PARAMS}
    frame = _frame()
    x = cls.design_matrix(frame, FEATURES, params)
    y = (frame["f0"].to_numpy() > 0).astype(int)
    model = cls(params)
    model.fit(x[:80], y[:80], x[80:], y[80:], FEATURES)
    folder.mkdir(parents=True, exist_ok=True)
    files = model.save(folder)
    meta = {"algorithm": "gru", "features": FEATURES, "hyperparameters": params, "refit_iterations": 1}
    write_model_meta(folder, meta, files)  # last, listing the files with sizes and sha256, as steps.train does
    return folder, model, frame


def _craft(path: Path, marker: Path) -> None:
    buffer = io.BytesIO()
    torch.save({"state_dict": Payload(marker), "mean": [0.0], "scale": [1.0], "n_features": 1}, buffer)
    path.write_bytes(buffer.getvalue())


def _old_format(path: Path, model: GRUAlgorithm) -> None:
    """What the loader wrote before: pickled numpy arrays next to the tensors (needs weights_only=False)."""
    state = {k: v.detach().cpu() for k, v in model.network.state_dict().items()}
    buffer = io.BytesIO()
    torch.save({"state_dict": state, "mean": model.mean, "scale": model.scale, "n_features": model.n_features},
               buffer)
    path.write_bytes(buffer.getvalue())


def _assert_refused(exc: pytest.ExceptionInfo, path_name: str) -> None:
    message = str(exc.value)
    assert "\n" not in message
    assert path_name in message and "retrain" in message
    assert "weights_only=False" not in message  # never advise the unsafe way round


@pytest.fixture(scope="module")
def gru_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GRUAlgorithm, pd.DataFrame]:
    return _trained_model_folder(tmp_path_factory.mktemp("gru") / "model")


@pytest.fixture
def crafted(tmp_path: Path, gru_folder, relist) -> tuple[Path, Path]:
    """A copy of the trained folder whose gru.pt is the crafted pickle; and the marker it would write."""
    folder = tmp_path / "crafted"
    shutil.copytree(gru_folder[0], folder)
    marker = tmp_path / "marker.txt"
    _craft(folder / MODEL_FILE, marker)
    relist(folder)  # whoever crafted it can list it too: the loader must refuse it on its own
    return folder, marker


def test_the_crafted_file_does_run_code_when_unpickled(tmp_path: Path) -> None:
    """The control: the payload is live, so the refusals below are meaningful."""
    marker = tmp_path / "control.txt"
    _craft(tmp_path / "evil.pt", marker)
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert marker.read_text() == "ran"


def test_round_trip_predicts_identically(gru_folder, tmp_path: Path) -> None:
    folder, model, frame = gru_folder
    assert {MODEL_FILE, META_FILE} <= {p.name for p in folder.iterdir()}
    saved = json.loads((folder / META_FILE).read_text())
    assert all(isinstance(v, float) for v in saved["mean"] + saved["scale"])
    x = GRUAlgorithm.design_matrix(frame, FEATURES, model.params)
    loaded = GRUAlgorithm.load(folder, json.loads((folder / "model_meta.json").read_text()))
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    np.testing.assert_array_equal(load_model_dir(folder).predict(frame), model.predict(x))
    with load_artifact(folder) as serving:
        np.testing.assert_array_equal(serving.predict(frame), model.predict(x))


def test_gru_loader_refuses_a_crafted_file(crafted) -> None:
    folder, marker = crafted
    meta = json.loads((folder / "model_meta.json").read_text())
    with pytest.raises(StepInputError) as exc:
        GRUAlgorithm.load(folder, meta)
    _assert_refused(exc, str(folder / MODEL_FILE))
    assert not marker.exists()


def test_an_old_whole_object_artifact_is_refused_with_retrain(gru_folder, tmp_path: Path) -> None:
    folder = tmp_path / "old"
    shutil.copytree(gru_folder[0], folder)
    (folder / META_FILE).unlink()
    _old_format(folder / MODEL_FILE, gru_folder[1])
    meta = json.loads((folder / "model_meta.json").read_text())
    with pytest.raises(StepInputError) as exc:
        GRUAlgorithm.load(folder, meta)
    _assert_refused(exc, str(folder / MODEL_FILE))
    with pytest.raises(StepInputError) as exc:  # through the folder's reader: its listing refuses it first
        load_model_dir(folder)
    _assert_refused(exc, "model_meta.json")


def test_missing_or_malformed_gru_json_is_one_line(gru_folder, tmp_path: Path, relist) -> None:
    folder = tmp_path / "nojson"
    shutil.copytree(gru_folder[0], folder)
    (folder / META_FILE).unlink()
    with pytest.raises(StepInputError) as exc:
        GRUAlgorithm.load(folder, json.loads((folder / "model_meta.json").read_text()))
    _assert_refused(exc, META_FILE)
    with pytest.raises(StepInputError) as exc:
        load_model_dir(folder)
    _assert_refused(exc, META_FILE)
    (folder / META_FILE).write_text(json.dumps({"n_features": 3, "hidden_size": 4, "num_layers": 1,
                                                "mean": ["0", 0, 0], "scale": [1, 1, 1]}))
    relist(folder)
    with pytest.raises(StepInputError) as exc:
        load_model_dir(folder)
    _assert_refused(exc, META_FILE)
    assert "column 'mean'" in str(exc.value)


def _tarball(folder: Path, target: Path) -> Path:
    with tarfile.open(target, "w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(folder)))
    return target


@pytest.mark.parametrize("as_tarball", [False, True], ids=["folder", "model.tar.gz"])
def test_serve_refuses_a_crafted_artifact(crafted, tmp_path: Path, as_tarball: bool) -> None:
    folder, marker = crafted
    source = folder
    if as_tarball:
        (tmp_path / "packed").mkdir()
        source = _tarball(folder, tmp_path / "packed" / "model.tar.gz").parent
    with pytest.raises(StepInputError) as exc:
        load_artifact(source)
    _assert_refused(exc, MODEL_FILE)
    assert not marker.exists()


@pytest.mark.parametrize("as_tarball", [False, True], ids=["folder", "model.tar.gz"])
def test_evaluate_refuses_a_crafted_artifact(crafted, tmp_path: Path, features_dir: Path, as_tarball: bool) -> None:
    folder, marker = crafted
    source = _tarball(folder, tmp_path / "model.tar.gz") if as_tarball else folder
    with pytest.raises(StepInputError) as exc:
        run_evaluation(source, features_dir, tmp_path / "out", None, LOG, bootstrap=0)
    _assert_refused(exc, MODEL_FILE)
    assert not marker.exists()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_check_artifact_refuses_a_crafted_artifact(crafted, tmp_path: Path, features_dir: Path) -> None:
    folder, marker = crafted
    packed = tmp_path / "packed"
    packed.mkdir()
    _tarball(folder, packed / "model.tar.gz")
    evaluation = tmp_path / "evaluation"
    evaluation.mkdir()
    pd.DataFrame({"ticker": ["AAA"], "ts": [pd.Timestamp("2024-01-02")], "prediction": [0.5]}).to_parquet(
        evaluation / PREDICTIONS_FILE)
    write_manifest(evaluation, [PREDICTIONS_FILE], step="ensemble")  # a complete folder: the artifact is what fails
    with pytest.raises(StepInputError) as exc:
        run_check(packed, features_dir, evaluation, tmp_path / "out", LOG)
    _assert_refused(exc, MODEL_FILE)
    assert not marker.exists()


def test_no_loader_in_steps_can_unpickle() -> None:
    """A guard against a new loader that can carry code: no pickle, joblib, weights_only=False, allow_pickle."""
    root = Path(__file__).resolve().parents[2] / "steps"
    pattern = re.compile(r"weights_only\s*=\s*False|allow_pickle\s*=\s*True|\bpickle\.loads?\(|\bjoblib\.load\("
                         r"|read_pickle\(|\bdill\.|cloudpickle|trust_remote_code\s*=\s*True")
    hits = [f"{path.relative_to(root)}:{n}" for path in sorted(root.rglob("*.py"))
            for n, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert hits == []


def test_a_truncated_model_archive_is_one_line_not_an_eof_traceback(gru_folder, tmp_path: Path) -> None:
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(Path(gru_folder[0]).iterdir()):
            tar.add(path, arcname=path.name)
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])

    def through_serving() -> None:
        with load_artifact(archive):
            pass

    for load in (through_serving, lambda: load_model_dir(archive)):
        with pytest.raises(StepInputError, match="cannot extract") as caught:
            load()
        assert str(archive) in str(caught.value) and "\n" not in str(caught.value)
