"""The report's first screen: did the run register a model, where it ended, and the figures that decided it.

Why first: the page used to open on ~2,400 px of step graph, with the gates and the AUC on the second screen
(issue 31). This block answers "can I use this model, and why (not)?" in one screen: the pipeline status and the
step it ended on (the Fail step's message, or the Register step), every gate that was evaluated with its value,
interval and threshold, the final holdout AUC beside the selection holdout's, IC / ICIR and the net Sharpe with
the backtest plausibility screen's verdict. Details follow in the sections below it.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

from pipelines.definition.conditions import condition_text
from pipelines.report.collect import ReportData

_SYMBOLS = {"GreaterThanOrEqualTo": "≥", "GreaterThan": ">", "LessThanOrEqualTo": "≤", "LessThan": "<",
            "Equals": "="}  # fmt: skip


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _num(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "undefined"
    return f"{value:.{digits}f}"


@dataclass
class GateRow:
    gate: str
    value: str
    interval: str
    threshold: str
    passed: bool


def gate_rows(steps: list[dict[str, Any]]) -> list[GateRow]:
    """One row per condition of every evaluated gate, from the record's resolved conditions (a condition step's
    `arguments`: [{"condition": {...resolved...}, "value": bool}], pipelines/local/executor.py)."""
    rows = []
    for step in steps:
        if step.get("type") != "Condition" or step.get("status") != "Succeeded":
            continue
        items = [i for i in step.get("arguments") or [] if isinstance(i, dict) and isinstance(i.get("condition"), dict)]
        if not items:  # a SageMaker execution lists only the outcome
            outcome = bool(_dict(step.get("properties")).get("Outcome"))
            rows.append(GateRow(step["name"], "–", "", "outcome only (no resolved conditions)", outcome))
            continue
        for item in items:
            condition = item["condition"]
            kind = condition.get("Type")
            left, right = condition.get("LeftValue"), condition.get("RightValue")
            if kind in _SYMBOLS and not isinstance(left, dict):
                interval = condition.get("LeftInterval")
                rows.append(GateRow(
                    step["name"], _num(left) if isinstance(left, float) else escape(str(left)),
                    f"{interval[0]:.4f} – {interval[1]:.4f}" if isinstance(interval, list) and len(interval) == 2
                    else "",
                    f"{_SYMBOLS[kind]} {_num(right) if isinstance(right, float) else escape(str(right))}",
                    bool(item.get("value"))))
            else:
                rows.append(GateRow(step["name"], escape(condition_text(condition)), "", "", bool(item.get("value"))))
    return rows


def ended_at(record: dict[str, Any]) -> tuple[str, str]:
    """The step the run ended on and what it says: the failing Fail step's message (or the first failed step's
    reason), else the Register step with the package, else the last step that ran."""
    steps = record.get("steps") or []
    failed = [s for s in steps if s.get("status") == "Failed"]
    chosen = next((s for s in failed if s.get("type") == "Fail"), None) or (failed[0] if failed else None)
    if chosen:
        return chosen["name"], str(chosen.get("failure_reason") or record.get("failure_reason") or "failed")
    register = next((s for s in steps if s.get("type") == "RegisterModel" and s.get("status") == "Succeeded"), None)
    if register:
        arn = record.get("model_package_arn") or _dict(register.get("properties")).get("ModelPackageArn")
        return register["name"], f"registered {arn}"
    ran = [s for s in steps if s.get("status") in {"Succeeded", "Executing", "Stopped"}]
    if not ran:
        return "–", "no step ran"
    last = ran[-1]
    return last["name"], f"{last.get('status')}; no model was registered"


def _headline(data: ReportData) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Whose IC and Sharpe the verdict shows: the final holdout's (the package's figures), else the ensemble's,
    else the best single model's on the selection holdout."""
    if data.finals:
        step, evaluation = data.finals[0]
        return f"{step} (final holdout)", _dict(evaluation.get("signal_quality")), _dict(evaluation.get("backtest"))
    models = [m for m in data.models if m.extra.get("signal_quality")]
    ensemble = [m for m in models if m.name == "ensemble"]
    best = ensemble or sorted(models, key=lambda m: -(m.auc or 0))
    if not best:
        return "", {}, {}
    model = best[0]
    return f"{model.step} (selection holdout)", _dict(model.extra.get("signal_quality")), \
        _dict(model.extra.get("backtest"))


def _plausibility(data: ReportData, backtest: dict[str, Any]) -> str:
    """The screen's verdict on the headline backtest, or on the selection evaluation that carried one."""
    screen, where = _dict(backtest.get("plausibility")), ""
    if not screen:
        for model in data.models:
            candidate = _dict(_dict(model.extra.get("backtest")).get("plausibility"))
            if candidate:
                screen, where = candidate, f" (screened on {model.step})"
                break
    if not screen:
        return '<span class="muted">not screened (no plausibility section in the evaluation)</span>'
    if screen.get("plausible") is False:
        flags = "; ".join(str(f) for f in screen.get("flags") or [])
        return f'<span class="fail" data-plausible="false">IMPLAUSIBLE{escape(where)}: {escape(flags)}</span>'
    if screen.get("plausible") is True:
        return f'<span class="pass" data-plausible="true">within the ceilings{escape(where)}</span>'
    return f'<span class="muted">undefined{escape(where)}: {escape(str(screen.get("note") or ""))}</span>'


def _auc_cells(data: ReportData) -> str:
    if data.finals:
        evaluation = data.finals[0][1]
        final = _dict(_dict(evaluation.get("binary_classification_metrics")).get("auc"))
        selection = _dict(_dict(evaluation.get("selection_holdout")).get("auc"))
        return (f'<b data-final-auc>{_num(final.get("value"))}</b> ± {_num(final.get("standard_deviation"))} '
                f'<span class="muted">final holdout (scored once)</span> · {_num(selection.get("value"))} ± '
                f'{_num(selection.get("standard_deviation"))} <span class="muted">selection holdout (best of the '
                "looks)</span>")
    best = max((m for m in data.models if m.auc is not None), key=lambda m: m.auc or 0, default=None)
    sealed = "final holdout sealed, not opened" if data.lockbox else "no final holdout in this run"
    if best is None:
        return f'<span class="muted">{sealed}; no model was evaluated</span>'
    return (f'<span class="muted">{sealed}</span> · {_num(best.auc)} ± {_num(best.auc_std)} '
            f'<span class="muted">selection holdout, {escape(best.name)}</span>')


def verdict_section(data: ReportData) -> str:
    record = data.record
    steps = record.get("steps") or []
    status = str(record.get("status"))
    step, message = ended_at(record)
    ok = status == "Succeeded" and bool(steps)
    banner = f"Pipeline {status}" + (f": {record['failure_reason']}" if record.get("failure_reason") else "")
    if not steps:  # artifacts without a step list: say so rather than show a success nothing backs
        banner += " — but the execution lists no steps: the gates and statuses below are missing"
    label, signal, backtest = _headline(data)
    ic = _dict(_dict(signal.get("holdout")).get("ic"))
    net = _dict(_dict(backtest.get("long_short")).get("net"))
    package = record.get("model_package_arn")
    approval = data.approval
    facts = [
        ("ended at", f"<code>{escape(step)}</code> — {escape(message)}"),
        ("holdout AUC", _auc_cells(data)),
        ("IC / ICIR", f"{_num(ic.get('mean'))} / {_num(ic.get('icir'), 2)} <span class=muted>{escape(label)}</span>"
         if signal else '<span class="muted">no signal-quality section</span>'),
        ("long-short net Sharpe", f"{_num(net.get('sharpe'), 2)} annualised, {_num(net.get('sharpe_per_period'), 3)}"
         f" per period" if net else '<span class="muted">no backtest</span>'),
        ("backtest plausibility", _plausibility(data, backtest)),
        ("model package", (f"<code>{escape(str(package))}</code> — approval: <b data-approval>"
                           f"{escape(approval or 'unknown')}</b>") if package
         else '<span class="muted">none registered</span>'),
    ]
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in facts)
    gates = gate_rows(steps)
    gate_table = ("<table class=gates><tr><th>gate</th><th>value</th><th>95% interval</th><th>threshold</th>"
                  "<th>result</th></tr>" + "".join(
                      f'<tr data-verdict-gate="{escape(g.gate)}"><td>{escape(g.gate)}</td><td class=num>{g.value}</td>'
                      f"<td class=num>{g.interval}</td><td class=num>{g.threshold}</td><td>"
                      f"{'<span class=pass>pass</span>' if g.passed else '<span class=fail>fail</span>'}</td></tr>"
                      for g in gates) + "</table>") if gates else '<p class="muted">No gate was evaluated.</p>'
    return (f'<section id="verdict"><div class="banner {"ok" if ok else "bad"}" id="status">{escape(banner)}</div>'
            f'<div class="verdict-grid"><table class="facts">{rows}</table><div>{gate_table}</div></div></section>')
