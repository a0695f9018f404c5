"""The report's "Signal quality and backtest" section: IC tables, IC by day, the net return curve with drawdown.

Read from each evaluation.json's `signal_quality` and `backtest` (steps/evaluate/signal.py; definitions in
docs/training.md). Inline SVG, no script, like the rest of the page; an evaluation written before these
sections existed shows a line saying so rather than nothing.
"""

from __future__ import annotations

from html import escape
from typing import Any

from pipelines.report.collect import ModelResult, ReportData

WIDTH, HEIGHT, PAD = 520, 150, 34


def _fmt(value: Any, digits: int = 4) -> str:
    """A figure as the table shows it; null (a figure the step could not compute: fewer than two names per
    decision time, no spread) is "undefined", never a dash that could pass for a zero or a missing column."""
    if value is None:
        return "undefined"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.{digits}f}" if isinstance(value, float) else str(value)
    return escape(str(value))


def _ic_row(label: str, summary: dict[str, Any], extra: str = "") -> str:
    ic, rank_ic = summary.get("ic") or {}, summary.get("rank_ic") or {}
    cells = [ic.get("mean"), ic.get("std"), ic.get("icir"), ic.get("t_stat"), ic.get("share_positive"),
             rank_ic.get("mean"), rank_ic.get("icir"), ic.get("periods")]
    return (f"<tr><td>{escape(label)}</td>" + "".join(f"<td class=num>{_fmt(v, 3 if i in (2, 3) else 4)}</td>"
                                                      for i, v in enumerate(cells))
            + f"<td class=num>{extra}</td></tr>")


def ic_table(signal: dict[str, Any]) -> str:
    """Holdout, per fold, by quarter and by volatility regime: IC / Rank IC summaries in one table."""
    rows = [_ic_row("holdout", signal.get("holdout") or {})]
    for fold in signal.get("by_fold") or []:
        rows.append(_ic_row(f"fold {fold.get('fold')} (out of fold)", fold,
                            _fmt(fold.get("long_short_net_sharpe"), 2)))
    for quarter, summary in (signal.get("by_quarter") or {}).items():
        rows.append(_ic_row(f"quarter {quarter}", summary))
    regimes = (signal.get("by_volatility_regime") or {}).get("ic") or {}
    for regime in ("low", "mid", "high", "unknown"):
        if regime in regimes:
            rows.append(_ic_row(f"{regime} volatility", regimes[regime]))
    return ("<table><tr><th>rows</th><th>IC mean</th><th>IC sd</th><th>ICIR</th><th>t</th><th>IC &gt; 0</th>"
            "<th>Rank IC</th><th>Rank ICIR</th><th>periods</th><th>net Sharpe</th></tr>" + "".join(rows) + "</table>")


def backtest_table(backtest: dict[str, Any]) -> str:
    rows = []
    for variant in ("long_short", "long_only", "market_neutral"):
        figures = backtest.get(variant) or {}
        for kind in ("gross", "net"):
            f = figures.get(kind) or {}
            rows.append(
                f"<tr><td>{variant.replace('_', '-')}</td><td>{kind}</td>"
                + "".join(f"<td class=num>{_fmt(f.get(k), 4)}</td>" for k in (
                    "annualized_return", "annualized_volatility", "sharpe", "sharpe_per_period", "cumulative_return",
                    "max_drawdown", "hit_rate"))
                + f"<td class=num>{_fmt(figures.get('mean_turnover'), 3) if kind == 'net' else ''}</td></tr>")
    settings = backtest.get("settings") or {}
    note = (f"top / bottom {_fmt(settings.get('quantile'), 2)} by predicted probability, equal weight, "
            f"{escape(str(settings.get('scheme')))} periods of {_fmt(settings.get('holding_periods'))} "
            "decision time(s), "
            f"{_fmt(settings.get('cost_bps'), 1)} bps per unit traded; {_fmt(settings.get('periods'))} periods, "
            f"{_fmt(settings.get('periods_per_year'), 0)} a year")
    return (f'<p class="muted">{note}</p><table><tr><th>portfolio</th><th></th><th>annual return</th>'
            "<th>annual volatility</th><th>Sharpe</th><th>Sharpe / period</th><th>cumulative</th>"
            "<th>max drawdown</th><th>hit rate</th><th>turnover / period</th></tr>" + "".join(rows) + "</table>"
            + plausibility_note(backtest.get("plausibility")))


def plausibility_note(screen: dict[str, Any] | None) -> str:
    """The backtest plausibility screen's verdict beside the figures it judged (steps/common/
    backtest_plausibility.py): each reason named when it flags, the ceilings when it does not."""
    if not isinstance(screen, dict):
        return ""  # an evaluation written before the screen existed
    limits = screen.get("thresholds") or {}
    ceilings = (f"net per-period Sharpe &le; {_fmt(limits.get('max_period_sharpe'), 2)}, hit rate &le; "
                f"{_fmt(limits.get('max_hit_rate'), 2)}"
                + (f", annualised Sharpe &le; {_fmt(limits.get('max_annual_sharpe'), 1)}"
                   if limits.get("max_annual_sharpe") is not None else "")
                + f", over at least {_fmt(limits.get('min_periods'))} periods (leaks.plausibility; a flag, not a gate)")
    verdict = screen.get("plausible")
    if verdict is False:
        items = "".join(f"<li>{escape(str(flag))}</li>" for flag in screen.get("flags") or [])
        return (f'<div class="fail" data-plausibility="implausible"><p><b>Implausible economics</b>: too good to be '
                f"true for equity direction ({ceilings}); look for a planted or leaked signal before believing "
                f"these figures.</p><ul>{items}</ul></div>")
    if verdict is True:
        return (f'<p class="muted" data-plausibility="plausible">Plausibility screen: within the ceilings '
                f"({ceilings}).</p>")
    return (f'<p class="muted" data-plausibility="undefined">Plausibility screen: undefined, not judged '
            f"({escape(str(screen.get('note') or ''))}).</p>")


def _scale(values: list[float], low: float | None = None, high: float | None = None) -> tuple[float, float]:
    low = min([*values, 0.0] if low is None else [low, *values])
    high = max([*values, 0.0] if high is None else [high, *values])
    return (low, high) if high > low else (low - 1e-9, high + 1e-9)


def ic_chart(ic_by_period: dict[str, Any]) -> str:
    """One bar per day: the mean IC of that day's decision times (green above 0, red below)."""
    values = [v for v in ic_by_period.get("ic") or []]
    dates = ic_by_period.get("dates") or []
    if not any(v is not None for v in values):
        return '<p class="muted">No defined IC by day.</p>'
    low, high = _scale([v for v in values if v is not None], -0.1, 0.1)
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD

    def y(v: float) -> float:
        return PAD + (high - v) / (high - low) * inner_h

    step = inner_w / max(len(values), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" class="ic-chart" '
             'aria-label="IC by day" font-family="sans-serif" font-size="10">',
             f'<line x1="{PAD}" y1="{y(0):.1f}" x2="{WIDTH - PAD}" y2="{y(0):.1f}" stroke="#9e9e9e"/>',
             f'<text x="4" y="{PAD}">{high:.2f}</text><text x="4" y="{PAD + inner_h}">{low:.2f}</text>']
    for i, (value, date) in enumerate(zip(values, dates, strict=False)):
        if value is None:
            continue
        top, bottom = sorted((y(value), y(0)))
        colour = "#2e7d32" if value >= 0 else "#c62828"
        parts.append(f'<rect x="{PAD + i * step:.1f}" y="{top:.1f}" width="{max(step - 1, 0.8):.1f}" '
                     f'height="{max(bottom - top, 0.5):.1f}" fill="{colour}"><title>{escape(str(date))}: '
                     f"IC {value:.4f}</title></rect>")
    parts.append(f'<text x="{PAD}" y="{HEIGHT - 8}">mean IC per day, {escape(str(dates[0]))} .. '
                 f"{escape(str(dates[-1]))}</text></svg>")
    return "".join(parts)


def curve_chart(curve: dict[str, Any]) -> str:
    """The long-short net cumulative return (running sum, line) above its drawdown (shaded)."""
    cumulative, drawdown = curve.get("cumulative") or [], curve.get("drawdown") or []
    if curve.get("held_periods") == 0:
        return ('<p class="muted">No position was ever held (fewer than two names at every rebalance time): the '
                "backtest's figures are undefined.</p>")
    if not cumulative:
        return '<p class="muted">No backtest periods.</p>'
    low, high = _scale(cumulative + drawdown)
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    n = len(cumulative)

    def point(i: int, v: float) -> str:
        x = PAD + (i / max(n - 1, 1)) * inner_w
        return f"{x:.1f},{PAD + (high - v) / (high - low) * inner_h:.1f}"

    zero = PAD + high / (high - low) * inner_h
    area = [f"{PAD:.1f},{zero:.1f}", *(point(i, v) for i, v in enumerate(drawdown)), f"{PAD + inner_w:.1f},{zero:.1f}"]
    ts = curve.get("ts") or [""]
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" '
            'class="curve-chart" aria-label="net return and drawdown" font-family="sans-serif" font-size="10">'
            f'<line x1="{PAD}" y1="{zero:.1f}" x2="{WIDTH - PAD}" y2="{zero:.1f}" stroke="#9e9e9e"/>'
            f'<polygon points="{" ".join(area)}" fill="#ffcdd2"><title>drawdown</title></polygon>'
            f'<polyline points="{" ".join(point(i, v) for i, v in enumerate(cumulative))}" fill="none" '
            'stroke="#1565c0" stroke-width="1.6"><title>cumulative net return</title></polyline>'
            f'<text x="4" y="{PAD}">{high:.3f}</text><text x="4" y="{PAD + inner_h}">{low:.3f}</text>'
            f'<text x="{PAD}" y="{HEIGHT - 8}">long-short cumulative net return (blue, sum of period returns) '
            f"and drawdown (red), {escape(str(ts[0])[:10])} .. {escape(str(ts[-1])[:10])}</text></svg>")


def _model_block(model: ModelResult) -> str:
    signal, backtest = model.extra.get("signal_quality"), model.extra.get("backtest")
    title = f"<h3>{escape(model.name)} ({escape(model.step)})</h3>"
    if not signal or not backtest:
        return title + '<p class="muted">This evaluation has no signal-quality section (written before it existed).</p>'
    return (f'<div data-signal="{escape(model.step)}">{title}{ic_table(signal)}'
            f"{ic_chart(signal.get('ic_by_period') or {})}{backtest_table(backtest)}"
            f"{curve_chart(backtest.get('curve') or {})}</div>")


def signal_section(data: ReportData) -> str:
    if not data.models:
        return '<p class="muted">No model was evaluated in this run.</p>'
    return ('<p class="muted">IC: per decision time, the correlation across tickers of the predicted probability '
            "with the forward return the label is built from; Rank IC on ranks. Definitions: docs/training.md.</p>"
            + "".join(_model_block(model) for model in data.models))
