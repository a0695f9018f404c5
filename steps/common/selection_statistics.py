"""Selection statistics: how much of a chosen model's score is the luck of having looked many times.

A search over many trials (hyperparameter sets, feature sets, algorithms) reports the best one; its figure is
the maximum of many noisy estimates, so it overstates what the winner will do next. Three published measures
size that, and live here, pure and without step I/O, so that tuning, ensemble and evaluation can all report
them the same way:

- PSR, the probabilistic Sharpe ratio (Bailey & López de Prado 2012): the probability that the true Sharpe
  ratio exceeds a benchmark SR*, given the track length and the returns' skewness and kurtosis::

      PSR(SR*) = Phi( (SR - SR*) * sqrt(T - 1) / sqrt(1 - g3 * SR + (g4 - 1) / 4 * SR^2) )

  SR is per period (the rows' own frequency, never annualised), g3 the skewness and g4 the kurtosis (not
  excess: 3 for a normal). Undefined inputs (fewer than 3 observations, zero variance, a radicand <= 0) give
  None, never 0: a 0 would read as "certainly no skill" where the honest answer is "cannot tell".
- DSR, the deflated Sharpe ratio (Bailey & López de Prado 2014): PSR against SR* = the Sharpe ratio the best
  of N trials would show by luck alone, given the variance V of the trials' Sharpe ratios::

      SR0 = sqrt(V) * ((1 - gamma) * Phi^-1(1 - 1/N) + gamma * Phi^-1(1 - 1/(N e)))

  with gamma the Euler-Mascheroni constant. N = 1 gives SR0 = 0 (no search, nothing to deflate): DSR = PSR.
- PBO, the probability of backtest overfitting, by combinatorially symmetric cross-validation (CSCV; Bailey,
  Borwein, López de Prado & Zhu 2014/2017). The T x N performance matrix (time rows, trial columns) is cut
  into S contiguous time blocks; each of the C(S, S/2) ways to take half the blocks as in-sample (IS) picks
  the trial with the best IS score and finds its relative rank omega = rank / (N + 1) among the trials'
  out-of-sample (OOS) scores (rank 1 = worst, ties share their mean rank). With lambda = ln(omega / (1 -
  omega)), PBO is the share of combinations with lambda <= 0: how often the IS winner lands at or below the
  OOS median. Near 0.5 the search selects noise; near 0 the IS winner keeps winning.

Two PBO metrics. `probability_of_backtest_overfitting` scores a set of blocks by the classic Sharpe ratio of
their rows pooled (mean / sd, ddof 1). It is computed from per-block counts, sums and sums of squares, so
each of the 12,870 combinations of S = 16 costs one product of a 0/1 combination-by-block matrix with the
block sums, not a pass over the rows. `pbo_from_predictions` is for classifier trials, whose rows are
(ticker, time) predictions rather than one return per period: the per-block metric is each trial's AUC on the
block's rows (exact, the Mann-Whitney count with ties averaged, the same figure as steps/common/auc.py's),
and a set of blocks scores the mean of its blocks' AUCs. Pooling the rows of 8 blocks into one AUC would
need a ranking per combination and trial (12,870 x N sorts); the mean of exact per-block AUCs is additive,
so a combination costs one matrix product again, and it weighs each period alike, as a per-period IC mean
does. A block holding one label class has no AUC: it is dropped for every trial and named in the result.

Determinism: the combinations are itertools.combinations in order, no seed; an IS tie goes to the lowest
trial index. A Sharpe ratio that does not exist (a half with zero variance) ranks below every one that does.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import kurtosis as _kurtosis
from scipy.stats import norm, rankdata
from scipy.stats import skew as _skew

MIN_OBSERVATIONS = 3
DEFAULT_BLOCKS = 16
MIN_BLOCKS = 4
MIN_ROWS_PER_BLOCK = 2
# Bounds one chunk of the combination x trial matrices (~16 MB of float64 each) whatever N is.
CHUNK_CELLS = 2_000_000


# ---------------------------------------------------------------------------------------------------------
# PSR and DSR
# ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReturnMoments:
    """The figures PSR needs from a return series: per-period Sharpe, count, skewness, kurtosis (normal = 3)."""

    sharpe: float
    n_observations: int
    skewness: float
    kurtosis: float


def return_moments(returns: np.ndarray) -> ReturnMoments | None:
    """Sharpe (mean / sd, ddof 1), skewness and non-excess kurtosis (moment estimates) of a return series.

    None where the Sharpe ratio does not exist: fewer than 3 observations or zero variance.
    Raises ValueError on non-finite values: dropping them silently would shorten the track unseen.
    """
    values = np.asarray(returns, dtype="float64").ravel()
    if not np.isfinite(values).all():
        raise ValueError("returns hold NaN or infinite values; drop or fill them before computing a Sharpe ratio")
    if len(values) < MIN_OBSERVATIONS:
        return None
    sd = float(np.std(values, ddof=1))
    if not sd > 0 or not np.isfinite(sd) or np.ptp(values) == 0:
        return None
    return ReturnMoments(sharpe=float(np.mean(values)) / sd, n_observations=len(values),
                         skewness=float(_skew(values)), kurtosis=float(_kurtosis(values, fisher=False)))


def probabilistic_sharpe_ratio_from_moments(sharpe: float, n_observations: int, skewness: float = 0.0,
                                            kurtosis: float = 3.0, benchmark_sharpe: float = 0.0) -> float | None:
    """PSR(SR*) from summary figures: per-period Sharpe, number of observations, skewness, kurtosis (normal 3).

    None for fewer than 3 observations, a non-finite input or a radicand <= 0 (extreme skew or kurtosis,
    where the normal approximation behind the formula does not hold).
    """
    figures = (sharpe, skewness, kurtosis, benchmark_sharpe)
    if n_observations < MIN_OBSERVATIONS or not all(math.isfinite(x) for x in figures):
        return None
    radicand = 1.0 - skewness * sharpe + (kurtosis - 1.0) / 4.0 * sharpe ** 2
    if not radicand > 0:
        return None
    z = (sharpe - benchmark_sharpe) * math.sqrt(n_observations - 1) / math.sqrt(radicand)
    return float(norm.cdf(z))


def probabilistic_sharpe_ratio(returns: np.ndarray, benchmark_sharpe: float = 0.0) -> float | None:
    """PSR(SR*) of a per-period return series; None where the Sharpe ratio or the formula is undefined."""
    moments = return_moments(returns)
    if moments is None:
        return None
    return probabilistic_sharpe_ratio_from_moments(moments.sharpe, moments.n_observations, moments.skewness,
                                                   moments.kurtosis, benchmark_sharpe)


def expected_maximum_sharpe(sharpe_variance: float, n_trials: float) -> float:
    """The Sharpe ratio the best of `n_trials` independent zero-skill trials shows by luck (SR0 above).

    `sharpe_variance` is the variance of the trials' per-period Sharpe ratios. `n_trials` may be an
    effective (non-integer) count >= 1; 1 gives 0. The approximation is meant for large N: for N = 2 it
    gives 0.52 sqrt(V) where the exact expectation is 0.56 sqrt(V).
    """
    if not (math.isfinite(sharpe_variance) and sharpe_variance >= 0):
        raise ValueError(f"sharpe_variance must be a finite number >= 0, got {sharpe_variance!r}")
    if not (math.isfinite(n_trials) and n_trials >= 1):
        raise ValueError(f"n_trials must be >= 1, got {n_trials!r}")
    if n_trials == 1:
        return 0.0
    gamma = np.euler_gamma
    spread = (1 - gamma) * norm.ppf(1 - 1 / n_trials) + gamma * norm.ppf(1 - 1 / (n_trials * math.e))
    return float(math.sqrt(sharpe_variance) * spread)


def sharpe_variance(trial_sharpes: np.ndarray) -> float | None:
    """Variance (ddof 1) of the trials' per-period Sharpe ratios, undefined ones left out; None below two."""
    values = np.asarray(trial_sharpes, dtype="float64").ravel()
    values = values[np.isfinite(values)]
    return float(np.var(values, ddof=1)) if len(values) >= 2 else None


@dataclass(frozen=True)
class DeflatedSharpe:
    """DSR with every input it used, so that a report can be re-derived from its JSON alone."""

    sharpe: float | None
    n_observations: int
    skewness: float | None
    kurtosis: float | None
    n_trials: float
    sharpe_variance: float
    sr0: float
    psr: float | None
    dsr: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def deflated_sharpe_ratio_from_moments(sharpe: float, n_observations: int, skewness: float, kurtosis: float,
                                       *, n_trials: float, sharpe_variance: float) -> DeflatedSharpe:
    """DSR from summary figures; `psr` is PSR(0), `dsr` is PSR(SR0). Both None where PSR is undefined."""
    sr0 = expected_maximum_sharpe(sharpe_variance, n_trials)
    return DeflatedSharpe(
        sharpe=sharpe, n_observations=n_observations, skewness=skewness, kurtosis=kurtosis, n_trials=n_trials,
        sharpe_variance=sharpe_variance, sr0=sr0,
        psr=probabilistic_sharpe_ratio_from_moments(sharpe, n_observations, skewness, kurtosis, 0.0),
        dsr=probabilistic_sharpe_ratio_from_moments(sharpe, n_observations, skewness, kurtosis, sr0))


def deflated_sharpe_ratio(returns: np.ndarray, *, n_trials: float, sharpe_variance: float) -> DeflatedSharpe:
    """DSR of the selected trial's per-period returns, given the search's trial count and Sharpe variance."""
    moments = return_moments(returns)
    if moments is None:
        sr0 = expected_maximum_sharpe(sharpe_variance, n_trials)
        return DeflatedSharpe(sharpe=None, n_observations=int(np.asarray(returns).size), skewness=None,
                              kurtosis=None, n_trials=n_trials, sharpe_variance=sharpe_variance, sr0=sr0,
                              psr=None, dsr=None)
    return deflated_sharpe_ratio_from_moments(moments.sharpe, moments.n_observations, moments.skewness,
                                              moments.kurtosis, n_trials=n_trials,
                                              sharpe_variance=sharpe_variance)


# ---------------------------------------------------------------------------------------------------------
# PBO by CSCV
# ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class OverfittingProbability:
    """PBO and how it was reached; `pbo` is None with a `reason` where it is undefined.

    `median_logit` is the median lambda over the combinations (below 0: the IS winner typically lands in the
    OOS bottom half). `prob_oos_loss` is the share of combinations where the IS winner's OOS score is below
    `loss_threshold` (Sharpe 0, AUC 0.5). `dropped_blocks` are block indices left out for every trial.
    """

    pbo: float | None
    metric: str
    n_rows: int
    n_trials: int
    n_blocks: int
    n_combinations: int
    median_logit: float | None = None
    prob_oos_loss: float | None = None
    loss_threshold: float | None = None
    dropped_blocks: tuple[int, ...] = ()
    notes: tuple[str, ...] = ()
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["dropped_blocks"] = list(self.dropped_blocks)
        out["notes"] = list(self.notes)
        return out


def choose_n_blocks(n_rows: int, requested: int = DEFAULT_BLOCKS) -> int | None:
    """S: `requested` where every block gets >= 2 rows, else the largest even S that does; None below 4."""
    if requested < MIN_BLOCKS or requested % 2:
        raise ValueError(f"n_blocks must be an even number >= {MIN_BLOCKS}, got {requested}")
    blocks = min(requested, n_rows // MIN_ROWS_PER_BLOCK)
    blocks -= blocks % 2
    return blocks if blocks >= MIN_BLOCKS else None


def contiguous_blocks(n_rows: int, n_blocks: int) -> np.ndarray:
    """Block index of each of `n_rows` time-ordered rows: contiguous runs whose sizes differ by at most one."""
    return (np.arange(n_rows) * n_blocks) // n_rows


def combination_matrix(n_blocks: int) -> np.ndarray:
    """C(S, S/2) x S 0/1 matrix, row c marking the IS blocks of combination c (itertools order, no seed)."""
    combos = list(itertools.combinations(range(n_blocks), n_blocks // 2))
    matrix = np.zeros((len(combos), n_blocks), dtype="float64")
    matrix[np.repeat(np.arange(len(combos)), n_blocks // 2), np.asarray(combos).ravel()] = 1.0
    return matrix


def _chunks(n_combinations: int, n_trials: int) -> list[slice]:
    step = max(1, CHUNK_CELLS // max(1, n_trials))
    return [slice(start, min(start + step, n_combinations)) for start in range(0, n_combinations, step)]


def _cscv(n_blocks: int, n_trials: int, scores: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
          loss_threshold: float) -> tuple[float, float, float, int]:
    """The CSCV loop shared by both metrics: PBO, median logit, P(OOS loss), number of combinations.

    `scores(in_sample)` maps a chunk of the combination matrix to its (IS, OOS) score matrices, combinations x
    trials, NaN where a score does not exist.
    """
    matrix = combination_matrix(n_blocks)
    logits, losses = [], []
    for rows in _chunks(len(matrix), n_trials):
        in_sample, out_of_sample = scores(matrix[rows])
        in_sample = np.where(np.isfinite(in_sample), in_sample, -np.inf)
        out_of_sample = np.where(np.isfinite(out_of_sample), out_of_sample, -np.inf)
        chosen = np.argmax(in_sample, axis=1)
        chosen_oos = out_of_sample[np.arange(len(chosen)), chosen][:, None]
        below = (out_of_sample < chosen_oos).sum(axis=1)
        equal = (out_of_sample == chosen_oos).sum(axis=1)
        rank = below + (equal + 1) / 2.0  # 1 = worst; ties (the chosen trial included) share their mean rank
        omega = rank / (n_trials + 1)
        logits.append(np.log(omega / (1 - omega)))
        losses.append(chosen_oos[:, 0] < loss_threshold)
    lam = np.concatenate(logits)
    return float(np.mean(lam <= 0)), float(np.median(lam)), float(np.mean(np.concatenate(losses))), len(lam)


def _undefined(metric: str, n_rows: int, n_trials: int, reason: str, **extra: Any) -> OverfittingProbability:
    return OverfittingProbability(pbo=None, metric=metric, n_rows=n_rows, n_trials=n_trials, n_blocks=0,
                                  n_combinations=0, reason=reason, **extra)


def probability_of_backtest_overfitting(performance: np.ndarray,
                                        n_blocks: int = DEFAULT_BLOCKS) -> OverfittingProbability:
    """PBO of picking the best-Sharpe column of a T x N matrix of per-period returns (rows in time order).

    Each combination's IS and OOS Sharpe ratios pool the rows of their blocks (mean / sd, ddof 1). Computed
    from per-block counts, sums and sums of squares of the rows, each column shifted by its own mean first
    so the sums of squares do not cancel.
    """
    values = np.asarray(performance, dtype="float64")
    if values.ndim != 2:
        raise ValueError(f"performance must be a 2-D matrix (time rows x trial columns), got {values.ndim}-D")
    if not np.isfinite(values).all():
        raise ValueError("performance holds NaN or infinite values; fill or drop those rows first")
    n_rows, n_trials = values.shape
    if n_trials < 2:
        return _undefined("sharpe", n_rows, n_trials, f"PBO compares trials; got {n_trials}, need >= 2")
    blocks = choose_n_blocks(n_rows, n_blocks)
    if blocks is None:
        return _undefined("sharpe", n_rows, n_trials,
                          f"{n_rows} rows cannot make {MIN_BLOCKS} blocks of >= {MIN_ROWS_PER_BLOCK} rows")
    block = contiguous_blocks(n_rows, blocks)
    centred = values - values.mean(axis=0)
    counts = np.bincount(block, minlength=blocks).astype("float64")
    sums = np.zeros((blocks, n_trials))
    squares = np.zeros((blocks, n_trials))
    np.add.at(sums, block, centred)
    np.add.at(squares, block, centred ** 2)
    shift = values.mean(axis=0)

    def sharpe_of(n: np.ndarray, total: np.ndarray, square: np.ndarray) -> np.ndarray:
        variance = (square - total ** 2 / n) / (n - 1)
        # A variance at the rounding level of the squares is zero: no Sharpe ratio exists there.
        zero = variance <= 1e-12 * np.maximum(square / n, np.finfo(float).tiny)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(zero, np.nan, (total / n + shift) / np.sqrt(np.where(zero, 1.0, variance)))

    def scores(in_sample: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # The OOS sums are the whole matrix's minus the IS ones: one product per statistic, not two.
        n, total, square = (in_sample @ counts)[:, None], in_sample @ sums, in_sample @ squares
        return (sharpe_of(n, total, square),
                sharpe_of(n_rows - n, sums.sum(axis=0) - total, squares.sum(axis=0) - square))

    pbo, median_logit, loss, n_combinations = _cscv(blocks, n_trials, scores, loss_threshold=0.0)
    notes = () if blocks == n_blocks else (f"{n_rows} rows allow {blocks} blocks of >= {MIN_ROWS_PER_BLOCK}, "
                                           f"not the {n_blocks} asked for",)
    return OverfittingProbability(pbo=pbo, metric="sharpe", n_rows=n_rows, n_trials=n_trials, n_blocks=blocks,
                                  n_combinations=n_combinations, median_logit=median_logit, prob_oos_loss=loss,
                                  loss_threshold=0.0, notes=notes)


def pbo_from_block_scores(block_scores: np.ndarray, *, metric: str = "block_mean",
                          loss_threshold: float = 0.0) -> OverfittingProbability:
    """PBO where a set of blocks scores the mean of its blocks' scores (S x N matrix, S even, no NaN).

    The additive case both the AUC entry point and any per-period metric (mean IC, hit rate) reduce to.
    """
    scores_matrix = np.asarray(block_scores, dtype="float64")
    if scores_matrix.ndim != 2:
        raise ValueError(f"block_scores must be a 2-D matrix (blocks x trials), got {scores_matrix.ndim}-D")
    if not np.isfinite(scores_matrix).all():
        raise ValueError("block_scores hold NaN or infinite values; drop those blocks first")
    blocks, n_trials = scores_matrix.shape
    if n_trials < 2:
        return _undefined(metric, 0, n_trials, f"PBO compares trials; got {n_trials}, need >= 2")
    if blocks < MIN_BLOCKS or blocks % 2:
        return _undefined(metric, 0, n_trials, f"CSCV needs an even number >= {MIN_BLOCKS} of blocks, got {blocks}")
    half = blocks // 2

    def scores(in_sample: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (in_sample @ scores_matrix) / half, ((1.0 - in_sample) @ scores_matrix) / half

    pbo, median_logit, loss, n_combinations = _cscv(blocks, n_trials, scores, loss_threshold)
    return OverfittingProbability(pbo=pbo, metric=metric, n_rows=0, n_trials=n_trials, n_blocks=blocks,
                                  n_combinations=n_combinations, median_logit=median_logit, prob_oos_loss=loss,
                                  loss_threshold=loss_threshold)


def block_aucs(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray | None:
    """Exact AUC of every column of `predictions` (rows x trials) on 0/1 `labels`; None with one class.

    The Mann-Whitney count from average ranks: ties score one half, as in sklearn's roc_auc_score.
    """
    positives = labels == 1
    n_pos = int(positives.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(predictions, axis=0, method="average")
    return (ranks[positives].sum(axis=0) - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def time_blocks(times: np.ndarray, n_blocks: int) -> np.ndarray:
    """Block index per row from its decision time: contiguous runs of distinct times, one time in one block.

    Rows sharing a time (one day's tickers) share a block, so no period is split between IS and OOS.
    """
    unique, position = np.unique(np.asarray(times), return_inverse=True)
    blocks = min(n_blocks, len(unique))
    return contiguous_blocks(len(unique), blocks)[position] if blocks else np.zeros(len(position), dtype=int)


def pbo_from_predictions(labels: np.ndarray, predictions_by_trial: np.ndarray, block_of_row: np.ndarray,
                         n_blocks: int = DEFAULT_BLOCKS) -> OverfittingProbability:
    """PBO of picking the best-AUC classifier trial; per block, each trial's exact AUC on the block's rows.

    `predictions_by_trial` is rows x trials (each trial's score of the same rows); `block_of_row` gives each
    row's block in 0..n_blocks-1, contiguous in time (see `time_blocks`). A block holding one label class
    (or no rows) is dropped for every trial; if an odd number is left, the last usable block is merged into
    the usable block before it (the AUC recomputed on their rows together) so the halves stay symmetric.
    """
    y = np.asarray(labels).ravel()
    predictions = np.asarray(predictions_by_trial, dtype="float64")
    block = np.asarray(block_of_row).ravel()
    if predictions.ndim != 2 or predictions.shape[0] != len(y) or len(block) != len(y):
        raise ValueError("labels, block_of_row and the rows of predictions_by_trial must have the same length "
                         f"(got {len(y)}, {len(block)} and a matrix of shape {predictions.shape})")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0/1")
    if not np.isfinite(predictions).all():
        raise ValueError("predictions_by_trial holds NaN or infinite values; drop those rows first")
    if len(block) and (block.min() < 0 or block.max() >= n_blocks):
        raise ValueError(f"block_of_row must lie in 0..{n_blocks - 1}")
    n_rows, n_trials = predictions.shape
    if n_trials < 2:
        return _undefined("auc", n_rows, n_trials, f"PBO compares trials; got {n_trials}, need >= 2")
    rows_of = [np.flatnonzero(block == b) for b in range(n_blocks)]
    usable = [b for b in range(n_blocks) if len(np.unique(y[rows_of[b]])) == 2]
    dropped = tuple(b for b in range(n_blocks) if b not in usable)
    notes: list[str] = []
    if dropped:
        notes.append(f"blocks {list(dropped)} hold one label class (or no rows) and were dropped for every trial")
    groups = [rows_of[b] for b in usable]
    if len(groups) % 2 and len(groups) >= MIN_BLOCKS + 1:
        notes.append(f"{len(groups)} usable blocks is odd: block {usable[-1]} was merged into block {usable[-2]}")
        groups = [*groups[:-2], np.concatenate(groups[-2:])]
    if len(groups) < MIN_BLOCKS:
        return _undefined("auc", n_rows, n_trials, f"only {len(groups)} blocks hold both label classes; CSCV "
                          f"needs >= {MIN_BLOCKS}", dropped_blocks=dropped, notes=tuple(notes))
    aucs = np.vstack([block_aucs(y[rows], predictions[rows]) for rows in groups])
    result = pbo_from_block_scores(aucs, metric="auc", loss_threshold=0.5)
    return OverfittingProbability(**{**asdict(result), "n_rows": n_rows, "dropped_blocks": dropped,
                                     "notes": tuple(notes)})
