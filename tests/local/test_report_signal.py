"""The report's signal-quality section, from evaluation sections computed by the step code (issue 19)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.report.collect import ModelResult, ReportData
from pipelines.report.render import render
from pipelines.report.signal import signal_section
from steps.evaluate.signal import SignalSettings, holdout_sections


def _sections() -> dict:
    rng = np.random.default_rng(5)
    ts = pd.date_range("2024-06-03 14:45", periods=120, freq="15min", tz="UTC")
    names = 10
    returns = rng.normal(0, 0.01, (len(ts), names))
    frame = pd.DataFrame({"ts": np.repeat(ts, names), "ticker": np.tile([f"T{i}" for i in range(names)], len(ts)),
                          "forward_return": returns.ravel(), "vol_60": rng.uniform(0.01, 0.03, len(ts) * names)})
    scores = 0.5 + 0.3 * returns.ravel() + rng.normal(0, 0.01, returns.size)  # some edge
    manifest = {"settings": {"label_horizon_bars": 30, "sample_every_bars": 15}}
    return holdout_sections(frame, scores, manifest, SignalSettings(), Path("features.parquet"))


def _model(step: str, extra: dict) -> ModelResult:
    return ModelResult(step=step, name=step.removeprefix("Evaluate-"), auc=0.6, auc_std=0.01, metrics={}, extra=extra)


def test_section_shows_ic_tables_both_charts_and_the_backtest_figures() -> None:
    sections = _sections()
    data = ReportData(record={}, models=[_model("Evaluate-xgboost", {"signal_quality": sections["signal_quality"],
                                                                     "backtest": sections["backtest"]})])
    html = signal_section(data)
    holdout = sections["signal_quality"]["holdout"]["ic"]
    assert f"<td>holdout</td><td class=num>{holdout['mean']:.4f}</td>" in html
    assert 'class="ic-chart"' in html and 'class="curve-chart"' in html
    sharpe = sections["backtest"]["long_short"]["net"]["sharpe"]
    assert f"<td class=num>{sharpe:.4f}</td>" in html
    assert "non-overlapping periods of 2 decision time(s)" in html  # 30-bar label, a row every 15 bars
    days = len(sections["signal_quality"]["ic_by_period"]["dates"])
    assert len(re.findall(r"<rect [^>]*><title>[0-9-]+: IC", html)) == days
    assert "None" not in html and "nan" not in html.lower()


def test_an_evaluation_without_the_section_says_so_and_the_page_still_renders() -> None:
    data = ReportData(record={"steps": [], "status": "Succeeded"}, models=[_model("Evaluate-xgboost", {})])
    assert "written before it existed" in signal_section(data)
    assert "<h2>Signal quality and backtest (holdout)</h2>" in render(data)
