"""The report's "Signal quality and backtest" section: IC tables, IC by day, the net return curve with drawdown.

Read from each evaluation.json's `signal_quality` and `backtest` (steps/evaluate/signal.py; definitions in
docs/training.md). Inline SVG, no script, like the rest of the page; an evaluation written before these
sections existed shows a line saying so rather than nothing.
"""

from __future__ import annotations

from html import escape
from typing import Any

from pipelines.report.axes import Axes, padded, polyline
from pipelines.report.collect import ModelResult, ReportData


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


PERCENT = ("annualized_return", "annualized_volatility", "cumulative_return", "max_drawdown", "hit_rate")
BACKTEST_COLUMNS = (  # (figure, header with its unit)
    ("annualized_return", "annual return (%, annualised: mean per period × periods a year)"),
    ("annualized_volatility", "annual volatility (%, annualised)"),
    ("sharpe", "Sharpe (annualised)"),
    ("sharpe_per_period", "Sharpe (per period, not annualised)"),
    ("cumulative_return", "cumulative return (%, sum of periods)"),
    ("max_drawdown", "max drawdown (% of capital)"),
    ("hit_rate", "hit rate (% of periods up)"),
)


def _figure(key: str, value: Any) -> str:
    """A backtest figure with its unit: returns, volatility, drawdown and hit rate in percent (the step writes
    fractions: 15.96 is 1,596 % a year), Sharpe ratios as they are."""
    if key in PERCENT and isinstance(value, int | float) and not isinstance(value, bool):
        return f"{100 * value:,.2f}%"
    return _fmt(value, 4)


def backtest_table(backtest: dict[str, Any]) -> str:
    rows = []
    for variant in ("long_short", "long_only", "market_neutral"):
        figures = backtest.get(variant) or {}
        for kind in ("gross", "net"):
            f = figures.get(kind) or {}
            rows.append(
                f"<tr><td>{variant.replace('_', '-')}</td><td>{kind}</td>"
                + "".join(f"<td class=num>{_figure(k, f.get(k))}</td>" for k, _ in BACKTEST_COLUMNS)
                + f"<td class=num>{_fmt(figures.get('mean_turnover'), 3) if kind == 'net' else ''}</td></tr>")
    settings = backtest.get("settings") or {}
    note = (f"top / bottom {_fmt(settings.get('quantile'), 2)} by predicted probability, equal weight, "
            f"{escape(str(settings.get('scheme')))} periods of {_fmt(settings.get('holding_periods'))} "
            "decision time(s), "
            f"{_fmt(settings.get('cost_bps'), 1)} bps per unit traded; {_fmt(settings.get('periods'))} periods, "
            f"{_fmt(settings.get('periods_per_year'), 0)} a year. Returns are simple sums of period returns "
            "(no compounding), as fractions of the book shown in percent")
    headers = "".join(f"<th>{escape(header)}</th>" for _, header in BACKTEST_COLUMNS)
    return (f'<p class="muted">{note}</p><table class="backtest"><tr><th>portfolio</th><th></th>{headers}'
            "<th>turnover (per period, share of the book traded)</th></tr>" + "".join(rows) + "</table>"
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


def _date_ticks(labels: list[str], count: int = 5) -> list[tuple[float, str]]:
    """A few evenly spaced positions labelled with their date (the first and the last always)."""
    if not labels:
        return []
    n = len(labels)
    picks = sorted({round(i * (n - 1) / max(count - 1, 1)) for i in range(count)}) if n > 1 else [0]
    return [(float(i), str(labels[i])[:10]) for i in picks]


def ic_chart(ic_by_period: dict[str, Any]) -> str:
    """One bar per day: the mean IC of that day's decision times (green above 0, red below)."""
    values = [v for v in ic_by_period.get("ic") or []]
    dates = ic_by_period.get("dates") or []
    defined = [v for v in values if isinstance(v, int | float)]
    if not defined:
        return '<p class="muted">No defined IC by day.</p>'
    low, high = padded([*defined, -0.1, 0.1])
    n = len(values)
    axes = Axes((-0.5, n - 0.5), (low, high), "trading day of the holdout",
                "mean IC per day (correlation, -1..1)", "IC by day", "ic-chart",
                x_ticks=_date_ticks([str(d) for d in dates]))
    axes.add(f'<line x1="{axes.left}" y1="{axes.y(0):.1f}" x2="{axes.left + axes.inner[0]:.0f}" '
             f'y2="{axes.y(0):.1f}" stroke="#616161"/>')
    step = axes.inner[0] / max(n, 1)
    for i, (value, date) in enumerate(zip(values, dates, strict=False)):
        if value is None:
            continue
        top, bottom = sorted((axes.y(value), axes.y(0)))
        colour = "#2e7d32" if value >= 0 else "#c62828"
        axes.add(f'<rect x="{axes.x(i) - step * 0.4:.1f}" y="{top:.1f}" width="{max(step * 0.8, 0.8):.1f}" '
                 f'height="{max(bottom - top, 0.5):.1f}" fill="{colour}"><title>{escape(str(date))}: '
                 f"IC {value:.4f}</title></rect>")
    axes.key("IC ≥ 0 (higher scores went with higher returns)", "#2e7d32", "area")
    axes.key("IC < 0", "#c62828", "area")
    return axes.svg()


def curve_chart(curve: dict[str, Any]) -> str:
    """The long-short net cumulative return (running sum, line) above its drawdown (shaded, with its own line)."""
    cumulative, drawdown = curve.get("cumulative") or [], curve.get("drawdown") or []
    if curve.get("held_periods") == 0:
        return ('<p class="muted">No position was ever held (fewer than two names at every rebalance time): the '
                "backtest's figures are undefined.</p>")
    if not cumulative:
        return '<p class="muted">No backtest periods.</p>'
    n = len(cumulative)
    axes = Axes((0.0, float(max(n - 1, 1))), padded([*cumulative, *drawdown]), "holding period (rebalance time)",
                "return (% of capital, sum of periods)", "net return and drawdown", "curve-chart", y_percent=True,
                x_ticks=_date_ticks([str(t) for t in curve.get("ts") or []]))
    xs = [float(i) for i in range(n)]
    zero = axes.y(0)
    if drawdown:
        area = [f"{axes.x(0):.1f},{zero:.1f}",
                *(f"{axes.x(i):.1f},{axes.y(v):.1f}" for i, v in enumerate(drawdown)),
                f"{axes.x(len(drawdown) - 1):.1f},{zero:.1f}"]
        axes.add(f'<polygon points="{" ".join(area)}" fill="#ef9a9a" fill-opacity="0.6"><title>drawdown</title>'
                 "</polygon>")
    axes.add(f'<line x1="{axes.left}" y1="{zero:.1f}" x2="{axes.left + axes.inner[0]:.0f}" y2="{zero:.1f}" '
             'stroke="#616161" stroke-dasharray="2 2"/>')
    if drawdown:  # over the zero line: a run with no drawdown still shows its (flat) red line
        axes.add(polyline(axes, xs[:len(drawdown)], drawdown, "#c62828", 2.0, title="drawdown"))
    axes.add(polyline(axes, xs, cumulative, "#1565c0", 2.2, title="cumulative net return"))
    worst = min(drawdown) if drawdown else 0.0
    axes.key("long-short cumulative net return (sum of period returns)", "#1565c0")
    axes.key(f"drawdown from the running peak (worst {100 * worst:.2f}%)", "#c62828")
    return axes.svg()


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
