"""Counting the looks: every tuning trial of every round and algorithm that came before the lockbox was opened.

The registered model is the survivor of a selection: up to `max_tuning_attempts` rounds of tuning trials per
algorithm, each round started because the selection holdout said no, and an ensemble on top. Its selection
holdout figures are therefore the best of N looks. What this module measures, from the trials' own out-of-fold
predictions (steps.train writes them into every trial's model.tar.gz):

- N, the trials found (one model.tar.gz each), plus the ensemble: the number of strategies the selection chose
  from. The tuning jobs' own counters (TrainingJobStatusCounters.Completed) are passed beside it, so a trial
  whose artifact is missing shows as a difference, not as a smaller N.
- The variance across trials of their out-of-fold long-short net Sharpe (per period): the spread the deflated
  Sharpe ratio's expected maximum is built from.
- The probability of backtest overfitting (CSCV) over the trials' out-of-fold predictions, on the rows every
  trial predicted, cut into S contiguous time blocks (steps/common/selection_statistics.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from steps.common.backtest import run_backtest
from steps.common.folds import session_dates
from steps.common.selection_statistics import (
    choose_n_blocks,
    deflated_sharpe_ratio,
    pbo_from_predictions,
    probabilistic_sharpe_ratio,
    sharpe_variance,
    time_blocks,
)
from steps.evaluate.settings import SignalSettings
from steps.evaluate.signal import backtest_settings, with_forward_returns
from steps.evaluate.trials import KEYS, read_collection, trial_matrix


@dataclass
class Trials:
    """Every collected trial's out-of-fold predictions: the keys, a rows x trials matrix and the trials' names
    (`<algorithm>/<round>/<training job>`), on the rows every trial predicted."""

    keys: pd.DataFrame
    matrix: np.ndarray
    names: list[str]
    counters: dict[str, int] = field(default_factory=dict)
    without_predictions: list[str] = field(default_factory=list)
    bytes: int = 0

    def by_group(self) -> dict[str, int]:
        groups: dict[str, int] = {}
        for name in self.names:
            group = "/".join(name.split("/")[:2])
            groups[group] = groups.get(group, 0) + 1
        return dict(sorted(groups.items()))


def find_trials(root: str | Path | None, logger: logging.Logger) -> Trials:
    """The collections under `root/<algorithm>/` (each the last round's Evaluate output: steps/evaluate/trials.py),
    joined on the rows every trial of every algorithm predicted."""
    base = Path(root) if root else None
    keys, _columns, names = None, [], []
    counters: dict[str, int] = {}
    missing: list[str] = []
    size = 0
    for folder in sorted(p for p in base.iterdir() if p.is_dir()) if base and base.is_dir() else []:
        algorithm = folder.name
        table, description = read_collection(folder)
        counters.update({f"{algorithm}/{r}": int(n) for r, n in description.get("counters", {}).items()})
        missing += [f"{algorithm}/{name}" for name in description.get("without_predictions", [])]
        size += int(description.get("bytes", 0))
        frame_keys, matrix, trial_names = trial_matrix(table)
        if not trial_names:
            continue
        frame = frame_keys.copy()
        for i, name in enumerate(trial_names):
            frame[f"{algorithm}/{name}"] = matrix[:, i]
        keys = frame if keys is None else keys.merge(frame, on=KEYS, how="inner")
        names += [f"{algorithm}/{name}" for name in trial_names]
    if keys is None:
        trials = Trials(pd.DataFrame(columns=KEYS), np.zeros((0, 0)), [], counters, missing, size)
    else:
        keys = keys.sort_values(["ts", "ticker"], kind="stable").reset_index(drop=True)
        trials = Trials(keys[KEYS], keys[names].to_numpy(dtype="float64"), names, counters, missing, size)
    logger.info("looks: %d trial(s) with out-of-fold predictions (%s) on %d rows every trial predicted",
                len(trials.names), ", ".join(f"{g}: {n}" for g, n in trials.by_group().items()) or "none",
                len(trials.keys))
    if missing:
        logger.warning("%d trial archive(s) held no out-of-fold predictions: %s", len(missing), ", ".join(missing[:5]))
    return trials


def per_period_sharpe(returns: np.ndarray) -> float | None:
    r = np.asarray(returns, dtype="float64")
    if len(r) < 2:
        return None
    sd = float(r.std(ddof=1))
    return float(r.mean()) / sd if sd > 0 else None


def trial_sharpes(keys: pd.DataFrame, matrix: np.ndarray, table: pd.DataFrame, manifest: dict[str, Any],
                  signal: SignalSettings) -> list[float | None]:
    """Each trial's out-of-fold long-short net Sharpe per period (None where a backtest has no spread)."""
    with_returns = with_forward_returns(keys.assign(prediction=0.0), table)
    returns = with_returns["forward_return"].to_numpy(dtype="float64")
    settings = backtest_settings(signal, manifest)
    days = len(np.unique(session_dates(keys["ts"]))) if len(keys) else 0
    sharpes = []
    for column in range(matrix.shape[1]):
        test = run_backtest(keys["ts"], keys["ticker"], matrix[:, column], returns, settings, trading_days=days)
        sharpes.append(per_period_sharpe(test.periods["long_short_net"].to_numpy()))
    return sharpes


def selection_statistics(trials: Trials, table: pd.DataFrame, manifest: dict[str, Any], signal: SignalSettings,
                         selection_net: list[float], final_net: list[float], *, n_blocks: int) -> dict[str, Any]:
    """The looks (N), the PSR and DSR of the selection holdout's backtest, the final holdout's PSR, and the PBO."""
    keys, matrix = trials.keys, trials.matrix
    n_trials = len(trials.names)
    sharpes = trial_sharpes(keys, matrix, table, manifest, signal) if n_trials else []
    variance = sharpe_variance(np.asarray([np.nan if s is None else s for s in sharpes], dtype="float64"))
    looks = n_trials + 1  # and the ensemble built on the survivors
    selection_psr = probabilistic_sharpe_ratio(np.asarray(selection_net, dtype="float64"))
    deflated = (deflated_sharpe_ratio(np.asarray(selection_net, dtype="float64"), sharpe_variance=variance,
                                      n_trials=looks) if variance is not None else None)
    blocks = (_pbo(keys, matrix, n_blocks) if n_trials >= 2 else
              {"pbo": None, "reason": f"{n_trials} trial(s) with out-of-fold predictions: PBO compares two or more"})
    return {
        "looks": {
            "trials": n_trials,
            "ensemble": 1,
            "n": looks,
            "by_algorithm_round": trials.by_group(),
            "tuning_job_counters": trials.counters,
            "trials_without_predictions": trials.without_predictions,
            "algorithms": sorted({name.split("/")[0] for name in trials.names}),
            "rounds": sorted({name.split("/")[1] for name in trials.names}),
        },
        "out_of_fold_predictions": {"rows": len(keys), "trials": n_trials, "values": int(matrix.size),
                                    "collected_bytes": trials.bytes},
        "trial_sharpe": {"per_period": sharpes, "variance": variance},
        "selection_holdout": {
            "net_sharpe_per_period": per_period_sharpe(np.asarray(selection_net)),
            "psr": selection_psr,
            "dsr": deflated.to_dict() if deflated is not None else None,
            "note": None if deflated is not None else "undefined: fewer than two trials with a defined Sharpe",
        },
        "final_holdout": {"net_sharpe_per_period": per_period_sharpe(np.asarray(final_net)),
                          "psr": probabilistic_sharpe_ratio(np.asarray(final_net, dtype="float64"))},
        "pbo": blocks,
    }


def _pbo(keys: pd.DataFrame, matrix: np.ndarray, n_blocks: int) -> dict[str, Any]:
    """CSCV over the rows every trial predicted, S contiguous blocks of decision times (fewer where rows are few)."""
    blocks = choose_n_blocks(len(np.unique(pd.DatetimeIndex(keys["ts"]).asi8)), n_blocks)
    if blocks is None:
        return {"pbo": None, "reason": f"{len(keys)} rows every trial predicted: too few decision times for 4 "
                                       "blocks of two"}
    times = pd.DatetimeIndex(keys["ts"]).asi8
    result = pbo_from_predictions(keys["label"].to_numpy(dtype="int64"), matrix, time_blocks(times, blocks), blocks)
    return result.to_dict()
