"""steps.common.selection_statistics: PSR, DSR and PBO against hand computations, published figures and
independent brute-force loops.

Independence: the expected numbers below come from hand arithmetic (in the comments), from figures printed in
the papers, from `math.erf` rather than scipy's normal, and from loops that pool rows, call np.std and
sklearn's roc_auc_score per combination instead of the module's sums-and-matrix-product route.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from scipy.stats import rankdata

from steps.common import selection_statistics as stats
from steps.common.auc import auc_or_none
from steps.common.selection_statistics import (
    block_aucs,
    choose_n_blocks,
    contiguous_blocks,
    deflated_sharpe_ratio,
    deflated_sharpe_ratio_from_moments,
    expected_maximum_sharpe,
    pbo_from_block_scores,
    pbo_from_predictions,
    probabilistic_sharpe_ratio,
    probabilistic_sharpe_ratio_from_moments,
    probability_of_backtest_overfitting,
    return_moments,
    sharpe_variance,
    time_blocks,
)


def phi(z: float) -> float:
    """Standard normal CDF through math.erf, not scipy (which the module uses)."""
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


# ---------------------------------------------------------------------------------------------------------
# PSR
# ---------------------------------------------------------------------------------------------------------

def test_psr_hand_computed_normal_case() -> None:
    # SR 0.1 per period over T = 101, normal (g3 0, g4 3): z = 0.1 * sqrt(100) / sqrt(1 + (3-1)/4 * 0.01)
    # = 1 / sqrt(1.005) = 0.997509...
    assert probabilistic_sharpe_ratio_from_moments(0.1, 101, 0.0, 3.0) == pytest.approx(phi(1 / math.sqrt(1.005)),
                                                                                      abs=1e-12)
    # Against SR* = 0.05: z = 0.05 * 10 / sqrt(1.005).
    assert probabilistic_sharpe_ratio_from_moments(0.1, 101, 0.0, 3.0, 0.05) == pytest.approx(
        phi(0.5 / math.sqrt(1.005)), abs=1e-12)


@pytest.mark.parametrize(("n", "skew", "kurt", "printed"), [(24, 0.0, 3.0, 0.982), (24, -2.448, 10.164, 0.913),
                                                            (36, -2.448, 10.164, 0.953)])
def test_psr_reproduces_the_published_hedge_fund_example(n: int, skew: float, kurt: float, printed: float) -> None:
    """Bailey & López de Prado (2012), "The Sharpe ratio efficient frontier": monthly SR 0.458 against SR* = 0.

    The figures as quoted in public implementations' validation tables (the paper's own text was not
    reachable from here); each was re-derived by hand: e.g. 24 months, normal: z = 0.458 * sqrt(23) /
    sqrt(1 + 0.5 * 0.458^2) = 2.1965 / 1.0511 = 2.090 -> 0.9817; with g3 -2.448, g4 10.164 the radicand is
    1 + 1.1212 + 0.4806 = 2.6018 -> z = 1.362 -> 0.9134; over 36 months z = 2.7095 / 1.613 = 1.680 -> 0.9535.
    """
    assert probabilistic_sharpe_ratio_from_moments(0.458, n, skew, kurt) == pytest.approx(printed, abs=6e-4)


def test_psr_from_returns_uses_sample_sharpe_and_moment_skew_kurtosis() -> None:
    rng = np.random.default_rng(3)
    returns = rng.standard_t(5, size=300) * 0.01 + 0.001
    mean = returns.mean()
    sd = returns.std(ddof=1)
    centred = returns - mean
    m2 = (centred ** 2).mean()
    g3 = (centred ** 3).mean() / m2 ** 1.5
    g4 = (centred ** 4).mean() / m2 ** 2
    sr = mean / sd
    z = (sr - 0.02) * math.sqrt(299) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr ** 2)
    assert probabilistic_sharpe_ratio(returns, benchmark_sharpe=0.02) == pytest.approx(phi(z), abs=1e-12)
    moments = return_moments(returns)
    assert (moments.sharpe, moments.skewness, moments.kurtosis) == pytest.approx((sr, g3, g4), rel=1e-12)


def test_psr_is_none_where_undefined_never_zero() -> None:
    assert probabilistic_sharpe_ratio(np.array([0.01, 0.02])) is None            # fewer than 3 observations
    assert probabilistic_sharpe_ratio(np.full(50, 0.1)) is None                  # zero variance (0.1 is inexact)
    assert probabilistic_sharpe_ratio(np.zeros(50)) is None
    assert probabilistic_sharpe_ratio_from_moments(0.2, 2, 0.0, 3.0) is None
    # Radicand 1 - 5 * 1 + (3 - 1) / 4 * 1 = -3.5 < 0.
    assert probabilistic_sharpe_ratio_from_moments(1.0, 100, 5.0, 3.0) is None
    assert probabilistic_sharpe_ratio_from_moments(float("nan"), 100, 0.0, 3.0) is None
    with pytest.raises(ValueError, match="NaN"):
        probabilistic_sharpe_ratio(np.array([0.01, np.nan, 0.02, 0.03]))


def test_psr_rises_with_sharpe_and_track_length_and_falls_with_benchmark() -> None:
    by_sharpe = [probabilistic_sharpe_ratio_from_moments(sr, 250, -0.5, 5.0) for sr in (-0.05, 0.0, 0.05, 0.1)]
    assert by_sharpe == sorted(by_sharpe) and len(set(by_sharpe)) == 4
    by_length = [probabilistic_sharpe_ratio_from_moments(0.05, n, 0.0, 3.0) for n in (50, 200, 1000)]
    assert by_length == sorted(by_length) and len(set(by_length)) == 3
    by_benchmark = [probabilistic_sharpe_ratio_from_moments(0.05, 250, 0.0, 3.0, b) for b in (0.0, 0.03, 0.06)]
    assert by_benchmark == sorted(by_benchmark, reverse=True)
    assert probabilistic_sharpe_ratio_from_moments(0.05, 250, 0.0, 3.0, 0.05) == 0.5


# ---------------------------------------------------------------------------------------------------------
# Expected maximum and DSR
# ---------------------------------------------------------------------------------------------------------

def test_dsr_reproduces_the_published_numerical_example() -> None:
    """Bailey & López de Prado (2014), "The Deflated Sharpe Ratio", the numerical example.

    N = 100 trials whose annualised Sharpe ratios have variance 1/2, 250 days a year (so V = 0.5 / 250 per
    day); the chosen strategy has annualised SR 2.5 over T = 1250 days, skewness -3, kurtosis 10. Printed:
    SR0 = 0.1132 per day and DSR = 0.9004; the same strategy after N = 46 trials gives 0.9505, and with
    normal returns N = 88 trials give 0.9505. Figures as quoted, with those inputs, by several public
    implementations' tests (the paper's own text was not reachable from here); re-derived by hand with
    scipy before use: SR0 0.113172, DSR 0.900397 (N 46: 0.950502; N 88, normal: 0.950491).
    """
    daily = 2.5 / math.sqrt(250)
    result = deflated_sharpe_ratio_from_moments(daily, 1250, -3.0, 10.0, n_trials=100, sharpe_variance=0.5 / 250)
    assert result.sr0 == pytest.approx(0.1132, abs=5e-5)
    assert result.dsr == pytest.approx(0.9004, abs=5e-5)
    assert deflated_sharpe_ratio_from_moments(daily, 1250, -3.0, 10.0, n_trials=46,
                                              sharpe_variance=0.5 / 250).dsr == pytest.approx(0.9505, abs=5e-5)
    assert deflated_sharpe_ratio_from_moments(daily, 1250, 0.0, 3.0, n_trials=88,
                                              sharpe_variance=0.5 / 250).dsr == pytest.approx(0.9505, abs=5e-5)


def test_dsr_matches_the_formula_term_by_term() -> None:
    from statistics import NormalDist
    gamma = 0.5772156649015329
    v, n = 0.003, 40
    z_inv = NormalDist().inv_cdf
    sr0 = math.sqrt(v) * ((1 - gamma) * z_inv(1 - 1 / n) + gamma * z_inv(1 - 1 / (n * math.e)))
    assert expected_maximum_sharpe(v, n) == pytest.approx(sr0, rel=1e-10)
    sr, t, g3, g4 = 0.12, 500, -0.4, 6.0
    dsr = phi((sr - sr0) * math.sqrt(t - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr ** 2))
    result = deflated_sharpe_ratio_from_moments(sr, t, g3, g4, n_trials=n, sharpe_variance=v)
    assert result.dsr == pytest.approx(dsr, abs=1e-10)
    assert result.psr == pytest.approx(probabilistic_sharpe_ratio_from_moments(sr, t, g3, g4), abs=1e-12)


def test_expected_maximum_is_close_to_a_simulated_maximum() -> None:
    # The expected maximum of 100 standard normals is 2.5076 (order statistics tables); the approximation
    # gives 2.531, within 1%. Simulated here rather than taken from a table.
    draws = np.random.default_rng(0).standard_normal((20000, 100)).max(axis=1).mean()
    assert expected_maximum_sharpe(1.0, 100) == pytest.approx(draws, rel=0.02)
    assert expected_maximum_sharpe(4.0, 100) == pytest.approx(2 * expected_maximum_sharpe(1.0, 100), rel=1e-12)


def test_one_trial_deflates_nothing_and_more_trials_deflate_more() -> None:
    assert expected_maximum_sharpe(0.01, 1) == 0.0
    one = deflated_sharpe_ratio_from_moments(0.08, 500, 0.0, 3.0, n_trials=1, sharpe_variance=0.01)
    assert one.sr0 == 0.0 and one.dsr == one.psr
    by_trials = [deflated_sharpe_ratio_from_moments(0.08, 500, 0.0, 3.0, n_trials=n, sharpe_variance=0.001).dsr
                 for n in (2, 10, 100, 1000)]
    assert by_trials == sorted(by_trials, reverse=True) and len(set(by_trials)) == 4
    by_variance = [deflated_sharpe_ratio_from_moments(0.08, 500, 0.0, 3.0, n_trials=50, sharpe_variance=v).dsr
                   for v in (0.0, 0.0005, 0.002)]
    assert by_variance == sorted(by_variance, reverse=True) and by_variance[0] == one.psr
    with pytest.raises(ValueError):
        expected_maximum_sharpe(0.01, 0)
    with pytest.raises(ValueError):
        expected_maximum_sharpe(-0.01, 10)


def test_dsr_from_returns_records_its_inputs_as_json() -> None:
    rng = np.random.default_rng(5)
    trials = rng.normal(0.0005, 0.01, size=(750, 20))
    sharpes = trials.mean(axis=0) / trials.std(axis=0, ddof=1)
    best = trials[:, int(np.argmax(sharpes))]
    variance = sharpe_variance(sharpes)
    assert variance == pytest.approx(np.var(sharpes, ddof=1))
    result = deflated_sharpe_ratio(best, n_trials=20, sharpe_variance=variance)
    assert result.sharpe == pytest.approx(sharpes.max())
    assert result.n_observations == 750 and result.n_trials == 20 and result.sharpe_variance == variance
    assert result.dsr < result.psr
    assert json.loads(json.dumps(result.to_dict()))["sr0"] == pytest.approx(result.sr0)
    undefined = deflated_sharpe_ratio(np.zeros(30), n_trials=20, sharpe_variance=variance)
    assert undefined.psr is None and undefined.dsr is None and undefined.sr0 == result.sr0
    assert sharpe_variance(np.array([0.1])) is None


# ---------------------------------------------------------------------------------------------------------
# PBO: brute force, written independently of the module
# ---------------------------------------------------------------------------------------------------------

def brute_force_pbo(scores_of_blocks, n_blocks: int, n_trials: int, loss_threshold: float) -> tuple:
    """CSCV by the book: for each IS half, score every trial on IS and OOS, pick, rank, logit."""
    logits, losses = [], []
    for in_sample in itertools.combinations(range(n_blocks), n_blocks // 2):
        out_sample = [b for b in range(n_blocks) if b not in in_sample]
        is_scores = np.array([scores_of_blocks(list(in_sample), j) for j in range(n_trials)])
        oos_scores = np.array([scores_of_blocks(out_sample, j) for j in range(n_trials)])
        chosen = int(np.argmax(is_scores))                       # first index on ties
        rank = rankdata(oos_scores, method="average")[chosen]    # 1 = worst
        omega = rank / (n_trials + 1)
        logits.append(math.log(omega / (1 - omega)))
        losses.append(oos_scores[chosen] < loss_threshold)
    logits = np.array(logits)
    return float(np.mean(logits <= 0)), float(np.median(logits)), float(np.mean(losses)), len(logits)


def brute_force_sharpe_pbo(matrix: np.ndarray, n_blocks: int) -> tuple:
    blocks = np.array_split(np.arange(len(matrix)), n_blocks)

    def pooled_sharpe(chosen_blocks: list[int], trial: int) -> float:
        rows = matrix[np.concatenate([blocks[b] for b in chosen_blocks]), trial]
        return rows.mean() / rows.std(ddof=1)

    return brute_force_pbo(pooled_sharpe, n_blocks, matrix.shape[1], 0.0)


def test_pbo_hand_computed_two_trials_four_blocks() -> None:
    """Block scores (AUC-like), trial A = [.9 .8 .2 .3], B = [.5 .6 .5 .4]; a half scores its blocks' mean.

    IS     IS A / B    pick  OOS    OOS A / B    pick's OOS rank  omega  lambda
    {0,1}  .85 / .55   A     {2,3}  .25 / .45    1 (worst)        1/3    ln(1/2) <= 0  overfit
    {0,2}  .55 / .50   A     {1,3}  .55 / .50    2                2/3    ln 2
    {0,3}  .60 / .45   A     {1,2}  .50 / .55    1                1/3    ln(1/2)       overfit
    {1,2}  .50 / .55   B     {0,3}  .60 / .45    1                1/3    ln(1/2)       overfit
    {1,3}  .55 / .50   A     {0,2}  .55 / .50    2                2/3    ln 2
    {2,3}  .25 / .45   B     {0,1}  .85 / .55    1                1/3    ln(1/2)       overfit
    PBO = 4/6; median lambda = ln(1/2); the pick's OOS score is below 0.5 in {0,1} (.25) and {1,2} (.45):
    P(OOS loss) = 2/6.
    """
    scores = np.array([[0.9, 0.5], [0.8, 0.6], [0.2, 0.5], [0.3, 0.4]])
    result = pbo_from_block_scores(scores, metric="auc", loss_threshold=0.5)
    assert result.pbo == pytest.approx(4 / 6)
    assert result.median_logit == pytest.approx(math.log(0.5))
    assert result.prob_oos_loss == pytest.approx(2 / 6)
    assert (result.n_blocks, result.n_combinations, result.n_trials) == (4, 6, 2)


def test_pbo_sharpe_hand_computed_with_ties() -> None:
    """Trial A's rows per block: [2 4] [2 4] [-4 -2] [-4 -2]; trial B's: [1 -1] in every block (Sharpe 0).

    IS {0,1}: A > 0 = B, pick A; OOS {2,3}: A < 0 = B, A ranks 1 -> lambda ln(1/2), and an OOS loss.
    IS {0,2}, {0,3}, {1,2}, {1,3}: A's rows sum to 0, Sharpe 0 = B's: the tie goes to A (lowest index);
    OOS likewise 0 = 0: A's rank is the mean of 1 and 2 = 1.5, omega 1/2, lambda 0 -> counted (<= 0).
    IS {2,3}: A < 0, pick B; OOS {0,1}: A > 0 = B, B ranks 1 -> ln(1/2); B's OOS Sharpe 0 is no loss.
    PBO = 6/6, median lambda 0, P(OOS loss) = 1/6.
    """
    a = np.array([2, 4, 2, 4, -4, -2, -4, -2], dtype=float)
    b = np.array([1, -1] * 4, dtype=float)
    result = probability_of_backtest_overfitting(np.column_stack([a, b]), n_blocks=4)
    assert result.pbo == 1.0
    assert result.median_logit == 0.0
    assert result.prob_oos_loss == pytest.approx(1 / 6)
    # A good in every block is picked every time and stays on top: PBO 0, every lambda ln 2.
    better = probability_of_backtest_overfitting(np.column_stack([np.tile([2.0, 4.0], 4), b]), n_blocks=4)
    assert better.pbo == 0.0 and better.median_logit == pytest.approx(math.log(2))


@pytest.mark.parametrize(("seed", "n_rows", "n_trials", "n_blocks"),
                         [(0, 40, 3, 4), (1, 61, 5, 6), (2, 97, 7, 8), (3, 200, 4, 10), (4, 33, 2, 8)])
def test_vectorised_sharpe_pbo_matches_a_brute_force_loop(seed: int, n_rows: int, n_trials: int,
                                                          n_blocks: int) -> None:
    rng = np.random.default_rng(seed)
    matrix = rng.normal(0.0, 0.01, size=(n_rows, n_trials)) + rng.normal(0.0, 0.002, size=n_trials)
    result = probability_of_backtest_overfitting(matrix, n_blocks=n_blocks)
    pbo, median_logit, loss, combinations = brute_force_sharpe_pbo(matrix, n_blocks)
    assert result.n_blocks == n_blocks and result.n_combinations == combinations == math.comb(n_blocks,
                                                                                              n_blocks // 2)
    assert result.pbo == pytest.approx(pbo, abs=1e-12)
    assert result.median_logit == pytest.approx(median_logit, abs=1e-12)
    assert result.prob_oos_loss == pytest.approx(loss, abs=1e-12)


def test_contiguous_blocks_are_the_array_split_blocks() -> None:
    for n_rows, n_blocks in ((33, 8), (2000, 16), (16, 16), (17, 4)):
        expected = np.concatenate([np.full(len(part), i) for i, part in
                                   enumerate(np.array_split(np.arange(n_rows), n_blocks))])
        assert np.array_equal(contiguous_blocks(n_rows, n_blocks), expected)


def test_chunking_does_not_change_the_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    matrix = np.random.default_rng(9).normal(size=(300, 6))
    whole = probability_of_backtest_overfitting(matrix, n_blocks=10)
    monkeypatch.setattr(stats, "CHUNK_CELLS", 7 * 6)   # 7 combinations a chunk, 252 / 7 = 36 chunks
    assert probability_of_backtest_overfitting(matrix, n_blocks=10) == whole


def test_null_trials_give_pbo_near_one_half_over_many_seeds() -> None:
    # Independent noise: the IS winner's OOS rank is uniform, so lambda <= 0 with probability 1/2 (N even).
    # One seed's PBO spreads widely (sd ~0.24: the 70 combinations share their rows), the mean of 300 does not.
    values = [probability_of_backtest_overfitting(np.random.default_rng(seed).normal(size=(160, 10)),
                                                  n_blocks=8).pbo for seed in range(300)]
    assert abs(np.mean(values) - 0.5) < 0.06


def test_one_truly_better_trial_gives_pbo_near_zero_and_pbo_falls_with_its_edge() -> None:
    def mean_pbo(edge: float) -> float:
        out = []
        for seed in range(60):
            matrix = np.random.default_rng(seed).normal(size=(160, 10))
            matrix[:, 3] += edge
            out.append(probability_of_backtest_overfitting(matrix, n_blocks=8).pbo)
        return float(np.mean(out))

    by_edge = [mean_pbo(edge) for edge in (0.0, 0.15, 0.3, 0.6)]
    assert by_edge == sorted(by_edge, reverse=True) and len(set(by_edge)) == 4
    assert by_edge[-1] < 0.02
    matrix = np.random.default_rng(1).normal(size=(400, 10))
    matrix[:, 0] += 1.0
    assert probability_of_backtest_overfitting(matrix).pbo == 0.0


def test_block_count_follows_the_rows() -> None:
    assert choose_n_blocks(2000) == 16
    assert choose_n_blocks(32) == 16
    assert choose_n_blocks(31) == 14                # 15 blocks of >= 2 rows, made even
    assert choose_n_blocks(9) == 4
    assert choose_n_blocks(7) is None
    with pytest.raises(ValueError):
        choose_n_blocks(100, 7)
    shrunk = probability_of_backtest_overfitting(np.random.default_rng(0).normal(size=(21, 3)))
    assert shrunk.n_blocks == 10 and shrunk.n_combinations == 252 and "10 blocks" in shrunk.notes[0]


def test_pbo_is_none_with_a_reason_where_undefined() -> None:
    few_rows = probability_of_backtest_overfitting(np.random.default_rng(0).normal(size=(7, 5)))
    assert few_rows.pbo is None and "7 rows" in few_rows.reason and few_rows.n_combinations == 0
    one_trial = probability_of_backtest_overfitting(np.random.default_rng(0).normal(size=(100, 1)))
    assert one_trial.pbo is None and "need >= 2" in one_trial.reason
    assert pbo_from_block_scores(np.ones((5, 3))).pbo is None
    assert json.loads(json.dumps(few_rows.to_dict()))["pbo"] is None
    with pytest.raises(ValueError, match="NaN"):
        probability_of_backtest_overfitting(np.array([[0.1, np.nan]] * 40))


# ---------------------------------------------------------------------------------------------------------
# PBO over classifier trials (per-block AUC)
# ---------------------------------------------------------------------------------------------------------

def test_block_aucs_equal_sklearn_with_ties() -> None:
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, 300)
    predictions = np.round(rng.random((300, 4)) + 0.2 * labels[:, None], 1)   # rounding makes ties
    expected = [auc_or_none(labels, predictions[:, j]) for j in range(4)]
    assert block_aucs(labels, predictions) == pytest.approx(expected, abs=1e-12)
    assert block_aucs(np.ones(10, dtype=int), predictions[:10]) is None


def test_auc_pbo_matches_a_brute_force_loop_with_sklearn() -> None:
    rng = np.random.default_rng(4)
    n_rows, n_trials, n_blocks = 600, 5, 8
    labels = rng.integers(0, 2, n_rows)
    predictions = rng.random((n_rows, n_trials)) + 0.1 * labels[:, None] * rng.random(n_trials)
    times = np.repeat(np.arange(120), 5)                # 5 tickers per decision time
    block = time_blocks(times, n_blocks)
    assert all(len(set(block[times == t])) == 1 for t in range(120))

    # sklearn's AUC per (block, trial), once each (sklearn's input checks make 2,800 calls take ~20 s).
    sklearn_auc = {(b, j): auc_or_none(labels[block == b], predictions[block == b, j])
                   for b in range(n_blocks) for j in range(n_trials)}

    def mean_block_auc(chosen_blocks: list[int], trial: int) -> float:
        return float(np.mean([sklearn_auc[b, trial] for b in chosen_blocks]))

    result = pbo_from_predictions(labels, predictions, block, n_blocks)
    pbo, median_logit, loss, combinations = brute_force_pbo(mean_block_auc, n_blocks, n_trials, 0.5)
    assert (result.metric, result.n_rows, result.n_blocks, result.n_combinations) == ("auc", 600, 8, combinations)
    assert result.pbo == pytest.approx(pbo, abs=1e-12)
    assert result.median_logit == pytest.approx(median_logit, abs=1e-12)
    assert result.prob_oos_loss == pytest.approx(loss, abs=1e-12)
    assert result.dropped_blocks == () and result.notes == ()


def test_auc_pbo_drops_one_class_blocks_for_everyone_and_says_so() -> None:
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 2, 800)
    predictions = rng.random((800, 4))
    block = contiguous_blocks(800, 10)
    labels[block == 3] = 1
    labels[block == 7] = 0
    result = pbo_from_predictions(labels, predictions, block, 10)
    assert result.dropped_blocks == (3, 7) and "[3, 7]" in result.notes[0]
    assert result.n_blocks == 8 and result.n_combinations == 70
    kept = np.isin(block, [3, 7], invert=True)
    renumbered = np.unique(block[kept], return_inverse=True)[1]
    reference = pbo_from_predictions(labels[kept], predictions[kept], renumbered, 8)
    assert (result.pbo, result.median_logit, result.prob_oos_loss) == (reference.pbo, reference.median_logit,
                                                                     reference.prob_oos_loss)


def test_auc_pbo_merges_an_odd_last_block_and_refuses_too_few() -> None:
    rng = np.random.default_rng(8)
    labels = rng.integers(0, 2, 700)
    predictions = rng.random((700, 3))
    block = contiguous_blocks(700, 7)
    result = pbo_from_predictions(labels, predictions, block, 7)
    assert result.n_blocks == 6 and "block 6 was merged into block 5" in result.notes[0]
    merged = np.minimum(block, 5)
    assert result.pbo == pbo_from_predictions(labels, predictions, merged, 6).pbo
    labels[block >= 3] = 1
    too_few = pbo_from_predictions(labels, predictions, block, 7)
    assert too_few.pbo is None and "only 3 blocks" in too_few.reason and too_few.dropped_blocks == (3, 4, 5, 6)


def test_auc_pbo_null_near_one_half_and_a_real_signal_near_zero() -> None:
    null, signal = [], []
    for seed in range(200):
        rng = np.random.default_rng(seed)
        labels = rng.integers(0, 2, 400)
        predictions = rng.random((400, 8))
        block = contiguous_blocks(400, 8)
        null.append(pbo_from_predictions(labels, predictions, block, 8).pbo)
        if seed < 30:
            predictions[:, 5] += 0.5 * labels
            signal.append(pbo_from_predictions(labels, predictions, block, 8).pbo)
    assert abs(np.mean(null) - 0.5) < 0.06
    assert np.mean(signal) < 0.02
