"""The report of a local run, written beside its execution.json (the runner calls this after every run)."""

from __future__ import annotations

import os
from pathlib import Path

from pipelines.report.collect import collect, feature_notes, final_holdout_lines, latest_week_below_gate
from pipelines.report.logs import local_log_links
from pipelines.report.record import read_record
from pipelines.report.render import render
from pipelines.report.sources import LocalStoreSource


def write_report(execution_json: Path, store_root: Path | None = None, target: Path | None = None) -> Path:
    """Render `report.html` beside a local execution record (or at `target`, leaving the run's own report as it
    is); the store is the run folder's `s3/`; job logs are linked relative to where the page is written."""
    record = read_record(execution_json)
    root = store_root or execution_json.parent.parent / "s3"
    data = collect(record, LocalStoreSource(root))
    target = Path(target) if target else execution_json.with_name("report.html")
    data.job_logs = local_log_links(record.get("steps") or [], execution_json.parent.resolve(),
                                    target.parent.resolve())
    html = render(data)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(html)
    os.replace(partial, target)
    return target


def final_holdout_summary(execution_json: Path) -> list[str]:
    """The lockbox's lines of the run summary (pipelines/report/collect.py `final_holdout_lines`)."""
    record = read_record(execution_json)
    return final_holdout_lines(collect(record, LocalStoreSource(execution_json.parent.parent / "s3")))


def run_warnings(execution_json: Path) -> list[str]:
    """What the run summary must not bury: suspiciously high holdout AUCs, decay in the latest week, and what
    the feature table left out (absent inputs, sessions in no fold)."""
    record = read_record(execution_json)
    data = collect(record, LocalStoreSource(execution_json.parent.parent / "s3"))
    warnings = [f"{step}: {note}" for step, manifest in data.features for note in feature_notes(manifest)]
    for model in data.models:
        if model.suspicion and model.suspicion.get("flag"):
            warnings.append(f"SUSPICIOUS {model.step}: {model.suspicion.get('reason')}")
        decay = latest_week_below_gate(model, record)
        if decay:
            warnings.append(f"{model.step}: latest holdout week {decay['latest_period']} AUC "
                            f"{decay['auc']:.4f} is below the gate {decay['gate']}")  # fmt: skip
    return warnings
