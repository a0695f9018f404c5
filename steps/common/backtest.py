"""A cost-aware quantile backtest of a score: what the ranking would have earned, after trading costs.

Definitions (docs/training.md, "Signal quality and backtest", says the same in prose):

- **Rebalance times.** The label of a row decided at t is the return from bar t+1 to bar t+1+H. Positions
  are held for that horizon and the periods do **not overlap**: of the sorted decision times, every K-th is
  a rebalance time, K = ceil(H / sample_every_bars) (K = 1 for the daily profile, 2 for the intraday
  default 30 / 15). A period's return per name is that row's `forward_return`.
- **Portfolios** at each rebalance time, over the n names with a score and a forward return, ranked by
  score (ties: by ticker), k = max(1, floor(quantile x n)), at most n // 2:
  long-short  +1/k on the top k, -1/k on the bottom k (one unit long, one unit short);
  long-only   +1/k on the top k;
  market-neutral  +1/k on the top k, -1/n on every name (the top quantile hedged by the equal-weight market).
  A time with fewer than two names holds nothing.
- **Returns.** gross_t = sum_i w_i,t r_i,t. Turnover_t = sum_i |w_i,t - w_i,t-1| on target weights (the
  first period buys everything it holds; nothing is sold after the last), cost_t = turnover_t x cost_bps /
  10,000 (cost per unit traded, each side), net_t = gross_t - cost_t.
- **Figures** of a return series r over P periods, N periods a year (Qlib's `risk_analysis`, mode "sum"):
  annualised return = mean(r) x N, annualised volatility = std(r, ddof 1) x sqrt(N), Sharpe = information
  ratio = mean / std x sqrt(N) (no risk-free rate), cumulative return = the running sum, max drawdown = the
  largest fall of that sum from its running peak (the peak includes the start at 0, so a first losing
  period counts; Qlib's does not), hit rate = share of periods with r > 0, per-period Sharpe = mean / std
  (no annualisation: what steps/common/backtest_plausibility.py screens). N = rebalance periods per trading
  day x 252, measured on the window itself.
- **Undefined is null.** A variant that never holds a position (every rebalance time has fewer than two
  names, e.g. one ticker per decision time) has no figures: every one is None (JSON null), never 0, and
  `held_periods` says 0. A Sharpe with no spread (sd 0) is None likewise.

Nothing here reads files; everything is vectorised over a (periods x names) weight matrix, so it costs
milliseconds at the full profile's size.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from steps.common.signal_quality import as_utc, utc_naive

TRADING_DAYS_PER_YEAR = 252
VARIANTS = ("long_short", "long_only", "market_neutral")


@dataclass(frozen=True)
class BacktestSettings:
    quantile: float = 0.2
    cost_bps: float = 5.0
    holding_periods: int = 1  # K: decision times per label horizon (rebalance every K-th decision time)

    def __post_init__(self) -> None:
        if not 0 < self.quantile <= 0.5:
            raise ValueError(f"quantile must be in (0, 0.5], got {self.quantile}")
        if not 0 <= self.cost_bps <= 10_000:
            raise ValueError(f"cost_bps must be in [0, 10000], got {self.cost_bps}")
        if self.holding_periods < 1:
            raise ValueError(f"holding_periods must be >= 1, got {self.holding_periods}")


def holding_periods(horizon_bars: int, sample_every_bars: int) -> int:
    """K = ceil(H / sample_every_bars): decision times a position is held for, so periods do not overlap."""
    return max(1, math.ceil(horizon_bars / max(1, sample_every_bars)))


@dataclass
class Backtest:
    """Per rebalance time: gross, turnover, cost and net return of each variant (columns `<variant>_<x>`)."""

    periods: pd.DataFrame
    settings: BacktestSettings
    periods_per_year: float

    def figures(self) -> dict[str, Any]:
        result: dict[str, Any] = {"settings": {**asdict(self.settings), "scheme": "non-overlapping",
                                               "periods_per_year": self.periods_per_year,
                                               "periods": len(self.periods)}}
        for variant in VARIANTS:
            columns = self.periods
            held = int(columns[f"{variant}_held"].sum()) if f"{variant}_held" in columns else len(columns)
            if held == 0:  # nothing was ever traded: no return, turnover or cost to speak of (docstring)
                result[variant] = {"gross": undefined_figures(len(columns)), "net": undefined_figures(len(columns)),
                                   "mean_turnover": None, "total_cost": None, "held_periods": 0}
                continue
            result[variant] = {
                "gross": risk_figures(columns[f"{variant}_gross"], self.periods_per_year),
                "net": risk_figures(columns[f"{variant}_net"], self.periods_per_year),
                "mean_turnover": _float(columns[f"{variant}_turnover"].mean()),
                "total_cost": _float(columns[f"{variant}_cost"].sum()),
                "held_periods": held,
            }
        return result


def run_backtest(ts: pd.Series | np.ndarray, tickers: pd.Series | np.ndarray, scores: np.ndarray,
                 forward_returns: np.ndarray, settings: BacktestSettings,
                 trading_days: int | None = None) -> Backtest:
    """The three portfolios at every K-th decision time (see the module docstring for every definition).

    `trading_days`: the window's length in sessions, for N (periods a year); by default the number of
    distinct UTC dates among the decision times.
    """
    frame = pd.DataFrame({"ts": utc_naive(ts), "ticker": np.asarray(tickers).astype(str),
                          "score": np.asarray(scores, dtype="float64"),
                          "ret": np.asarray(forward_returns, dtype="float64")})
    frame = frame[np.isfinite(frame["score"]) & np.isfinite(frame["ret"])]
    times = np.sort(frame["ts"].unique())
    rebalance = times[:: settings.holding_periods]
    frame = frame[frame["ts"].isin(rebalance)].sort_values(["ts", "score", "ticker"], ascending=[True, False, True],
                                                           kind="stable")
    position = frame.groupby("ts").cumcount().to_numpy()
    names = frame.groupby("ts")["ticker"].transform("size").to_numpy()
    k = np.minimum(np.maximum(1, np.floor(settings.quantile * names + 1e-9)), names // 2).astype(int)
    tradable = names >= 2
    top = tradable & (position < k)
    bottom = tradable & (position >= names - k)
    safe_k = np.maximum(k, 1)
    weights = {
        "long_short": np.where(top, 1.0 / safe_k, 0.0) - np.where(bottom, 1.0 / safe_k, 0.0),
        "long_only": np.where(top, 1.0 / safe_k, 0.0),
        "market_neutral": np.where(top, 1.0 / safe_k, 0.0) - np.where(tradable, 1.0 / np.maximum(names, 1), 0.0),
    }
    index = pd.Index(rebalance, name="ts")
    returns = frame.pivot(index="ts", columns="ticker", values="ret").reindex(index).fillna(0.0)
    columns: dict[str, Any] = {}
    for variant, w in weights.items():
        matrix = (pd.DataFrame({"ts": frame["ts"].to_numpy(), "ticker": frame["ticker"].to_numpy(), "w": w})
                  .pivot(index="ts", columns="ticker", values="w").reindex(index=index, columns=returns.columns)
                  .fillna(0.0))
        gross = (matrix * returns).sum(axis=1)
        previous = matrix.shift(1).fillna(0.0)
        turnover = (matrix - previous).abs().sum(axis=1)
        cost = turnover * settings.cost_bps / 10_000
        columns.update({f"{variant}_gross": gross, f"{variant}_turnover": turnover, f"{variant}_cost": cost,
                        f"{variant}_net": gross - cost, f"{variant}_held": matrix.abs().sum(axis=1) > 0})
    periods = pd.DataFrame(columns, index=index)
    periods.index = as_utc(periods.index)
    if trading_days is None:
        trading_days = len(pd.DatetimeIndex(times).normalize().unique()) if len(times) else 0
    per_year = len(periods) / trading_days * TRADING_DAYS_PER_YEAR if trading_days else float("nan")
    return Backtest(periods=periods, settings=settings, periods_per_year=float(per_year))


RISK_FIGURES = ("mean", "annualized_return", "annualized_volatility", "sharpe", "sharpe_per_period",
                "cumulative_return", "max_drawdown", "hit_rate")


def undefined_figures(periods: int) -> dict[str, Any]:
    """`risk_figures` of a book that never held anything: every figure None (null), the period count kept."""
    return {**dict.fromkeys(RISK_FIGURES), "periods": periods}


def risk_figures(returns: pd.Series | np.ndarray, periods_per_year: float) -> dict[str, Any]:
    """Annualised return and volatility, Sharpe, cumulative return, max drawdown, hit rate (module docstring).

    No periods: every figure None (an empty series has no drawdown or hit rate, not a zero one)."""
    r = np.asarray(returns, dtype="float64")
    n = len(r)
    if n == 0:
        return undefined_figures(0)
    mean = float(r.mean()) if n else None
    std = float(r.std(ddof=1)) if n > 1 else None
    sharpe = None
    if std is not None and std > 0 and math.isfinite(periods_per_year):
        sharpe = mean / std * math.sqrt(periods_per_year)
    cumulative = np.concatenate([[0.0], np.cumsum(r)])
    drawdown = cumulative - np.maximum.accumulate(cumulative)
    return {
        "mean": mean,
        "annualized_return": mean * periods_per_year if mean is not None and math.isfinite(periods_per_year)
        else None,
        "annualized_volatility": std * math.sqrt(periods_per_year) if std is not None
        and math.isfinite(periods_per_year) else None,
        "sharpe": sharpe,
        # mean / sd of one period: comparable across bar sizes (the plausibility screen's figure), unlike the
        # annualised Sharpe, which grows with the square root of the periods a year.
        "sharpe_per_period": mean / std if std is not None and std > 0 and mean is not None else None,
        "cumulative_return": float(cumulative[-1]),
        "max_drawdown": float(drawdown.min()),
        "hit_rate": float((r > 0).mean()) if n else None,
        "periods": n,
    }


def sharpe_standard_error(sharpe: float | None, periods: int, periods_per_year: float) -> float | None:
    """Lo (2002), iid returns: SE of an annualised Sharpe ~ sqrt((1 + SR_p^2 / 2) / P) x sqrt(N)."""
    if sharpe is None or periods < 2 or not math.isfinite(periods_per_year) or periods_per_year <= 0:
        return None
    per_period = sharpe / math.sqrt(periods_per_year)
    return math.sqrt((1 + per_period**2 / 2) / periods) * math.sqrt(periods_per_year)


def curve(backtest: Backtest, variant: str = "long_short") -> dict[str, list]:
    """The net return per period, its running sum and drawdown: what the report draws (empty lists, and
    `held_periods` 0, when the book never held anything: a flat line at 0 would read as a result)."""
    held = backtest.periods.get(f"{variant}_held")
    if held is not None and not held.any():
        return {"variant": variant, "ts": [], "net": [], "cumulative": [], "drawdown": [], "held_periods": 0}
    net = backtest.periods[f"{variant}_net"].to_numpy(dtype="float64")
    cumulative = np.cumsum(net)
    peak = np.maximum.accumulate(np.concatenate([[0.0], cumulative]))[1:]
    stamps = pd.DatetimeIndex(backtest.periods.index)
    return {"variant": variant, "ts": [t.isoformat() for t in stamps],
            "net": [round(float(v), 8) for v in net], "cumulative": [round(float(v), 8) for v in cumulative],
            "drawdown": [round(float(v), 8) for v in cumulative - peak]}


def _float(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None
