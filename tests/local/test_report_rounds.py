"""Each round's model row shows the job its evaluation read and that job's fold AUCs, not the last round's.

The record is what the local runner writes for three tuning rounds of one algorithm, where round 3's warm
start did not beat round 2 (its OverallBestTrainingJob is round 2's job, as in docs/data.md's real-data run).
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from html.parser import HTMLParser

from pipelines.report.collect import collect, feature_notes
from pipelines.report.render import render

BUCKET = "s3://b/models/xgboost"
FOLD_AUCS = {"job-1a": [0.51, 0.52], "job-1b": [0.55, 0.53], "job-2a": [0.56, 0.54], "job-3a": [0.50, 0.49]}
OBJECTIVE = {job: sum(aucs) / len(aucs) for job, aucs in FOLD_AUCS.items()}


class _Store:
    def __init__(self, objects: dict[str, bytes]):
        self.objects = objects

    def read_bytes(self, uri: str) -> bytes | None:
        return self.objects.get(uri)


def _tarball(meta: dict) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        blob = json.dumps(meta).encode()
        info = tarfile.TarInfo("model_meta.json")
        info.size = len(blob)
        archive.addfile(info, io.BytesIO(blob))
    return buffer.getvalue()


def _job(name: str) -> dict:
    return {"TrainingJobName": name, "FinalHyperParameterTuningJobObjectiveMetric": {"Value": OBJECTIVE[name]},
            "ModelArtifacts": {"S3ModelArtifacts": f"{BUCKET}/{name}/output/model.tar.gz"}, "ObjectiveStatus":
            "Succeeded", "TunedHyperParameters": {"eta": "0.1"}}


def _tuning(name: str, own: list[str], overall: str | None) -> dict:
    best = max(own, key=OBJECTIVE.get)
    properties = {"TrainingJobSummaries": [_job(j) for j in own], "BestTrainingJob": _job(best)}
    if overall:
        properties["OverallBestTrainingJob"] = _job(overall)
    return {"name": name, "type": "Tuning", "status": "Succeeded", "properties": properties,
            "outputs": {"best_model": f"{BUCKET}/{best}/output/model.tar.gz", "best_training_job": best},
            "metrics": {"objective_metric": "validation:auc"}}


def _evaluate(name: str) -> dict:
    return {"name": name, "type": "Processing", "status": "Succeeded", "outputs": {"evaluation": f"s3://b/{name}"}}


def _record_and_store() -> tuple[dict, _Store]:
    steps = [
        {"name": "BuildFeatures", "type": "Processing", "status": "Succeeded", "outputs": {"features": "s3://b/f"}},
        _tuning("Tune-xgboost", ["job-1a", "job-1b"], None), _evaluate("Evaluate-xgboost"),
        _tuning("Tune-xgboost-2", ["job-2a"], "job-2a"), _evaluate("Evaluate-xgboost-2"),
        _tuning("Tune-xgboost-3", ["job-3a"], "job-2a"), _evaluate("Evaluate-xgboost-3"),
    ]
    objects = {f"{BUCKET}/{job}/output/model.tar.gz": _tarball({"folds": [{"validation_auc": a} for a in aucs]})
               for job, aucs in FOLD_AUCS.items()}
    for name, auc in (("Evaluate-xgboost", 0.51), ("Evaluate-xgboost-2", 0.506), ("Evaluate-xgboost-3", 0.506)):
        metrics = {"auc": {"value": auc, "standard_deviation": 0.03}}
        objects[f"s3://b/{name}/evaluation.json"] = json.dumps(
            {"algorithm": "xgboost", "binary_classification_metrics": metrics}).encode()
    manifest = {"feature_columns": ["ret_5", "vol_5"], "rows": {"total": 900, "holdout": 100}, "tickers": 3,
                "absent_inputs": ["volume"], "dropped_features": {"volume_z_5": ["volume"], "vwap_dev_5": ["volume"]},
                "fold_coverage": {"sessions_before_folds": 40, "note": "the first 40 sessions are in no fold"}}
    objects["s3://b/f/manifest.json"] = json.dumps(manifest).encode()
    return {"steps": steps, "status": "Failed", "parameters": {}}, _Store(objects)


def test_each_round_row_shows_the_job_its_evaluation_read_and_that_jobs_fold_aucs() -> None:
    record, store = _record_and_store()
    data = collect(record, store)
    rows = {m.step: (m.training_job, m.fold_aucs, m.training_job_step) for m in data.models}
    assert rows == {
        "Evaluate-xgboost": ("job-1b", FOLD_AUCS["job-1b"], None),
        "Evaluate-xgboost-2": ("job-2a", FOLD_AUCS["job-2a"], None),
        # round 3's own trial (job-3a) lost to round 2's job, which is what round 3 evaluated
        "Evaluate-xgboost-3": ("job-2a", FOLD_AUCS["job-2a"], "Tune-xgboost-2"),
    }
    third = next(t for t in data.tunings if t.step == "Tune-xgboost-3")
    assert (third.own_best_job, third.own_best_value) == ("job-3a", OBJECTIVE["job-3a"])


class _Rows(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, str] = {}
        self._current: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr" and dict(attrs).get("data-model-step"):
            self._current = dict(attrs)["data-model-step"]
            self.rows[self._current] = ""

    def handle_endtag(self, tag):
        if tag == "tr":
            self._current = None

    def handle_data(self, data):
        if self._current:
            self.rows[self._current] += data + " "


def test_the_page_prints_each_rounds_own_fold_aucs_and_what_the_features_left_out() -> None:
    record, store = _record_and_store()
    html = render(collect(record, store))
    parser = _Rows()
    parser.feed(html)
    assert "0.5500, 0.5300" in parser.rows["Evaluate-xgboost"]
    assert "0.5600, 0.5400" in parser.rows["Evaluate-xgboost-2"]
    assert "0.5500" not in parser.rows["Evaluate-xgboost-2"] and "0.5000, 0.4900" not in parser.rows[
        "Evaluate-xgboost"]
    assert re.search(r"job-2a\s+\(run by Tune-xgboost-2\)", parser.rows["Evaluate-xgboost-3"])
    assert "this round's own best: <code>job-3a</code>" in html
    notes = feature_notes(json.loads(store.objects["s3://b/f/manifest.json"]))
    assert notes[0] == "the bars have no volume: 2 features that need them were dropped (volume_z_5, vwap_dev_5)"
    assert all(note in html for note in notes)


def test_unweighted_tweets_are_a_feature_note_of_the_page_and_the_summary() -> None:
    """Engagement read after the fact (issue 30): the manifest's counts become one note; none when all weighted."""
    late = {"engagement": {"used": 90, "neutralised_late": 7, "neutralised_unknown": 3}}
    assert feature_notes(late) == [
        "10 of 100 tweets are unweighted in sent_*: their engagement counts were read after the tweet could first be "
        'used (7) or at an unknown time (3; docs/data.md, "When the engagement counts were read")']
    assert feature_notes({"engagement": {"used": 90, "neutralised_late": 0, "neutralised_unknown": 0}}) == []
