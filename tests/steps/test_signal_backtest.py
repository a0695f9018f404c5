"""Signal quality (IC, Rank IC, ICIR) and the cost-aware backtest against independent computations (issue 19).

The backtest's reference is a four-period example worked by hand (the numbers are in the comments); the IC's
are numpy's and scipy's correlations on a signal built with a known correlation; the extremes are a
perfect-foresight score and a random one.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import pearsonr, spearmanr

from steps.common.backtest import BacktestSettings, curve, holding_periods, risk_figures, run_backtest
from steps.common.signal_quality import ic_summary, period_ic, summarize


def _panel(periods: int, names: int, rho: float, seed: int) -> pd.DataFrame:
    """Per period, returns r ~ N(0, 1) and a score with corr(score, r) = rho across the names."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2024-01-02 21:00", periods=periods, freq="B", tz="UTC")
    r = rng.standard_normal((periods, names))
    score = rho * r + math.sqrt(1 - rho**2) * rng.standard_normal((periods, names))
    return pd.DataFrame({"ts": np.repeat(ts, names), "ticker": np.tile([f"T{i:03d}" for i in range(names)], periods),
                         "score": score.ravel(), "ret": r.ravel() * 0.01})


def test_ic_and_rank_ic_per_period_equal_scipy_and_summaries_follow_their_definitions() -> None:
    panel = _panel(periods=60, names=40, rho=0.3, seed=1)
    per_period = period_ic(panel["ts"], panel["score"].to_numpy(), panel["ret"].to_numpy())
    for when, rows in panel.groupby("ts"):
        assert per_period.loc[when, "ic"] == pytest.approx(pearsonr(rows["score"], rows["ret"])[0], abs=1e-12)
        assert per_period.loc[when, "rank_ic"] == pytest.approx(spearmanr(rows["score"], rows["ret"])[0], abs=1e-12)
    ic = per_period["ic"].to_numpy()
    summary = ic_summary(per_period)["ic"]
    assert summary["mean"] == pytest.approx(ic.mean())
    assert summary["std"] == pytest.approx(np.std(ic, ddof=1))
    assert summary["icir"] == pytest.approx(ic.mean() / np.std(ic, ddof=1))
    assert summary["t_stat"] == pytest.approx(ic.mean() / np.std(ic, ddof=1) * math.sqrt(60))
    assert summary["share_positive"] == pytest.approx((ic > 0).mean())
    # The constructed correlation is recovered: 60 periods x 40 names, sd of a period's IC ~ 0.15.
    assert summary["mean"] == pytest.approx(0.3, abs=0.05)
    assert ic_summary(per_period)["rank_ic"]["mean"] == pytest.approx(0.29, abs=0.05)


def test_ties_and_too_few_names_give_no_ic_rather_than_a_made_up_one() -> None:
    ts = pd.to_datetime(["2024-01-02", "2024-01-02", "2024-01-03", "2024-01-03", "2024-01-03", "2024-01-04"], utc=True)
    scores = np.array([0.5, 0.5, 0.1, 0.2, 0.3, 0.9])  # day 1: equal scores; day 3: one name
    returns = np.array([0.01, -0.02, 0.01, 0.02, np.nan, 0.03])  # day 2: a missing return leaves two names
    per_period = period_ic(ts, scores, returns)
    assert np.isnan(per_period["ic"].iloc[0]) and np.isnan(per_period["ic"].iloc[2])
    assert per_period["ic"].iloc[1] == pytest.approx(1.0)
    summary = summarize(per_period["ic"])
    assert summary["periods"] == 1 and summary["undefined_periods"] == 2
    assert summary["std"] is None and summary["icir"] is None and summary["t_stat"] is None


def _four_periods() -> pd.DataFrame:
    ts = pd.date_range("2024-03-04 21:00", periods=4, freq="B", tz="UTC")
    rows = {  # (score, forward return) per ticker A, B, C, D
        0: [(0.9, 0.02), (0.6, 0.01), (0.4, -0.01), (0.1, -0.03)],
        1: [(0.8, -0.01), (0.7, 0.00), (0.2, 0.02), (0.3, 0.01)],
        2: [(0.5, 0.00), (0.9, 0.03), (0.4, 0.00), (0.2, -0.01)],
        3: [(0.5, 0.01), (0.9, -0.02), (0.4, 0.00), (0.2, 0.01)],
    }
    return pd.DataFrame([{"ts": ts[p], "ticker": t, "score": s, "ret": r}
                         for p, values in rows.items() for t, (s, r) in zip("ABCD", values, strict=True)])


def test_four_period_long_short_pnl_turnover_and_costs_match_the_hand_computation() -> None:
    frame = _four_periods()
    result = run_backtest(frame["ts"], frame["ticker"], frame["score"].to_numpy(), frame["ret"].to_numpy(),
                          BacktestSettings(quantile=0.25, cost_bps=10.0, holding_periods=1))
    periods = result.periods
    # k = floor(0.25 x 4) = 1. P1: long A (+2%), short D (-3%): gross 0.05; buys 1 + sells 1 = turnover 2,
    # cost 2 x 10 bps = 0.002, net 0.048. P2: long A, short C: gross -0.01 - 0.02 = -0.03; D covered (1),
    # C shorted (1): turnover 2, net -0.032. P3: long B, short D: 0.03 + 0.01 = 0.04; A sold, B bought, C
    # covered, D shorted: turnover 4, net 0.036. P4: the same book: gross -0.02 - 0.01 = -0.03, no trade.
    assert periods["long_short_gross"].tolist() == pytest.approx([0.05, -0.03, 0.04, -0.03])
    assert periods["long_short_turnover"].tolist() == pytest.approx([2, 2, 4, 0])
    assert periods["long_short_cost"].tolist() == pytest.approx([0.002, 0.002, 0.004, 0.0])
    assert periods["long_short_net"].tolist() == pytest.approx([0.048, -0.032, 0.036, -0.03])
    # Long-only: A, A, B, B -> 0.02 - 0.001, -0.01, 0.03 - 0.002 (A out, B in), -0.02.
    assert periods["long_only_net"].tolist() == pytest.approx([0.019, -0.01, 0.028, -0.02])
    # Market-neutral P1: +1 A, -1/4 each: 0.75 x 0.02 - 0.25 x (0.01 - 0.01 - 0.03) = 0.0225, turnover 1.5;
    # P2: the same weights (no trade), A minus the mean (0.005): -0.015.
    assert periods["market_neutral_gross"].tolist()[:2] == pytest.approx([0.0225, -0.015])
    assert periods["market_neutral_turnover"].tolist()[:2] == pytest.approx([1.5, 0.0])

    figures = result.figures()["long_short"]
    net = np.array([0.048, -0.032, 0.036, -0.03])
    assert result.periods_per_year == pytest.approx(252.0)  # one period per session
    assert figures["net"]["annualized_return"] == pytest.approx(net.mean() * 252)
    assert figures["net"]["annualized_volatility"] == pytest.approx(net.std(ddof=1) * math.sqrt(252))
    assert figures["net"]["sharpe"] == pytest.approx(net.mean() / net.std(ddof=1) * math.sqrt(252))
    assert figures["net"]["cumulative_return"] == pytest.approx(0.022)
    assert figures["net"]["max_drawdown"] == pytest.approx(-0.032)  # 0.048 -> 0.016
    assert figures["net"]["hit_rate"] == pytest.approx(0.5)
    assert figures["mean_turnover"] == pytest.approx(2.0) and figures["total_cost"] == pytest.approx(0.008)
    drawn = curve(result)
    assert drawn["cumulative"] == pytest.approx([0.048, 0.016, 0.052, 0.022])
    assert drawn["drawdown"] == pytest.approx([0.0, -0.032, 0.0, -0.03])


def test_holding_periods_do_not_overlap_and_a_first_loss_is_a_drawdown() -> None:
    assert holding_periods(30, 15) == 2 and holding_periods(1, 1) == 1 and holding_periods(31, 15) == 3
    frame = _four_periods()
    result = run_backtest(frame["ts"], frame["ticker"], frame["score"].to_numpy(), frame["ret"].to_numpy(),
                          BacktestSettings(quantile=0.25, cost_bps=0.0, holding_periods=2))
    assert result.periods["long_short_gross"].tolist() == pytest.approx([0.05, 0.04])  # periods 1 and 3 only
    assert result.periods_per_year == pytest.approx(126.0)
    assert risk_figures(np.array([-0.01, 0.02]), 252)["max_drawdown"] == pytest.approx(-0.01)


def test_perfect_foresight_and_a_random_score_give_the_expected_extremes() -> None:
    panel = _panel(periods=250, names=50, rho=0.0, seed=3)
    settings = BacktestSettings(quantile=0.2, cost_bps=5.0)
    perfect = period_ic(panel["ts"], panel["ret"].to_numpy(), panel["ret"].to_numpy())
    assert ic_summary(perfect)["ic"]["mean"] == pytest.approx(1.0)
    assert ic_summary(perfect)["rank_ic"]["share_positive"] == 1.0
    foresight = run_backtest(panel["ts"], panel["ticker"], panel["ret"].to_numpy(), panel["ret"].to_numpy(), settings)
    figures = foresight.figures()["long_short"]
    assert figures["gross"]["hit_rate"] == 1.0 and figures["net"]["hit_rate"] == 1.0
    assert figures["net"]["max_drawdown"] == 0.0 and figures["net"]["sharpe"] > 10

    random = period_ic(panel["ts"], panel["score"].to_numpy(), panel["ret"].to_numpy())
    ic = ic_summary(random)["ic"]
    assert abs(ic["mean"]) < 4 * ic["std"] / math.sqrt(ic["periods"])  # no edge: within 4 standard errors of 0
    noise = run_backtest(panel["ts"], panel["ticker"], panel["score"].to_numpy(), panel["ret"].to_numpy(), settings)
    gross = noise.periods["long_short_gross"]
    assert abs(gross.mean()) < 4 * gross.std(ddof=1) / math.sqrt(len(gross))
    # A random book replaces ~80% of each side every period: sells and buys of 2 x 0.8 units a side, ~3.2 of
    # the most 4 (sell both sides, buy both sides), and pays for it.
    figures = noise.figures()["long_short"]
    assert 2.8 < figures["mean_turnover"] <= 4.0
    assert figures["net"]["cumulative_return"] == pytest.approx(
        figures["gross"]["cumulative_return"] - figures["total_cost"])
    assert figures["total_cost"] > 0


def test_bad_backtest_settings_are_refused_with_the_allowed_range() -> None:
    with pytest.raises(ValueError, match=r"quantile must be in \(0, 0.5\]"):
        BacktestSettings(quantile=0.7)
    with pytest.raises(ValueError, match="cost_bps"):
        BacktestSettings(cost_bps=-1)


def test_the_plausibility_screen_flags_a_too_steady_book_and_passes_a_noisy_one() -> None:
    from steps.common.backtest_plausibility import BacktestPlausibility, screen

    ceiling = BacktestPlausibility()  # 0.5 per period, hit rate 0.75, over >= 20 periods
    panel = _panel(periods=250, names=50, rho=0.0, seed=3)
    settings = BacktestSettings(quantile=0.2, cost_bps=5.0)
    foresight = run_backtest(panel["ts"], panel["ticker"], panel["ret"].to_numpy(), panel["ret"].to_numpy(), settings)
    net = foresight.periods["long_short_net"].to_numpy()
    per_period = net.mean() / net.std(ddof=1)  # computed here, not read from the figures
    figures = foresight.figures()
    assert figures["long_short"]["net"]["sharpe_per_period"] == pytest.approx(per_period)
    verdict = screen(figures, ceiling)
    assert verdict["plausible"] is False and verdict["screened"] == ["long_short", "market_neutral"]
    assert f"long-short net: per-period Sharpe {per_period:.2f} is above 0.5 over 250 periods" in verdict["flags"][0]
    assert any(f.startswith("long-short net: hit rate 1.00 is above 0.75") and "max drawdown 0" in f
               for f in verdict["flags"])

    noise = run_backtest(panel["ts"], panel["ticker"], panel["score"].to_numpy(), panel["ret"].to_numpy(), settings)
    assert screen(noise.figures(), ceiling) == {"plausible": True, "flags": [], "note": "",
                                                "screened": ["long_short", "market_neutral"],
                                                "thresholds": ceiling.model_dump()}
    # An edge a real book could have (IC ~0.05 over 50 names) is not flagged; an annual ceiling can be added.
    modest = _panel(periods=250, names=50, rho=0.05, seed=4)
    book = run_backtest(modest["ts"], modest["ticker"], modest["score"].to_numpy(), modest["ret"].to_numpy(), settings)
    assert screen(book.figures(), ceiling)["plausible"] is True
    strict = screen(foresight.figures(), BacktestPlausibility(max_annual_sharpe=5.0))
    assert any("annualised Sharpe" in f and "above 5" in f for f in strict["flags"])
    # Too few periods, or no book held at all (one name per time): not judged, null rather than a verdict.
    short = panel[panel["ts"] < panel["ts"].unique()[10]]
    few = run_backtest(short["ts"], short["ticker"], short["ret"].to_numpy(), short["ret"].to_numpy(), settings)
    assert screen(few.figures(), ceiling)["plausible"] is None
    alone = panel[panel["ticker"] == "T000"]
    idle = run_backtest(alone["ts"], alone["ticker"], alone["ret"].to_numpy(), alone["ret"].to_numpy(), settings)
    assert screen(idle.figures(), ceiling)["plausible"] is None
