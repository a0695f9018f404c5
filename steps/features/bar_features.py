"""Technical features from one ticker's bars. Every window is trailing: it ends at the bar's close.

Computed per ticker, from the ticker's first bar forward, so a value never depends on a later bar and
truncating the input after t leaves every value at or before t bit-identical (steps.leaks checks this).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from steps.features.settings import FeatureSettings


def bar_feature_names(settings: FeatureSettings) -> list[str]:
    longest = settings.windows[-1]
    names = [f"ret_{w}" for w in settings.windows] + ["ret_daily"]
    names += [f"vol_{w}" for w in settings.windows]
    names += [f"range_{w}" for w in settings.windows]
    names += [f"volume_z_{longest}", f"vwap_dev_{longest}", f"rsi_{settings.rsi_period}",
              "gap_overnight", "prev_day_return"]
    names += [f"mkt_rel_ret_{w}" for w in settings.windows]
    return names


def _rolling_sum(values: pd.Series, window: int) -> pd.Series:
    return values.rolling(window, min_periods=window).sum()


def ticker_bar_features(bars: pd.DataFrame, sessions: np.ndarray, settings: FeatureSettings) -> dict[str, np.ndarray]:
    """Features for one ticker's bars (sorted by ts); `sessions` is each bar's trading date as an int.

    Definitions (w in bars):
    - ret_w: log(close[t] / close[t-w]);  ret_daily: log(close[t] / previous session's last close)
    - vol_w: sqrt(sum of squared 1-bar log returns over the last w bars) (realised volatility)
    - range_w: log(max high / min low) over the last w bars
    - volume_z_L: (volume - mean) / std (ddof 0) over the last L bars, L the longest window; 0 if std is 0
    - vwap_dev_L: log(close / VWAP of the last L bars), VWAP on the typical price (h+l+c)/3
    - rsi_n: Cutler's RSI, 100 * gains / (gains + losses) over the last n changes (50 if flat)
    - gap_overnight: log(session's first open / previous session's last close)
    - prev_day_return: log(previous session's close / the session before's close)
    """
    close = pd.Series(bars["close"].to_numpy(dtype="float64"))
    high = pd.Series(bars["high"].to_numpy(dtype="float64"))
    low = pd.Series(bars["low"].to_numpy(dtype="float64"))
    volume = pd.Series(bars["volume"].to_numpy(dtype="float64"))
    opens = bars["open"].to_numpy(dtype="float64")
    log_close = np.log(close)
    one_bar = log_close.diff()
    out: dict[str, np.ndarray] = {}
    for w in settings.windows:
        out[f"ret_{w}"] = (log_close - log_close.shift(w)).to_numpy()
    squared = one_bar**2
    for w in settings.windows:
        out[f"vol_{w}"] = np.sqrt(np.clip(_rolling_sum(squared, w).to_numpy(), 0.0, None))
        out[f"range_{w}"] = np.log(
            high.rolling(w, min_periods=w).max().to_numpy() / low.rolling(w, min_periods=w).min().to_numpy()
        )
    longest = settings.windows[-1]
    mean = volume.rolling(longest, min_periods=longest).mean()
    std = volume.rolling(longest, min_periods=longest).std(ddof=0)
    z = ((volume - mean) / std).to_numpy()
    out[f"volume_z_{longest}"] = np.where(std.to_numpy() > 0, z, np.where(std.isna().to_numpy(), np.nan, 0.0))
    typical = (high + low + close) / 3.0
    pv = _rolling_sum(typical * volume, longest)
    v = _rolling_sum(volume, longest)
    with np.errstate(divide="ignore", invalid="ignore"):
        vwap = (pv / v).to_numpy()
        out[f"vwap_dev_{longest}"] = np.where(v.to_numpy() > 0, np.log(close.to_numpy() / vwap), np.nan)
    change = close.diff()
    n = settings.rsi_period
    gains = _rolling_sum(change.clip(lower=0.0), n).to_numpy()
    losses = _rolling_sum((-change).clip(lower=0.0), n).to_numpy()
    total = gains + losses
    with np.errstate(divide="ignore", invalid="ignore"):
        out[f"rsi_{n}"] = np.where(total > 0, 100.0 * gains / total, np.where(np.isnan(total), np.nan, 50.0))

    # Session features: previous session's last close, this session's first open.
    new_session = np.r_[True, sessions[1:] != sessions[:-1]]
    session_id = np.cumsum(new_session) - 1
    last_of_session = np.r_[sessions[1:] != sessions[:-1], True]
    session_close = close.to_numpy()[last_of_session]
    session_open = opens[new_session]
    prev_close = np.r_[np.nan, session_close[:-1]][session_id]
    prev_prev_close = np.r_[np.nan, np.nan, session_close[:-2]][session_id]
    out["ret_daily"] = np.log(close.to_numpy() / prev_close)
    out["gap_overnight"] = np.log(session_open[session_id] / prev_close)
    out["prev_day_return"] = np.log(prev_close / prev_prev_close)
    return out


def add_market_relative(frame: pd.DataFrame, settings: FeatureSettings) -> pd.DataFrame:
    """mkt_rel_ret_w = ret_w minus the cross-sectional mean of ret_w over the tickers at the same ts.

    The mean at t uses only values stamped t (each itself trailing), so it adds no look-ahead.
    """
    for w in settings.windows:
        column = f"ret_{w}"
        mean = frame.groupby("ts", sort=False)[column].transform("mean")
        frame[f"mkt_rel_ret_{w}"] = frame[column] - mean
    return frame
