"""The compiled window sweeps (steps/features/kernels.py) where sliding sums are weakest.

The indicator definitions are checked end to end against slow loops in test_features_indicators.py; here
the kernel itself is pushed where running sums go wrong: long drifting series (rounding that accumulates),
windows that turn flat after a move (a variance that should be exactly 0 but cancels to ~1e-8), the
recompute schedule (bit-identical values whatever the truncation or the thread split), and one-bar tickers.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from steps.features.kernels import OUTPUTS, RECOMPUTE_ROWS, ticker_groups, window_features


def _market(lengths: list[int], seed: int = 7, level: float = 1000.0) -> dict[str, np.ndarray]:
    """Tickers of the given lengths, a drifting random walk at `level` with tiny moves (the hard case
    for sums of squares: large mean, small variance)."""
    rng = np.random.default_rng(seed)
    n = sum(lengths)
    close = level * np.exp(np.cumsum(rng.normal(0.0002, 0.0004, n)))
    high = close * (1 + rng.uniform(0, 0.0005, n))
    low = close * (1 - rng.uniform(0, 0.0005, n))
    volume = rng.lognormal(8, 1.2, n).round()
    stops = np.cumsum(lengths)
    return {"close": close, "high": high, "low": low, "volume": volume,
            "starts": stops - np.asarray(lengths), "stops": stops}


def _run(m: dict[str, np.ndarray], w: int, at: np.ndarray, families=OUTPUTS, threads: int = 1):
    return window_features(m["close"], np.log(m["close"]), m["high"], m["low"], m["volume"], m["starts"],
                           m["stops"], at, w, list(families), threads=threads)


def _reference(m: dict[str, np.ndarray], w: int, t: int, a: int) -> dict[str, float]:
    """Two-pass (mean first, then deviations) statistics of the window ending at row t of the ticker
    starting at row a, in exact-as-possible float64 (math.fsum)."""
    c, v = m["close"], m["volume"]
    out: dict[str, float] = {}
    if t - a >= w - 1:
        closes, volumes = c[t - w + 1:t + 1], v[t - w + 1:t + 1]
        centre = math.fsum(closes) / w
        sd = math.sqrt(math.fsum((x - centre) ** 2 for x in closes) / w)
        out["bb_pctb"] = (c[t] - (centre - 2 * sd)) / (4 * sd) if sd > 1e-12 * centre else 0.5
        mean = math.fsum(volumes) / w
        std = math.sqrt(math.fsum((x - mean) ** 2 for x in volumes) / w)
        out["volume_z"] = (v[t] - mean) / std if std > 1e-12 * mean else 0.0
    if t - a >= w:
        returns = np.diff(np.log(c[t - w:t + 1]))
        mean_r = math.fsum(returns) / w
        out["ret_std"] = math.sqrt(math.fsum((r - mean_r) ** 2 for r in returns) / w)
        out["vol"] = math.sqrt(math.fsum(r * r for r in returns))
        changes = np.diff(c[t - w:t + 1])
        up, down = math.fsum(x for x in changes if x > 0), math.fsum(-x for x in changes if x < 0)
        out["rsi"] = 100 * up / (up + down) if up + down > 0 else 50.0
    return out


@pytest.mark.parametrize("w", [3, 20, 60, 130])
def test_long_drifting_series_stays_accurate(w: int) -> None:
    """40,000 bars at ~1000 with 0.04% moves: sliding sums over thousands of slides, with recomputes."""
    m = _market([40_000])
    at = np.arange(0, 40_000, 7)
    got = _run(m, w, at, ["bb_pctb", "volume_z", "ret_std", "vol", "rsi"])
    worst = {name: 0.0 for name in got}
    for k, t in enumerate(at):
        for name, expected in _reference(m, w, int(t), 0).items():
            worst[name] = max(worst[name], abs(got[name][k] - expected) / max(abs(expected), 1e-12))
    assert max(worst.values()) < 1e-9, worst


def test_windows_that_turn_flat_give_the_flat_values_exactly() -> None:
    """A price that moves, then freezes for longer than the recompute period: std must be exactly 0 (a
    rounding residue of ~1e-8 x mean would pass the 1e-12 x mean test and give %b and z-scores of noise).
    The freeze starts just after a recompute, so the sums stay shifted by a pre-freeze value for a while;
    seed and freeze point are ones where the shifted sums do leave a residue (checked by disabling the
    kernel's run-length counters: this test then fails)."""
    m = _market([600], seed=2)
    m["volume"] += 0.37  # fractional volumes (split-adjusted data): integer sums would be exact anyway
    w = 20
    period = max(4 * w, RECOMPUTE_ROWS)
    freeze = 3 * period + 10
    m["close"][freeze:] = m["close"][freeze]
    m["high"][freeze:] = m["close"][freeze]
    m["low"][freeze:] = m["close"][freeze]
    m["volume"][freeze:] = 5_000.37
    at = np.arange(600)
    got = _run(m, w, at, ["bb_pctb", "volume_z", "rsi", "ret_std", "vol", "range"])
    flat = at >= freeze + w  # w frozen closes and w zero changes
    assert np.all(got["bb_pctb"][flat] == 0.5)
    assert np.all(got["volume_z"][flat] == 0.0)
    assert np.all(got["rsi"][flat] == 50.0)
    assert np.all(got["ret_std"][flat] == 0.0)
    assert np.all(got["range"][flat] == 0.0)
    assert np.all(got["vol"][flat] == 0.0)
    assert freeze + w < 4 * period < 600  # flat windows both before and after the next recompute
    # and just before the window is all flat the values are still ordinary ones
    assert got["bb_pctb"][freeze + w - 3] != 0.5



@pytest.mark.parametrize("direction", [-1.0, 1.0])
@pytest.mark.parametrize("seed", [1, 5])
def test_one_sided_windows_give_rsi_of_exactly_0_or_100(direction: float, seed: int) -> None:
    """A run of strictly falling (rising) closes longer than the window: no gain (loss) is left in it, so
    RSI is exactly 0 (100). Sums of price changes at one price level are exact in float64 (the changes are
    multiples of one ulp), so the run is preceded by a crash to a 1e5 times lower level and a few moves
    there: the sliding sum then holds changes of both scales, and taking them off again leaves a residue
    of ~1e-17 instead of 0. The counts of up and down moves in the window make the answer exact anyway
    (with seed 1 the test fails if the leaving move is not taken off the count), and the ratio is taken
    before the factor 100, which keeps RSI <= 100 (with seed 5, 100 * up / (up + down) gave 100 + 1 ulp)."""
    m = _market([700], seed=seed)
    w = 14
    period = max(4 * w, RECOMPUTE_ROWS)
    start = 4 * period + 3  # just after a recompute: the sum then slides over both scales
    rng = np.random.default_rng(11)
    low_level = m["close"][start - 6] * 1e-5
    m["close"][start - 5:start] = low_level * (1 + rng.uniform(-0.3, 0.3, 5))  # moves both ways down there
    steps = rng.uniform(0.01, 0.7, 700 - start) * low_level * 1e-3  # never 0: strictly one-sided
    m["close"][start:] = m["close"][start - 1] + direction * np.cumsum(steps)
    assert m["close"].min() > 0
    at = np.arange(700)
    got = _run(m, w, at, ["rsi"])["rsi"]
    one_sided = at >= start + w  # the window's w changes are all after the run began
    assert np.all(got[one_sided] == (100.0 if direction > 0 else 0.0))
    assert 0.0 < got[start - 7] < 100.0  # an ordinary value before the crash
    defined = ~np.isnan(got)  # and never outside [0, 100], though a sum can slide to a residue below 0
    assert np.all((got[defined] >= 0.0) & (got[defined] <= 100.0))


def test_values_do_not_depend_on_truncation_or_thread_split() -> None:
    """Bit-identical: the schedule counts from each ticker's first bar, never from the array's."""
    m = _market([1_000, 1, 2_500, 61, 1_800], seed=11)
    at = np.arange(0, len(m["close"]), 3)
    full = _run(m, 60, at)
    for threads in (2, 3, 5):
        split = _run(m, 60, at, threads=threads)
        for name in full:
            np.testing.assert_array_equal(split[name], full[name], err_msg=f"{name}, {threads} threads")
    cut = int(m["starts"][2]) + 1_337  # inside the third ticker
    short = {key: (values[:cut] if len(values) == len(m["close"]) else values) for key, values in m.items()}
    short["starts"], short["stops"] = m["starts"][:3], np.r_[m["stops"][:2], cut]
    truncated = _run(short, 60, at[at < cut])
    for name in full:
        np.testing.assert_array_equal(truncated[name], full[name][at < cut], err_msg=name)


def test_short_tickers_are_nan_until_their_window_is_full() -> None:
    m = _market([1, 5, 6], seed=3)
    got = _run(m, 5, np.arange(12))
    pos = np.r_[0, np.arange(5), np.arange(6)]
    full, moved = pos >= 4, pos >= 5
    for name in ("range", "volume_z", "vwap_dev", "bb_pctb"):
        assert np.array_equal(~np.isnan(got[name]), full), name
    for name in ("ret", "vol", "rsi", "ret_std"):
        assert np.array_equal(~np.isnan(got[name]), moved), name
    assert not np.isnan(got["macd"]).any()
    assert got["macd"][0] == 0.0 and got["macd_hist"][0] == 0.0  # EMAs start at the ticker's first close


def test_ticker_groups_cover_every_ticker_once() -> None:
    starts, stops = np.array([0, 10, 11, 500]), np.array([10, 11, 500, 520])
    for parts in (1, 2, 3, 4, 9):
        groups = ticker_groups(starts, stops, parts)
        assert [i for first, last in groups for i in range(first, last)] == [0, 1, 2, 3]
        assert len(groups) <= parts
    assert ticker_groups(np.zeros(0, int), np.zeros(0, int), 2) == []


def test_unknown_family_and_bad_window_are_refused() -> None:
    m = _market([10])
    with pytest.raises(ValueError, match="unknown indicator families \\['macd_line'\\]"):
        _run(m, 5, np.arange(10), ["macd_line"])
    with pytest.raises(ValueError, match="window must be >= 1"):
        _run(m, 0, np.arange(10), ["ret"])
