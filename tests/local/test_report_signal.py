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
    assert 'class="chart ic-chart"' in html and 'class="chart curve-chart"' in html
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


def test_one_ticker_per_time_shows_undefined_where_a_zero_would_have_been() -> None:
    """No cross-section: the step writes null; the page says "undefined", draws no curve and shows no 0.0000."""
    rng = np.random.default_rng(2)
    ts = pd.date_range("2024-06-03 14:45", periods=60, freq="15min", tz="UTC")
    frame = pd.DataFrame({"ts": ts, "ticker": "T0", "forward_return": rng.normal(0, 0.01, len(ts)),
                          "vol_60": rng.uniform(0.01, 0.03, len(ts))})
    manifest = {"settings": {"label_horizon_bars": 30, "sample_every_bars": 15}}
    sections = holdout_sections(frame, rng.uniform(0, 1, len(ts)), manifest, SignalSettings(), Path("f.parquet"))
    model = _model("Evaluate-xgboost", {"signal_quality": sections["signal_quality"], "backtest": sections["backtest"]})
    model.metrics = {k: v["value"] for k, v in sections["metrics"].items()}
    html = signal_section(ReportData(record={}, models=[model]))
    assert "<td>holdout</td><td class=num>undefined</td>" in html
    assert re.search(r"<td>long-short</td><td>net</td>(<td class=num>undefined</td>){6}", html)
    assert "No position was ever held" in html and 'curve-chart"' not in html
    assert "0.0000" not in html and "None" not in html
    page = render(ReportData(record={"steps": [], "status": "Succeeded"}, models=[model]))
    assert "information_coefficient undefined" in page and "long_short_net_sharpe undefined" in page


def test_the_backtest_plausibility_verdict_is_named_beside_the_figures() -> None:
    sections = _sections()  # scores = returns x 0.3 + a little noise: a near-perfect book
    screen = sections["backtest"]["plausibility"]
    assert screen["plausible"] is False and screen["flags"]
    html = signal_section(ReportData(record={}, models=[_model("Evaluate-xgboost", {
        "signal_quality": sections["signal_quality"], "backtest": sections["backtest"]})]))
    table_end = html.index("</table>", html.index("<th>Sharpe (per period, not annualised)</th>"))
    assert html.index('data-plausibility="implausible"') > table_end  # right after the backtest table
    assert "Implausible economics" in html and all(flag in html for flag in screen["flags"])
    sharpe = sections["backtest"]["long_short"]["net"]["sharpe_per_period"]
    assert f"<td class=num>{sharpe:.4f}</td>" in html

    calm = {**sections["backtest"], "plausibility": {**screen, "plausible": True, "flags": []}}
    html = signal_section(ReportData(record={}, models=[_model("Evaluate-xgboost", {
        "signal_quality": sections["signal_quality"], "backtest": calm})]))
    assert 'data-plausibility="plausible"' in html and "hit rate &le; 0.75" in html
    assert "Implausible" not in html
