"""Where each model's holdout AUC comes from: by sector, by ticker (the best and worst few), by week, and its
calibration (predicted probability against the observed up-rate per bin, with a reliability chart).

All of it is in evaluation.json already (steps/evaluate: by_sector, by_ticker, by_period, calibration); the
page showed none of it (issue 31). A pooled AUC of 0.56 can be one sector at 0.70 and the rest at 0.50.
"""

from __future__ import annotations

from html import escape
from typing import Any

from pipelines.report.axes import Axes, polyline
from pipelines.report.collect import ModelResult, ReportData

EXTREMES = 5  # tickers shown at each end


def _num(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "undefined"
    return f"{value:.{digits}f}"


def _groups(table: Any) -> list[tuple[str, float | None, Any]]:
    """(name, auc, rows) of a {name: {auc, rows}} section, highest AUC first (undefined last)."""
    if not isinstance(table, dict):
        return []
    items = [(str(k), v.get("auc"), v.get("rows")) for k, v in table.items() if isinstance(v, dict)]
    return sorted(items, key=lambda i: (not isinstance(i[1], int | float), -(i[1] if isinstance(i[1], int | float)
                                                                             else 0)))


def _auc_table(title: str, items: list[tuple[str, Any, Any]], attribute: str) -> str:
    rows = "".join(f'<tr {attribute}="{escape(name)}"><td>{escape(name)}</td><td class=num>{_num(auc)}</td>'
                   f"<td class=num>{escape(str(rows))}</td></tr>" if rows != "" else
                   f'<tr class="gap"><td colspan=3 class=muted>{escape(name)}</td></tr>' for name, auc, rows in items)
    return f"<table><tr><th>{escape(title)}</th><th>AUC</th><th>rows</th></tr>{rows}</table>"


def _tickers(by_ticker: Any) -> str:
    ranked = _groups(by_ticker)
    if len(ranked) <= 2 * EXTREMES:
        return _auc_table("ticker", ranked, "data-ticker")
    gap = [(f"… {len(ranked) - 2 * EXTREMES} more", None, "")]
    return _auc_table(f"ticker (best {EXTREMES}, worst {EXTREMES} of {len(ranked)})",
                      ranked[:EXTREMES] + gap + ranked[-EXTREMES:], "data-ticker")


def calibration_chart(bins: list[dict[str, Any]]) -> str:
    """Observed up-rate against mean predicted probability per bin; the diagonal is perfect calibration."""
    points = [(b.get("mean_prediction"), b.get("positive_rate")) for b in bins
              if isinstance(b.get("mean_prediction"), int | float) and isinstance(b.get("positive_rate"), int | float)]
    axes = Axes((0.0, 1.0), (0.0, 1.0), "mean predicted probability of an up move (per bin)",
                "observed share of up moves", "calibration", "calibration-chart", width=460, height=400,
                legend_corner="bottom-right")
    axes.add(polyline(axes, [0.0, 1.0], [0.0, 1.0], "#bdbdbd", 1.2, "4 3", "perfect calibration"))
    if points:
        axes.add(polyline(axes, [p[0] for p in points], [p[1] for p in points], "#1565c0", 2.0))
        axes.add("".join(f'<circle cx="{axes.x(x):.1f}" cy="{axes.y(y):.1f}" r="4" fill="#1565c0"><title>predicted '
                         f"{x:.3f}, observed {y:.3f}</title></circle>" for x, y in points))
    axes.key("observed up-rate per bin", "#1565c0", "marker")
    axes.key("perfect calibration", "#bdbdbd", "4 3")
    return axes.svg()


def _calibration(bins: Any) -> str:
    if not isinstance(bins, list) or not bins:
        return '<p class="muted">No calibration table in this evaluation.</p>'
    bins = [b for b in bins if isinstance(b, dict)]
    rows = "".join(f"<tr><td>{escape(str(b.get('bin')))}</td><td class=num>{escape(str(b.get('rows')))}</td>"
                   f"<td class=num>{_num(b.get('mean_prediction'), 3)}</td>"
                   f"<td class=num>{_num(b.get('positive_rate'), 3)}</td></tr>" for b in bins)
    return ('<div class="side-by-side"><table class="calibration"><tr><th>predicted bin</th><th>rows</th>'
            f"<th>mean predicted</th><th>observed up-rate</th></tr>{rows}</table>{calibration_chart(bins)}</div>")


def _model_block(model: ModelResult) -> str:
    extra = model.extra
    if not any(extra.get(k) for k in ("by_sector", "by_ticker", "by_period", "calibration")):
        return ""
    period = extra.get("by_period") if isinstance(extra.get("by_period"), dict) else {}
    unit = str(period.get("unit") or "period")
    weeks = _groups(period.get("auc"))
    weeks.sort(key=lambda item: item[0])  # in time order
    tables = [_auc_table("sector", _groups(extra.get("by_sector")), "data-sector") if extra.get("by_sector") else "",
              _tickers(extra.get("by_ticker")) if extra.get("by_ticker") else "",
              _auc_table(unit, weeks, "data-period") if weeks else ""]
    return (f'<div data-breakdown="{escape(model.step)}"><h3>{escape(model.name)} ({escape(model.step)})</h3>'
            f'<div class="side-by-side">{"".join(tables)}</div>{_calibration(extra.get("calibration"))}</div>')


def breakdown_section(data: ReportData) -> str:
    blocks = [_model_block(model) for model in data.models]
    if not any(blocks):
        return '<p class="muted">No per-group AUC or calibration in this run\'s evaluations.</p>'
    return "".join(blocks)
