"""The report page: a self-contained HTML file (inline CSS and SVG, no scripts) that opens from disk."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from html import escape
from typing import Any

from pipelines.definition.conditions import condition_text
from pipelines.report.breakdown import breakdown_section
from pipelines.report.collect import ReportData, feature_notes, latest_week_below_gate
from pipelines.report.final import final_holdout_section
from pipelines.report.importance import importance_section
from pipelines.report.signal import signal_section
from pipelines.report.svg import STATUS_COLOURS, collapsed_step_graph, roc_chart, step_graph
from pipelines.report.trials import trials_chart
from pipelines.report.verdict import verdict_section

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#212121;max-width:1200px}
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #e0e0e0}
table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{padding:4px 10px;border-bottom:1px solid #eee;
text-align:left;vertical-align:top}th{background:#fafafa}.num{text-align:right;font-variant-numeric:tabular-nums}
.status{font-weight:600}.bar{display:inline-block;height:9px;background:#90caf9;margin-left:6px}
.pass{color:#2e7d32;font-weight:600}.fail{color:#c62828;font-weight:600}.muted{color:#757575}
.banner{padding:10px 14px;border-radius:6px;margin:12px 0}.ok{background:#e8f5e9}.bad{background:#ffebee}
code{background:#f5f5f5;padding:1px 4px;border-radius:3px}.graph,.roc{margin:8px 0}
.graph-box{width:fit-content;max-width:100%;overflow-x:auto;border:1px solid #eceff1;border-radius:6px;padding:4px}
.legend{font-size:12px;margin:6px 0}.legend span{margin-right:12px}.swatch{display:inline-block;width:11px;height:11px;
border-radius:3px;margin-right:4px;vertical-align:-1px}label.fold{font-size:13px}input.fold{margin:4px 6px 8px 0}
details.unfolded{margin:6px 0}details.unfolded summary{cursor:pointer;font-size:13px;color:#37474f}
#verdict{margin:8px 0 4px}.verdict-grid{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.verdict-grid table{margin:0}.facts{max-width:640px}.facts th{white-space:nowrap}
.side-by-side{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
svg.chart{display:block;margin:8px 0;max-width:100%;height:auto}img.plot{max-width:100%}
pre{white-space:pre-wrap;word-break:break-all}td{overflow-wrap:break-word}code,a.log{overflow-wrap:anywhere}
"""


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return escape(str(value))


def _image(svg: bytes | None) -> str:
    """A plot an artifact holds, as an <img>: a picture loaded that way runs no script and cannot reach the
    page, whatever the file contains (inline, an SVG's <script> or <foreignObject> would be the page's)."""
    if not svg:
        return ""
    return f'<img class="plot" alt="stability plot" src="data:image/svg+xml;base64,{base64.b64encode(svg).decode()}">'


def _section(title: str, draw: Callable[[ReportData], str], data: ReportData) -> str:
    """A section drawn from artifacts; one whose artifact has a shape the page cannot show says so in place
    (the rest of the report is still written)."""
    try:
        return draw(data)
    except (AttributeError, TypeError, ValueError, KeyError, IndexError) as exc:
        data.problems.append(f"{title}: an artifact has an unexpected shape ({type(exc).__name__})")
        return (f'<p class="fail" data-problem="{escape(title)}">This section could not be drawn: an artifact it '
                f"reads has an unexpected shape ({escape(type(exc).__name__)}: {escape(str(exc)[:200])}).</p>")


def _short(value: Any) -> str:
    """Tuned values as a person reads them: 4 significant digits."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{number:.4g}"


def _status(status: Any) -> str:
    status = str(status or "")
    colour = STATUS_COLOURS.get(status, "#757575")
    return f'<span class="status" style="color:{colour}">{escape(status)}</span>'


def _graph_section(steps: list[dict[str, Any]]) -> str:
    """The step graph; when branches were not taken, a checkbox (CSS, no script) folds each into one box."""
    shown = {str(s.get("status") or "NotStarted") for s in steps}
    legend = "".join(
        f'<span><span class="swatch" style="background:{colour}"></span>{escape(status)}</span>'
        for status, colour in STATUS_COLOURS.items()
        if status in shown
    )
    legend = (
        f'<div class="legend">{legend}<span class="muted">an arrow points from a step to one that waits for it; '
        "true / false: the branch a condition chooses</span></div>"
    )
    full = f'<div class="graph-box graph-full">{step_graph(steps)}</div>'
    folded = collapsed_step_graph(steps)
    if folded is None:
        return legend + full
    svg, hidden = folded
    # folded by default: the retry rounds that did not run are one box each; every step stays one click away
    return (
        f'{legend}<div class="graph-box graph-folded">{svg}</div>'
        f'<details class="unfolded"><summary>unfold: every step, including the {hidden} steps of branches not '
        f"taken</summary>{full}</details>"
    )


def _steps_table(steps: list[dict[str, Any]], logs: dict[str, list[tuple[str, str]]] | None = None) -> str:
    longest = max((s.get("seconds") or 0 for s in steps), default=0) or 1
    rows = []
    for step in steps:
        seconds = step.get("seconds")
        bar = f'<span class="bar" style="width:{int(160 * (seconds or 0) / longest)}px"></span>' if seconds else ""
        note = "cache hit" if step.get("cache_hit") else ""
        if step.get("status") == "Skipped":
            note = (step.get("properties") or {}).get("reason", "")
        if step.get("failure_reason"):
            note = step["failure_reason"]
        links = (logs or {}).get(step["name"], [])
        shown = " ".join(f'<a class="log" href="{escape(href)}">{escape(label if len(links) > 1 else "log")}</a>'
                         for label, href in links[:12])
        if len(links) > 12:
            shown += f' <span class="muted">and {len(links) - 12} more</span>'
        rows.append(
            f'<tr data-step="{escape(step["name"])}"><td>{escape(step["name"])}</td>'
            f'<td>{escape(str(step.get("type") or ""))}</td>'
            f"<td>{_status(step.get('status', ''))}</td><td class=num>{_fmt(seconds, 1)}{bar}</td>"
            f"<td class=muted>{escape(str(note))}</td><td>{shown}</td></tr>"
        )
    return (
        "<table><tr><th>step</th><th>type</th><th>status</th><th>seconds</th><th>note</th><th>job log</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _gates_table(steps: list[dict[str, Any]]) -> str:
    rows = []
    for step in steps:
        if step.get("type") != "Condition" or step.get("status") != "Succeeded":
            continue
        outcome = bool((step.get("properties") or {}).get("Outcome"))
        checks = "<br>".join(
            escape(f"{condition_text(item['condition'])} → {item['value']}") for item in step.get("arguments") or []
        )
        verdict = '<span class="pass">passed</span>' if outcome else '<span class="fail">failed</span>'
        rows.append(f'<tr data-gate="{escape(step["name"])}"><td>{escape(step["name"])}</td><td>{verdict}</td>'
                    f"<td><code>{checks}</code></td></tr>")  # fmt: skip
    if not rows:
        return '<p class="muted">No gate was evaluated.</p>'
    return "<table><tr><th>gate</th><th>outcome</th><th>conditions (resolved)</th></tr>" + "".join(rows) + "</table>"


def _models_section(data: ReportData) -> str:
    if not data.models:
        return '<p class="muted">No model was evaluated in this run.</p>'
    rows = []
    for model in data.models:
        ci = model.ci95
        ci_text = f"{ci[0]:.4f} – {ci[1]:.4f}" if ci else "–"
        folds = ", ".join(f"{a:.4f}" for a in model.fold_aucs) or "–"
        # A null metric (IC or net Sharpe with no cross-section) is shown as undefined, not dropped or zeroed.
        others = ", ".join(f"{_fmt(k)} {'undefined' if v is None else _fmt(v)}" for k, v in model.metrics.items()
                           if v is None or isinstance(v, int | float))
        flag = ""
        if model.suspicion and model.suspicion.get("flag"):
            flag = f' <span class="fail">suspiciously high: {escape(str(model.suspicion.get("reason", "")))}</span>'
        decay = latest_week_below_gate(model, data.record) or {}
        if decay:
            flag += (f' <span class="fail">latest week {escape(str(decay.get("latest_period")))}: '
                     f'{_fmt(decay.get("auc"))} below the gate {_fmt(decay.get("gate"), 2)}</span>')
        job = escape(str(model.training_job or "–"))
        if model.training_job_step:
            job += f' <span class="muted">(run by {_fmt(model.training_job_step)})</span>'
        rows.append(
            f'<tr data-model="{escape(model.name)}" data-model-step="{escape(model.step)}">'
            f"<td>{escape(model.name)}</td><td>{escape(model.step)}</td><td>{job}</td>"
            f"<td class=num>{_fmt(model.auc)}{flag}</td><td class=num>{ci_text}</td><td class=num>{folds}</td>"
            f"<td class=muted>{others}</td></tr>"
        )
    table = (
        "<table><tr><th>model</th><th>step</th><th>training job evaluated</th><th>holdout AUC</th>"
        "<th>95% CI (bootstrap)</th><th>fold AUCs of that job (validation)</th><th>other holdout metrics</th></tr>"
        + "".join(rows) + "</table>"
    )
    with_roc = [m for m in data.models if m.roc]
    curves = [(f"{m.name} ({m.step})", *m.roc) for m in with_roc]
    return table + (roc_chart(curves, [m.auc for m in with_roc]) if curves else "")


def _tuning_section(data: ReportData) -> str:
    parts = []
    for tuning in data.tunings:
        trials = sorted(tuning.trials, key=lambda t: -(t["objective"] or -1))
        rows = "".join(
            f"<tr><td>{escape(str(t['job']))}</td><td>{escape(str(t['status']))}</td>"
            f"<td class=num>{_fmt(t['objective'])}</td><td class=muted>"
            f"{escape(', '.join(f'{k}={_short(v)}' for k, v in t['hyperparameters'].items()))}</td></tr>"
            for t in trials
        )
        own = ""
        if tuning.own_best_job and tuning.own_best_job != tuning.best_job:
            own = (f" (counting the warm-start parents; this round's own best: <code>{escape(tuning.own_best_job)}"
                   f"</code>, {_fmt(tuning.own_best_value)})")
        parts.append(
            f"<h3>{escape(tuning.step)}</h3><p>best job <code>{escape(str(tuning.best_job))}</code>, "
            f"{escape(tuning.objective)} = {_fmt(tuning.best_value)}{own}; {len(tuning.trials)} trials</p>"
            f"{_section('Tuning trials', lambda _, t=tuning: trials_chart(t), data)}"
            "<table><tr><th>training job</th><th>status</th><th>objective</th><th>hyperparameters</th></tr>"
            f"{rows}</table>"
        )
    return "".join(parts) or '<p class="muted">No tuning step ran.</p>'


def _leaks_section(data: ReportData) -> str:
    parts = []
    for step, report in data.leak_reports:
        verdict = '<span class="pass">passed</span>' if report.get("passed") else '<span class="fail">LEAK</span>'
        rows = "".join(
            f"<tr><td>{_fmt(c.get('name', ''))}</td>"
            f"<td>{'<span class=pass>pass</span>' if c.get('passed') else '<span class=fail>fail</span>'}</td>"
            f"<td class=muted>{escape(str(c.get('details', '')))}</td>"
            f"<td>{escape(', '.join(map(str, c.get('columns') or [])))}</td></tr>"
            for c in report.get("checks", [])
        )
        parts.append(
            f"<p>{escape(step)}: {verdict} — {escape(str(report.get('summary', '')))}</p>"
            f"<table><tr><th>check</th><th>result</th><th>details</th><th>columns</th></tr>{rows}</table>"
        )
    return "".join(parts) or '<p class="muted">No leak report in this run.</p>'


def _features_section(data: ReportData) -> str:
    parts = []
    for step, manifest in data.features:
        rows = manifest.get("rows") or {}
        notes = "".join(f'<li class="fail">{escape(note)}</li>' for note in feature_notes(manifest))
        parts.append(
            f'<p data-features="{escape(step)}">{escape(step)}: {_fmt(rows.get("total"))} rows x '
            f'{len(manifest.get("feature_columns") or [])} features, {_fmt(manifest.get("tickers"))} tickers, '
            f'{_fmt(rows.get("holdout"))} holdout rows</p>' + (f"<ul>{notes}</ul>" if notes else "")
        )
    return "".join(parts) or '<p class="muted">No feature table in this run.</p>'


def _stability_section(data: ReportData) -> str:
    parts = []
    for step, report, svg in data.stability:
        features = report.get("features") or {}
        ranked = sorted(features.items(), key=lambda item: -(item[1].get("mean_share") or 0))
        rows = "".join(
            f"<tr><td>{_fmt(name)}</td><td class=num>{_fmt(info.get('mean_share'))}</td>"
            f"<td>{'kept' if info.get('selected') else '<span class=fail>dropped</span>'}</td>"
            f"<td class=muted>{escape(', '.join(map(str, info.get('dropped_because') or [])))}</td></tr>"
            for name, info in ranked
        )
        parts.append(
            f"<p>{escape(step)}: kept {_fmt(report.get('features_after'))} of {_fmt(report.get('features_before'))} "
            f"features (floor {_fmt(report.get('floor'))} on {escape(str(report.get('scale', '')))})</p>"
            + _image(svg)
            + "<table><tr><th>feature</th><th>mean |SHAP| share</th><th>verdict</th><th>why</th></tr>"
            + rows
            + "</table>"
        )
    return "".join(parts) or '<p class="muted">Feature stability analysis was not part of this run.</p>'


def _empty(record: dict[str, Any]) -> str:
    """An execution with no steps: said plainly, never a success banner over empty sections."""
    return (f'<section id="verdict"><div class="banner bad" id="status">Pipeline {escape(str(record.get("status")))} '
            "with no steps recorded: nothing to report</div><p>This execution lists no steps, so there are no gates, "
            "models, metrics or artifacts to show. Either nothing ran (an execution started against an emulator "
            "that does not run steps, or one stopped before its first step) or its step list could not be read. "
            "Run the pipeline with <code>python -m pipelines.run</code>, or check the execution's "
            "steps with <code>aws sagemaker list-pipeline-execution-steps</code>.</p></section>")


def _package(data: ReportData) -> str:
    package = data.record.get("model_package_arn")
    if not package:
        return '<span class="muted">none registered</span>'
    approval = data.approval
    return (f'{escape(str(package))} — approval status: <b id="approval">{escape(approval or "unknown")}</b>'
            + ("" if approval else ' <span class="muted">(the record does not carry it; see '
               "<code>python -m pipelines.approve --list</code>)</span>"))


def render(data: ReportData) -> str:
    record = data.record
    steps = record.get("steps", [])
    verdicts = {True: "<span class=pass>passed</span>", False: "<span class=fail>failed</span>"}
    checks = _section("Artifact check", lambda d: "".join(
        f"<p>{escape(step)}: {verdicts[bool(c.get('passed'))]} — {escape(str(c.get('summary', '')))}</p>"
        for step, c in d.checks
    ), data)
    parameters = json.dumps(record.get("parameters", {}), indent=1, sort_keys=True, default=str)
    head = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(str(record.get("pipeline_name")))} run report</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{CSS}</style></head><body>
<h1>{escape(str(record.get("pipeline_name")))} — execution {escape(str(record.get("execution_id")))}</h1>
<p class="muted">started {escape(str(record.get("started_at")))}, ended {escape(str(record.get("ended_at")))}</p>
"""
    if not steps and not (data.models or data.tunings or data.finals or data.features or data.leak_reports):
        return head + _empty(record) + "\n</body></html>\n"
    return head + f"""{_section("Verdict", verdict_section, data)}
<h2>Final holdout (the lockbox)</h2>{_section("Final holdout", final_holdout_section, data)}
<h2>Steps</h2>{_graph_section(steps)}{_steps_table(steps, data.job_logs)}
<h2>Gates</h2>{_gates_table(steps)}
<h2>Features</h2>{_section("Features", _features_section, data)}
<h2>Models (selection holdout; the final holdout row is the lockbox's)</h2>{_section("Models", _models_section, data)}
<h2>AUC by sector, ticker and week; calibration</h2>{_section("AUC by group", breakdown_section, data)}
<h2>Feature importance (the model's own)</h2>{_section("Feature importance", importance_section, data)}
<h2>Signal quality and backtest (holdout)</h2>{_section("Signal quality", signal_section, data)}
<h2>Tuning</h2>{_section("Tuning", _tuning_section, data)}
<h2>Leak tests</h2>{_section("Leak tests", _leaks_section, data)}
<h2>Feature stability (SHAP)</h2>{_section("Feature stability", _stability_section, data)}
<h2>Artifact check</h2>{checks or '<p class="muted">No artifact check in this run.</p>'}
<h2>Registered model package</h2>
<p id="package">{_package(data)}</p>
<h2>Parameters</h2><pre>{escape(parameters)}</pre>
</body></html>
"""
