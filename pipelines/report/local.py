"""The report of a local run, written beside its execution.json (the runner calls this after every run)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pipelines.report.collect import collect
from pipelines.report.render import render
from pipelines.report.sources import LocalStoreSource


def write_report(execution_json: Path, store_root: Path | None = None) -> Path:
    """Render `report.html` beside a local execution record; the store is the run folder's `s3/`."""
    record = json.loads(execution_json.read_text())
    root = store_root or execution_json.parent.parent / "s3"
    html = render(collect(record, LocalStoreSource(root)))
    target = execution_json.with_name("report.html")
    partial = target.with_name(".report.html.partial")
    partial.write_text(html)
    os.replace(partial, target)
    return target
