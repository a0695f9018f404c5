"""The evaluation's signal-quality and backtest sections, shared by steps.evaluate and steps.ensemble.

The numbers are computed in steps/common/signal_quality.py and steps/common/backtest.py (definitions there and
in docs/training.md); this module picks the rows, the horizon and the regimes, and shapes evaluation.json:

- `signal_quality`: IC / Rank IC summaries on the holdout, by quarter, by market volatility regime, per
  walk-forward fold (on the out-of-fold predictions), and the daily mean IC the report draws;
- `backtest`: the three portfolios' gross and net figures on the holdout, the long-short net curve, and
  `plausibility`: the screen of those economics (steps/common/backtest_plausibility.py; a flag, not a gate);
- three figures added to `binary_classification_metrics` as `{value, standard_deviation}`, the shape Model
  Monitor's model-quality file gives every metric, so the registered package's ModelQuality shows them;
- `signal_metadata`: the same figures as short strings for the model package's customer metadata (a
  metadata value is a string of letters, digits, spaces and `_.:/=+-@`).

Undefined is null, never 0: with one ticker per decision time there is no cross-section, so no IC and no
long-short book. A 0.0 there would read as "no edge", which is a finding; "cannot be computed" is not. So
an undefined value or standard deviation is JSON null in the metrics, and the metadata string is
`undefined` (null is not a string, and the pattern admits no other marker worth reading). The optional
Gate-signal refuses a null net Sharpe (pipelines/stages/signal.py).
"""

from __future__ import annotations

import io
import math
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from steps.common.backtest import (
    BacktestSettings,
    curve,
    holding_periods,
    run_backtest,
    sharpe_standard_error,
)
from steps.common.backtest_plausibility import screen
from steps.common.errors import StepInputError
from steps.common.folds import session_dates
from steps.common.holdout_report import metadata_text
from steps.common.signal_quality import (
    daily_means,
    ic_by,
    ic_summary,
    market_volatility_regime,
    period_ic,
    quarter_of,
)
from steps.evaluate.settings import SignalSettings

OOF_FILE = "oof_predictions.parquet"
RETURN_COLUMN = "forward_return"


def backtest_settings(signal: SignalSettings, manifest: dict[str, Any]) -> BacktestSettings:
    """The backtest of these settings on the table a manifest describes (its horizon sets the holding period)."""
    return BacktestSettings(quantile=signal.quantile, cost_bps=signal.cost_bps, holding_periods=horizon_of(manifest))


def horizon_of(manifest: dict[str, Any]) -> int:
    """K = ceil(label_horizon_bars / sample_every_bars) from the manifest's settings; 1 when it has none."""
    settings = manifest.get("settings") or {}
    try:
        return holding_periods(int(settings["label_horizon_bars"]), int(settings.get("sample_every_bars", 1)))
    except (KeyError, TypeError, ValueError):
        return 1


def volatility_column(frame: pd.DataFrame) -> str | None:
    """The longest realised-volatility window among the features (vol_60 intraday, vol_20 daily)."""
    candidates = sorted((c for c in frame.columns if c.startswith("vol_") and c[4:].isdigit()),
                        key=lambda c: int(c[4:]))
    return candidates[-1] if candidates else None


def forward_returns(frame: pd.DataFrame, source: Path) -> np.ndarray:
    if RETURN_COLUMN not in frame.columns:
        raise StepInputError("missing column (IC and the backtest need the return the label is built from)",
                             file=source, column=RETURN_COLUMN, fix="rebuild the table with steps.features")
    return frame[RETURN_COLUMN].to_numpy(dtype="float64", na_value=np.nan)


def holdout_sections(frame: pd.DataFrame, scores: np.ndarray, manifest: dict[str, Any], settings: SignalSettings,
                     source: Path) -> dict[str, Any]:
    """`signal_quality` (without folds), `backtest`, the metrics and the metadata strings of the holdout rows."""
    returns = forward_returns(frame, source)
    if frame.duplicated(["ticker", "ts"]).any():
        raise StepInputError("duplicate (ticker, ts) rows", file=source, column="ts",
                             fix="rebuild the table with steps.features")
    per_period = period_ic(frame["ts"], scores, returns)
    index = per_period.index
    signal: dict[str, Any] = {
        "unit": "decision time (cross-section of tickers)",
        "holdout": ic_summary(per_period),
        "by_quarter": ic_by(per_period, quarter_of(index)),
    }
    column = volatility_column(frame)
    if column is not None:
        regime = market_volatility_regime(frame["ts"], frame[column], index)
        signal["by_volatility_regime"] = {"feature": column, "regime": "terciles of the median across names at t",
                                          "ic": ic_by(per_period, regime)}
    dates = pd.Series(session_dates(pd.Series(index)), index=index).astype(str) if len(index) else pd.Series([])
    signal["ic_by_period"] = daily_means(per_period, dates)
    days = len(np.unique(session_dates(frame["ts"])))
    test = run_backtest(frame["ts"], frame["ticker"], scores, returns, backtest_settings(settings, manifest),
                        trading_days=days)
    figures = test.figures()
    backtest = {**figures, "curve": curve(test), "plausibility": screen(figures, settings.plausibility)}
    return {"signal_quality": signal, "backtest": backtest, **headline(signal["holdout"], backtest)}


def headline(holdout: dict[str, Any], backtest: dict[str, Any]) -> dict[str, Any]:
    """The three figures as model-quality metrics and as metadata strings (module docstring)."""
    ic, rank_ic = holdout["ic"], holdout["rank_ic"]
    net = backtest["long_short"]["net"]
    sharpe_sd = sharpe_standard_error(net["sharpe"], net["periods"], backtest["settings"]["periods_per_year"])
    metrics = {
        "information_coefficient": {"value": _number(ic["mean"]), "standard_deviation": _standard_error(ic)},
        "rank_information_coefficient": {"value": _number(rank_ic["mean"]),
                                         "standard_deviation": _standard_error(rank_ic)},
        "long_short_net_sharpe": {"value": _number(net["sharpe"]), "standard_deviation": _number(sharpe_sd)},
    }
    metadata = {
        "holdout_ic": metadata_text(ic["mean"]),
        "holdout_rank_ic": metadata_text(rank_ic["mean"]),
        "holdout_net_sharpe": metadata_text(net["sharpe"], 3),
        "holdout_net_annual_return": metadata_text(net["annualized_return"]),
        "summary": (f"IC {metadata_text(ic['mean'])} RankIC {metadata_text(rank_ic['mean'])} "
                    f"ICIR {metadata_text(ic['icir'], 3)} long-short net Sharpe {metadata_text(net['sharpe'], 2)}"),
    }
    return {"metrics": metrics, "signal_metadata": metadata}




def _number(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _standard_error(summary: dict[str, Any]) -> float | None:
    if summary["std"] is None or summary["periods"] < 2:
        return None
    return _number(summary["std"] / math.sqrt(summary["periods"]))


def fold_sections(predictions: pd.DataFrame, score_column: str, settings: SignalSettings,
                  manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """IC summaries and the long-short net Sharpe per walk-forward fold, on out-of-fold predictions.

    `predictions` holds ticker, ts, fold, forward_return and the score column; every row was scored by a
    model that did not train on it (steps.train's OOF table, or the meta-learner's walk-forward fit)."""
    results = []
    for fold, rows in predictions.groupby("fold", sort=True):
        scores = rows[score_column].to_numpy(dtype="float64")
        returns = rows[RETURN_COLUMN].to_numpy(dtype="float64", na_value=np.nan)
        summary = ic_summary(period_ic(rows["ts"], scores, returns))
        test = run_backtest(rows["ts"], rows["ticker"], scores, returns, backtest_settings(settings, manifest),
                            trading_days=len(np.unique(session_dates(rows["ts"]))))
        results.append({"fold": int(fold), "rows": len(rows), **summary,
                        "long_short_net_sharpe": test.figures()["long_short"]["net"]["sharpe"]})
    return results


def with_forward_returns(oof: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """The OOF rows with the feature table's forward return (joined on ticker and ts)."""
    keys = table[["ticker", "ts", RETURN_COLUMN]]
    return oof.drop(columns=[RETURN_COLUMN], errors="ignore").merge(keys, on=["ticker", "ts"], how="left")


def read_oof(model_path: str | Path) -> pd.DataFrame | None:
    """steps.train's out-of-fold predictions from a model folder or its model.tar.gz (None when absent).

    Read from the archive member straight into memory; parquet carries data only. An unreadable or malformed
    table is one line naming it (the per-fold figures cannot be computed from it)."""
    try:
        oof = _read_oof(Path(model_path))
    except (OSError, ValueError, tarfile.TarError) as exc:  # pyarrow's errors are ValueErrors / OSErrors
        raise StepInputError(f"{OOF_FILE} cannot be read ({type(exc).__name__})", file=model_path,
                             fix="retrain the model with steps.train") from None
    if oof is not None:
        missing = [c for c in ("ticker", "ts", "fold", "prediction") if c not in oof.columns]
        if missing:
            raise StepInputError(f"missing column in {OOF_FILE}", file=model_path, column=missing[0],
                                 fix="retrain the model with steps.train")
    return oof


def _read_oof(root: Path) -> pd.DataFrame | None:
    if root.is_file() and root.name == OOF_FILE:
        return pd.read_parquet(root)
    if root.is_dir():
        found = sorted(root.rglob(OOF_FILE))
        if len(found) == 1:
            return pd.read_parquet(found[0])
        archives = sorted(root.rglob("model.tar.gz"))
        if len(archives) != 1:
            return None
        root = archives[0]
    if not tarfile.is_tarfile(root):
        return None
    with tarfile.open(root, "r:gz") as archive:
        member = next((m for m in archive.getmembers() if m.isfile() and Path(m.name).name == OOF_FILE
                       and len(Path(m.name).parts) <= 2), None)
        handle = archive.extractfile(member) if member else None
        return pd.read_parquet(io.BytesIO(handle.read())) if handle else None


