"""Is the backtest believable? A screen of its economics, the sibling of the holdout-AUC ceiling.

The AUC ceiling (`leaks.plausibility.<key>.max_holdout_auc`) stops a run whose model is too good to be true.
The backtest can be too good in the same way without the AUC looking extreme: ranking 56 names at once
multiplies a modest per-name edge by the breadth, so a holdout AUC of 0.66 on the generated market gives a
long-short book that gains in every period (hit rate 1.0, drawdown 0, annualised net Sharpe above 100).
Published equity long-short books, even intraday ones, are far from that: a per-period Sharpe (mean / sd of
one period's net return) above about 0.5 means the book loses in fewer than a third of periods with normal
returns, period after period, and a hit rate above 0.75 over 20 periods is unlikely (p ~ 0.05) even for a
book with a true hit rate of 0.55, which would itself be exceptional. So a figure above the ceiling says
"look for a planted or leaked signal", not "deploy".

This is a flag, not a gate: the verdict and its reasons go into evaluation.json (`backtest.plausibility`) and
the run report; nothing stops. The thresholds are per bar frequency and label horizon, beside the AUC
ceiling (configs/pipeline.yaml `leaks.plausibility.<key>`; why these values: docs/training.md).

Which books: the long-short and market-neutral ones (their edge is the ranking's; the long-only book also
carries the market's move, which can trend for 20 days without anyone having skill). Which figures: the net
ones (after costs: what would be earned). A screen that cannot judge (fewer than `min_periods` periods with a
position, or a figure undefined) says `plausible: null`, not true: undefined is null (steps/evaluate/signal.py).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from steps.common.settings import StepSettings

SCREENED = ("long_short", "market_neutral")


class BacktestPlausibility(StepSettings):
    """What an honest equity-direction book can show over one holdout (per bar frequency and label horizon)."""

    max_period_sharpe: float = Field(0.5, gt=0.0, le=10.0,
                                     description="flag a net per-period Sharpe (mean / sd of one period's return) "
                                                 "above this")
    max_hit_rate: float = Field(0.75, gt=0.5, le=1.0,
                                description="flag a net hit rate (share of periods with a gain) above this")
    max_annual_sharpe: float | None = Field(None, gt=0.0, le=1000.0,
                                            description="flag an annualised net Sharpe above this (none: not "
                                                        "screened)")
    min_periods: int = Field(20, ge=2, le=100000,
                             description="judge only a book that held a position in at least this many periods")


def screen(backtest: dict[str, Any], ceiling: BacktestPlausibility) -> dict[str, Any]:
    """`{plausible, flags, screened, thresholds}` of a backtest's figures (steps.common.backtest `figures()`).

    `plausible`: False when any screened book's net figures exceed a ceiling (each reason one line in `flags`),
    True when every screened book was judged and none did, None when no book could be judged."""
    flags: list[str] = []
    judged: list[str] = []
    for variant in SCREENED:
        figures = backtest.get(variant) or {}
        net = figures.get("net") or {}
        held = figures.get("held_periods", net.get("periods")) or 0
        per_period, hit_rate = net.get("sharpe_per_period"), net.get("hit_rate")
        if held < ceiling.min_periods or per_period is None or hit_rate is None:
            continue
        judged.append(variant)
        name = f"{variant.replace('_', '-')} net"
        over = f"over {net['periods']} periods"
        if per_period > ceiling.max_period_sharpe:
            annual = net.get("sharpe")
            flags.append(f"{name}: per-period Sharpe {per_period:.2f} is above {ceiling.max_period_sharpe:g} {over}"
                         + (f" (annualised {annual:.1f})" if annual is not None else ""))
        if hit_rate > ceiling.max_hit_rate:
            drawdown = net.get("max_drawdown")
            flags.append(f"{name}: hit rate {hit_rate:.2f} is above {ceiling.max_hit_rate:g} {over}"
                         + (" (never a losing period: max drawdown 0)" if drawdown == 0 else ""))
        annual = net.get("sharpe")
        if ceiling.max_annual_sharpe is not None and annual is not None and annual > ceiling.max_annual_sharpe:
            flags.append(f"{name}: annualised Sharpe {annual:.1f} is above {ceiling.max_annual_sharpe:g} {over}")
    plausible = None if not judged else not flags
    return {"plausible": plausible, "flags": flags, "screened": judged,
            "thresholds": ceiling.model_dump(mode="json"),
            "note": "" if judged else f"no long-short or market-neutral book held a position in "
                                      f"{ceiling.min_periods} periods with defined figures: not judged"}

