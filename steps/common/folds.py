"""Walk-forward folds in trading days, purged on `label_end` and embargoed.

Layout (trading days, oldest left):

    | ... | train_0 (T days) | val_0 (V) | ... | val_{n-1} (V) | holdout (H days) | final holdout (F days) |
                           | train_1 (T days, rolling) |

Validation windows tile the days just before the holdout; each fold trains on the T trading days
immediately before its validation window. Because labels look forward, a train row near the end of its
window has a label that overlaps the validation window: such rows are purged (a train row is kept only if
`label_end + embargo < validation_start`), and validation rows whose label reaches into the holdout are
dropped too. The holdout is every row with `ts >= holdout_start` and belongs to no fold.

The final holdout (the lockbox, F = `final_holdout_days` > 0) is the last F sessions. The holdout before it is
then the *selection* holdout: the gates and the re-tuning rounds look at it, as often as they run. The lockbox
is read once, after the round loop has ended, by the model about to be registered (steps/final_holdout). A
selection-holdout row whose label window reaches into the lockbox is dropped from the selection holdout: its
outcome is a lockbox-period return. F = 0 keeps the one-holdout layout (a step run by hand).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from steps.common.errors import StepInputError
from steps.common.io import read_json, write_json

MARKET_TZ = "America/New_York"


@dataclass(frozen=True)
class Fold:
    fold: int
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    validation_start: pd.Timestamp
    validation_end: pd.Timestamp


@dataclass(frozen=True)
class Folds:
    folds: list[Fold]
    holdout_start: pd.Timestamp
    holdout_end: pd.Timestamp
    embargo_bars: int
    embargo: pd.Timedelta
    purge: str = "label_end"
    days: dict[str, int] = field(default_factory=dict)
    final_holdout_start: pd.Timestamp | None = None

    def to_json(self) -> dict[str, Any]:
        def iso(ts: pd.Timestamp) -> str:
            return ts.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")

        return {
            "folds": [
                {
                    "fold": f.fold,
                    "train_start": iso(f.train_start),
                    "train_end": iso(f.train_end),
                    "validation_start": iso(f.validation_start),
                    "validation_end": iso(f.validation_end),
                }
                for f in self.folds
            ],
            "holdout_start": iso(self.holdout_start),
            "holdout_end": iso(self.holdout_end),
            "embargo_bars": self.embargo_bars,
            "embargo_seconds": int(self.embargo.total_seconds()),
            "purge": self.purge,
            "days": self.days,
            **({"final_holdout_start": iso(self.final_holdout_start)} if self.final_holdout_start is not None else {}),
        }

    @classmethod
    def from_json(cls, payload: dict[str, Any], source: str = "folds.json") -> Folds:
        try:
            folds = [
                Fold(
                    fold=int(item["fold"]),
                    train_start=pd.Timestamp(item["train_start"]),
                    train_end=pd.Timestamp(item["train_end"]),
                    validation_start=pd.Timestamp(item["validation_start"]),
                    validation_end=pd.Timestamp(item["validation_end"]),
                )
                for item in payload["folds"]
            ]
            return cls(
                folds=folds,
                holdout_start=pd.Timestamp(payload["holdout_start"]),
                holdout_end=pd.Timestamp(payload["holdout_end"]),
                embargo_bars=int(payload.get("embargo_bars", 0)),
                embargo=pd.Timedelta(seconds=float(payload.get("embargo_seconds", 0))),
                purge=str(payload.get("purge", "label_end")),
                days=dict(payload.get("days", {})),
                final_holdout_start=(pd.Timestamp(payload["final_holdout_start"])
                                     if payload.get("final_holdout_start") is not None else None),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StepInputError(
                f"malformed folds ({exc})", file=source, fix="rebuild it with steps.features"
            ) from exc


def bar_interval(frequency: str) -> pd.Timedelta:
    """The embargo unit: one bar. Daily bars count calendar days at 7/5 per trading day (conservative)."""
    if frequency == "1min":
        return pd.Timedelta(minutes=1)
    if frequency == "1d":
        return pd.Timedelta(days=1.4)
    raise StepInputError(f"unknown frequency {frequency!r}", column="frequency", fix="use 1min or 1d")


def session_dates(ts: pd.Series) -> np.ndarray:
    """The exchange (New York) calendar date of each UTC timestamp."""
    return pd.DatetimeIndex(ts).tz_convert(MARKET_TZ).date


def build_folds(
    bar_ts: pd.Series,
    *,
    n_folds: int,
    train_days: int,
    validation_days: int,
    holdout_days: int,
    embargo_bars: int,
    frequency: str = "1min",
    source: str = "bars",
    final_holdout_days: int = 0,
) -> Folds:
    """Folds over the trading days present in `bar_ts` (the bars' close times, UTC)."""
    if min(n_folds, train_days, validation_days, holdout_days) < 1 or embargo_bars < 0 or final_holdout_days < 0:
        raise StepInputError(
            "n_folds, train_days, validation_days and holdout_days must be >= 1, embargo_bars and "
            "final_holdout_days >= 0",
            column="folds", fix="check the --n-folds/--train-days/--validation-days/--holdout-days values",
        )
    ts = pd.Series(pd.DatetimeIndex(bar_ts))
    dates = session_dates(ts)
    bounds = ts.groupby(dates).agg(["min", "max"]).sort_index()
    n_days = len(bounds)
    needed = train_days + n_folds * validation_days + holdout_days + final_holdout_days
    if n_days < needed:
        final = f" + {final_holdout_days} final holdout" if final_holdout_days else ""
        raise StepInputError(
            f"{n_days} trading days, but {n_folds} folds x ({train_days} train + {validation_days} validation)"
            f" + {holdout_days} holdout{final} days need {needed}",
            file=source, column="ts",
            fix="supply more days or lower --train-days/--n-folds/--validation-days/--holdout-days"
                + ("/--final-holdout-days" if final_holdout_days else ""),
        )
    starts = bounds["min"].to_numpy()
    ends = bounds["max"].to_numpy()
    final_first = n_days - final_holdout_days
    holdout_first = final_first - holdout_days
    folds = []
    for k in range(n_folds):
        validation_first = holdout_first - (n_folds - k) * validation_days
        train_first = validation_first - train_days
        folds.append(
            Fold(
                fold=k,
                train_start=_utc(starts[train_first]),
                train_end=_utc(ends[validation_first - 1]),
                validation_start=_utc(starts[validation_first]),
                validation_end=_utc(ends[validation_first + validation_days - 1]),
            )
        )
    embargo = bar_interval(frequency) * embargo_bars
    embargo = pd.Timedelta(seconds=math.ceil(embargo.total_seconds()))
    return Folds(
        folds=folds,
        holdout_start=_utc(starts[holdout_first]),
        holdout_end=_utc(ends[final_first - 1]),
        embargo_bars=embargo_bars,
        embargo=embargo,
        days={"total": n_days, "train": train_days, "validation": validation_days, "holdout": holdout_days,
              **({"final_holdout": final_holdout_days} if final_holdout_days else {})},
        final_holdout_start=_utc(starts[final_first]) if final_holdout_days else None,
    )


def _utc(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _as_folds(folds: Folds | dict[str, Any]) -> Folds:
    return folds if isinstance(folds, Folds) else Folds.from_json(folds)


def fold_masks(frame: pd.DataFrame, folds: Folds | dict[str, Any]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per fold, boolean (train, validation) masks over `frame`'s rows (needs `ts` and `label_end`).

    Train rows lie in [train_start, train_end] and have `label_end + embargo < validation_start`;
    validation rows lie in [validation_start, validation_end] and have `label_end < holdout_start`.
    """
    spec = _as_folds(folds)
    ts = pd.DatetimeIndex(frame["ts"])
    label_end = pd.DatetimeIndex(frame["label_end"])
    masks = []
    for fold in spec.folds:
        train = (
            (ts >= fold.train_start)
            & (ts <= fold.train_end)
            & (label_end + spec.embargo < fold.validation_start)
        )
        validation = (
            (ts >= fold.validation_start) & (ts <= fold.validation_end) & (label_end < spec.holdout_start)
        )
        masks.append((np.asarray(train), np.asarray(validation)))
    return masks


def holdout_mask(frame: pd.DataFrame, folds: Folds | dict[str, Any]) -> np.ndarray:
    """Rows of the out-of-time (selection) holdout: every row with `ts >= holdout_start`; with a final holdout,
    only those before it whose label window ends before it too (a later end is a lockbox-period outcome)."""
    spec = _as_folds(folds)
    ts = pd.DatetimeIndex(frame["ts"])
    rows = ts >= spec.holdout_start
    if spec.final_holdout_start is not None:
        rows &= (ts < spec.final_holdout_start) & (pd.DatetimeIndex(frame["label_end"]) < spec.final_holdout_start)
    return np.asarray(rows)


def final_holdout_mask(frame: pd.DataFrame, folds: Folds | dict[str, Any]) -> np.ndarray:
    """Rows of the final holdout (the lockbox): every row with `ts >= final_holdout_start`; none without one."""
    spec = _as_folds(folds)
    if spec.final_holdout_start is None:
        return np.zeros(len(frame), dtype=bool)
    return np.asarray(pd.DatetimeIndex(frame["ts"]) >= spec.final_holdout_start)


def sealed_mask(frame: pd.DataFrame, folds: Folds | dict[str, Any]) -> np.ndarray:
    """Rows every step before the lockbox is opened may hold: neither a lockbox row nor a row whose label
    window reaches into the lockbox (all rows without one)."""
    spec = _as_folds(folds)
    if spec.final_holdout_start is None:
        return np.ones(len(frame), dtype=bool)
    return np.asarray((pd.DatetimeIndex(frame["ts"]) < spec.final_holdout_start)
                      & (pd.DatetimeIndex(frame["label_end"]) < spec.final_holdout_start))


def development_mask(frame: pd.DataFrame, folds: Folds | dict[str, Any]) -> np.ndarray:
    """Rows a final model may train on: label window (plus embargo) ends before the holdout starts."""
    spec = _as_folds(folds)
    ts = pd.DatetimeIndex(frame["ts"])
    label_end = pd.DatetimeIndex(frame["label_end"])
    return np.asarray((ts < spec.holdout_start) & (label_end + spec.embargo < spec.holdout_start))


def save_folds(folds: Folds, target: str | Path) -> Path:
    return write_json(folds.to_json(), target)


def load_folds(path: str | Path) -> Folds:
    return Folds.from_json(read_json(path, name="folds"), source=str(path))
