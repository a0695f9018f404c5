"""The report's first section: the final holdout (the lockbox), with the selection holdout beside it, labelled.

Why first: the figure a package is registered on is the final holdout's, scored once after every gate and round
had looked at the selection holdout. The selection holdout's AUC is the best of N looks and is shown as that,
with the looks counted and the statistics that discount them (docs/training.md, "Two holdouts").
"""

from __future__ import annotations

from html import escape
from typing import Any

from pipelines.report.collect import ReportData


def _number(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "undefined"
    return f"{value:.{digits}f}"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _row(label: str, value: str, note: str = "") -> str:
    return f"<tr><th>{escape(label)}</th><td class=num>{value}</td><td class=muted>{escape(note)}</td></tr>"


def _final_table(step: str, evaluation: dict[str, Any]) -> str:
    auc = _dict(_dict(evaluation.get("binary_classification_metrics")).get("auc"))
    selection = _dict(evaluation.get("selection_holdout"))
    selection_auc = _dict(selection.get("auc"))
    stats = _dict(evaluation.get("selection"))
    looks = _dict(stats.get("looks"))
    dsr = _dict(_dict(stats.get("selection_holdout")).get("dsr"))
    pbo = _dict(stats.get("pbo"))
    box = _dict(evaluation.get("final_holdout"))
    holdout = _dict(evaluation.get("holdout"))
    net = _dict(_dict(_dict(evaluation.get("backtest")).get("long_short")).get("net"))
    rounds = ", ".join(f"{k}: {v}" for k, v in _dict(looks.get("by_algorithm_round")).items())
    rows = [
        _row("final holdout AUC", f"<b>{_number(auc.get('value'))}</b> ± {_number(auc.get('standard_deviation'))}",
             f"the lockbox, scored once by this model: {holdout.get('rows')} rows, {holdout.get('start')} .. "
             f"{holdout.get('end')}"),
        _row("selection holdout AUC", f"{_number(selection_auc.get('value'))} ± "
             f"{_number(selection_auc.get('standard_deviation'))}",
             "what every gate and round looked at: the best of the looks below, not an estimate"),
        _row("looks", escape(str(looks.get("n", "undefined"))),
             f"{looks.get('trials')} tuning trials ({rounds or 'none found'}) and the ensemble"),
        _row("deflated Sharpe ratio (selection holdout)", _number(dsr.get("dsr"), 3),
             f"P(true Sharpe > the best of {looks.get('n')} trials expected by luck: SR0 "
             f"{_number(dsr.get('sr0'), 3)} per period); PSR {_number(dsr.get('psr'), 3)}"),
        _row("probabilistic Sharpe ratio (final holdout)",
             _number(_dict(stats.get("final_holdout")).get("psr"), 3), "P(true Sharpe > 0), no selection on it"),
        _row("probability of backtest overfitting", _number(pbo.get("pbo"), 3),
             str(pbo.get("reason") or f"CSCV over the trials' out-of-fold AUC, {pbo.get('n_blocks')} time blocks, "
                                      f"{pbo.get('n_combinations')} splits")),
        _row("final holdout long-short net Sharpe", _number(net.get("sharpe"), 2),
             f"hit rate {_number(net.get('hit_rate'), 3)}, max drawdown {_number(net.get('max_drawdown'))}"),
    ]
    flags = _dict(_dict(evaluation.get("backtest")).get("plausibility"))
    if flags and flags.get("plausible") is False:
        rows.append(_row("backtest plausibility", '<span class="fail">implausible</span>',
                         "; ".join(str(f) for f in flags.get("flags") or [])))
    title = f"{escape(step)} — sealed from {escape(str(box.get('final_holdout_start')))}"
    return f'<p class="muted">{title}</p><table id="final-holdout">{"".join(rows)}</table>'


def final_holdout_section(data: ReportData) -> str:
    if data.finals:
        return "".join(_final_table(step, evaluation) for step, evaluation in data.finals)
    if data.lockbox:
        box = data.lockbox
        return (f'<p id="final-holdout">Sealed, not opened: {escape(str(box.get("final_holdout_rows")))} rows from '
                f'{escape(str(box.get("final_holdout_start")))} ({escape(str(box.get("final_holdout_sessions")))} '
                "sessions). No model passed the selection gates, so nothing was scored on the final holdout.</p>")
    return '<p class="muted">No final holdout in this run.</p>'
