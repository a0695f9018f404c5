"""past_future_asymmetry: no feature knows the coming return better than the return it has already seen.

A feature at t is computed from data up to t, so it may be strongly tied to the return that ended at t (a
momentum or reversal indicator is made of it) but an honest one is only weakly tied to the return that starts
after t: markets leave little to predict. A feature built from data that already carries the future (a volume
column that rises before up sessions, a mis-stamped vendor field) shows the reverse pattern. For every feature,
on the development rows and on the holdout separately (a leak confined to the final period is what every gate
is judged on), this check compares the Spearman correlation with the forward return (the label's window) and
with the past return over the same horizon, and fails a feature when both

    |rho_future| >= min_future_correlation                                  (large enough to matter), and
    (atanh|rho_future| - atanh|rho_past|) * sqrt((n_eff - 3) / 2) >= min_asymmetry_z   (not noise),

where n_eff is the row count divided by how many rows' label windows overlap (horizon / sample spacing).
Fisher's z puts both correlations on one scale; the sqrt(2 / (n_eff - 3)) standard error of a difference of
two correlations ignores their covariance and the cross-section's common moves, which is why the floor is
there too. Both thresholds depend on the data and sit per horizon in configs/pipeline.yaml
(`leaks.plausibility`; defaults justified in docs/leaks.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from steps.common.folds import Folds, holdout_mask
from steps.features.settings import FeatureSettings
from steps.leaks.checks.common import CheckResult
from steps.leaks.checks.ranks import correlation, ranks
from steps.leaks.checks.target_leakage import TARGET_LEAKAGE_MAX_ROWS
from steps.leaks.settings import LeakScreens

NAME = "past_future_asymmetry"


@dataclass(frozen=True)
class AsymmetryThresholds:
    """past_future_asymmetry's limits; defaults and bounds declared once, in steps/leaks/settings.py."""

    min_future_correlation: float = LeakScreens().min_future_correlation
    min_asymmetry_z: float = LeakScreens().min_asymmetry_z


def overlap_factor(settings: FeatureSettings) -> float:
    """How many decision rows share one label window: H bars of return, one row every `sample_every_bars`."""
    return max(1.0, settings.label_horizon_bars / settings.sample_every_bars)


def _segment(frame: pd.DataFrame, rows: np.ndarray, columns: list[str], forward_return: np.ndarray,
             past_return: np.ndarray, overlap: float) -> dict[str, dict[str, float]]:
    if len(rows) > TARGET_LEAKAGE_MAX_ROWS:  # same sample size and reason as target_leakage
        rows = np.sort(np.random.default_rng(0).choice(rows, TARGET_LEAKAGE_MAX_ROWS, replace=False))
    sample = frame.iloc[rows]
    ranked = ranks({"\0future": np.asarray(forward_return, dtype="float64")[rows],
                     "\0past": np.asarray(past_return, dtype="float64")[rows],
                     **{c: sample[c].to_numpy(dtype="float64", na_value=np.nan) for c in columns}})
    stats = {}
    for column in columns:
        values = ranked[column]
        paired = ~(np.isnan(values) | np.isnan(ranked["\0future"]))
        n_eff = paired.sum() / overlap
        rho_future = correlation(values, ranked["\0future"])
        rho_past = correlation(values, ranked["\0past"])
        if np.isnan(rho_future) or n_eff <= 4:
            continue
        rho_past = 0.0 if np.isnan(rho_past) else rho_past
        clip = 1 - 1e-12
        z = (np.arctanh(min(abs(rho_future), clip)) - np.arctanh(min(abs(rho_past), clip))) * np.sqrt((n_eff - 3) / 2)
        stats[column] = {"future": round(float(rho_future), 4), "past": round(float(rho_past), 4),
                         "z": round(float(z), 2), "rows": int(paired.sum())}
    return stats


def past_future_asymmetry(frame: pd.DataFrame, folds: Folds, columns: list[str], forward_return: np.ndarray,
                          past_return: np.ndarray, settings: FeatureSettings,
                          thresholds: AsymmetryThresholds) -> CheckResult:
    """Per feature and per segment (development rows, holdout rows): future vs past rank correlation.

    Both returns come from the bars (BarPositions), not from the table's own `forward_return`, so a table
    cannot hide a leak behind a forged or missing return column."""
    holdout = np.asarray(holdout_mask(frame, folds))
    overlap = overlap_factor(settings)
    segments = {name: _segment(frame, np.flatnonzero(mask), columns, forward_return, past_return, overlap)
                for name, mask in (("development", ~holdout), ("holdout", holdout))}
    flagged: dict[str, list[str]] = {}
    strongest = ("", "", -np.inf)
    for segment, stats in segments.items():
        for column, s in stats.items():
            if s["z"] > strongest[2]:
                strongest = (column, segment, s["z"])
            if abs(s["future"]) >= thresholds.min_future_correlation and s["z"] >= thresholds.min_asymmetry_z:
                flagged.setdefault(column, []).append(
                    f"{segment}: corr with future return {s['future']:+.3f} vs past return {s['past']:+.3f} "
                    f"(z {s['z']:.1f}, {s['rows']} rows)")
    rows = {name: max((s["rows"] for s in stats.values()), default=0) for name, stats in segments.items()}
    scope = f"{len(columns)} features on {rows['development']} development and {rows['holdout']} holdout rows"
    if flagged:
        details = (f"knows the coming return better than the past one (input-data or feature leak?), {scope}: "
                   + "; ".join(f"{c}: {', '.join(r)}" for c, r in sorted(flagged.items())))
    else:
        top = f"; largest z {strongest[2]:.1f} ({strongest[0]}, {strongest[1]})" if strongest[0] else ""
        details = (f"{scope}: no feature has |rank corr| with the forward return >= "
                   f"{thresholds.min_future_correlation:g} that exceeds its past-return correlation by >= "
                   f"{thresholds.min_asymmetry_z:g} standard errors{top}")
    return CheckResult(NAME, not flagged, details, sorted(flagged),
                       {"segments": segments, "overlap": overlap,
                        "thresholds": {"min_future_correlation": thresholds.min_future_correlation,
                                       "min_asymmetry_z": thresholds.min_asymmetry_z}})
