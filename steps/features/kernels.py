"""Compiled single-pass window kernels: every indicator family of one window in one sweep of a ticker's bars.

Why a compiled sweep and not numpy/polars expressions: the indicator set reads the same few columns for
many windows, and in numpy every intermediate (shifted copies, prefix sums, masks, ratios) is a full pass
over millions of rows through memory. Here one loop per (ticker, window) keeps a handful of running sums,
three EMAs and two monotonic deques in registers and writes only the requested columns at the requested
rows. Measured against the numpy version and against TA-Lib in docs/performance.md ("Features").

Numerics, and why they stay exact enough for the leak tests:
- Windowed sums slide (each takes one net update per row: the entering row's term minus the leaving
  row's, one add on the loop-carried chain instead of two) and are recomputed from scratch every
  max(4 w, RECOMPUTE_ROWS) rows, so rounding never accumulates over more than a few windows.
- Variances use sums of deviations from a shift (the value at the last recompute, a member of a recent
  window), so they do not cancel the way sum(x^2) - sum(x)^2 / w does on prices around 100.
- Exact zeros stay exact: a window of equal values has std 0 (a run-length counter, not a rounding
  residue), and a window with no up (down) move has a gain (loss) sum of exactly 0, so "flat" rules
  (RSI 50, %b 0.5, z-score 0) fire as the definitions say.
- The recompute schedule is counted from the ticker's first bar, so a value at bar t depends only on
  bars at or before t of its ticker: truncating the input after t, or sharding by ticker, changes nothing
  at or before t (steps.leaks checks this bit for bit).
The definitions themselves are in bar_features.py's module docstring.
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

# What a sweep can write, in window_sweep's argument order: the table's indicators (catalogue.INDICATORS) and
# three more that only the benchmarks ask for (ret, macd_signal, ret_std).
OUTPUTS = ("ret", "vol", "range", "volume_z", "vwap_dev", "rsi", "macd", "macd_signal", "macd_hist", "bb_pctb",
           "ret_std")
BOLLINGER_K = 2.0
ZERO_STD = 1e-12
# Sliding sums are recomputed from scratch every max(4 w, RECOMPUTE_ROWS) rows: often enough that rounding
# stays ~1e-13 relative, rarely enough that the recomputation costs a quarter pass at most.
RECOMPUTE_ROWS = 64
# A sweep's carried state per ticker (resumable sweeps, steps/features/engine.py): the running sums, EMAs,
# run-length counters and recompute countdown, in this order. Integers are stored exactly as floats.
STATE_FIELDS = ("ema_f", "ema_s", "ema_g", "c_shift", "v_shift", "s_c", "s_c2", "s_v", "s_vd", "s_vd2", "s_tv3",
                "s_r", "s_r2", "s_g", "s_l", "n_g", "n_l", "run_c", "run_v", "run_r", "r_prev", "r", "countdown")
STATE_SIZE = len(STATE_FIELDS)


@numba.njit(nogil=True, cache=True, inline="always")
def _std(s1: float, s2: float, inv_w: float) -> float:
    mean = s1 * inv_w
    var = s2 * inv_w - mean * mean
    return np.sqrt(var) if var > 0.0 else 0.0


# error_model="numpy": a division by zero gives inf/nan as in numpy instead of a Python exception, so the
# loop carries no zero checks (every division here is guarded or by a positive price anyway).
@numba.njit(nogil=True, cache=True, error_model="numpy")
def window_sweep(close, log_close, high, low, volume, starts, stops, at, w, fast, slow, signal,
                 ret, vol, range_, volume_z, vwap_dev, rsi, macd, macd_signal, macd_hist, bb_pctb, ret_std,
                 pos0=None, state=None):
    """The families of one window at rows `at` (sorted) of bars sorted by (ticker, ts), one sweep per ticker.

    Resumable (the live engine runs this same loop on the bars that arrived since its last call): `pos0[i]`
    is the number of the ticker's bars before row starts[i] (they must be in the arrays, at least w + 1 of
    them, as the sliding sums read the row leaving the window), and `state[i]` (STATE_FIELDS) carries the
    loop's variables from the sweep that ended there, and receives them at the end. None, None (the batch
    build): every ticker starts at its first bar. A resumed sweep gives the values of one uninterrupted sweep
    bit for bit, because it is the same loop with the same variables.

    Each family's output is an array of len(at) or None. None is a type to numba, so every combination of
    requested families compiles to its own loop with the unused work removed (the `is None` tests below are
    resolved at compile time, not per row). log_close = np.log(close), taken once by the caller.
    """
    want_close = bb_pctb is not None
    want_volume = volume_z is not None or vwap_dev is not None
    want_vwap = vwap_dev is not None
    want_returns = vol is not None or ret_std is not None
    want_rsi = rsi is not None
    want_macd = macd is not None or macd_signal is not None or macd_hist is not None
    af, as_, ag = 2.0 / (fast + 1.0), 2.0 / (slow + 1.0), 2.0 / (signal + 1.0)
    n_at = len(at)
    period = max(4 * w, RECOMPUTE_ROWS)
    inv_w = 1.0 / w
    k = 0
    for ticker in range(len(starts)):
        a, b = starts[ticker], stops[ticker]
        origin = a - pos0[ticker] if pos0 is not None else a  # where the ticker's first bar is (or would be)
        while k < n_at and at[k] < a:
            k += 1
        ema_f = ema_s = close[a]
        ema_g = 0.0
        c_shift = v_shift = 0.0
        s_c = s_c2 = s_v = s_vd = s_vd2 = s_tv3 = s_r = s_r2 = s_g = s_l = 0.0
        n_g = n_l = 0
        run_c = run_v = run_r = 0
        r_prev = r = 0.0
        countdown = 0
        if state is not None and origin < a:
            carried = state[ticker]
            ema_f, ema_s, ema_g, c_shift, v_shift = carried[0], carried[1], carried[2], carried[3], carried[4]
            s_c, s_c2, s_v, s_vd, s_vd2, s_tv3 = carried[5], carried[6], carried[7], carried[8], carried[9], carried[10]
            s_r, s_r2, s_g, s_l = carried[11], carried[12], carried[13], carried[14]
            n_g, n_l, run_c, run_v, run_r = (int(carried[15]), int(carried[16]), int(carried[17]), int(carried[18]),
                                             int(carried[19]))
            r_prev, r, countdown = carried[20], carried[21], int(carried[22])
        for t in range(a, b):
            pos = t - origin
            c = close[t]
            v = volume[t]
            if want_macd and pos > 0:
                ema_f = af * c + (1.0 - af) * ema_f
                ema_s = as_ * c + (1.0 - as_) * ema_s
                ema_g = ag * (ema_f - ema_s) + (1.0 - ag) * ema_g
            if want_close:
                run_c = run_c + 1 if pos > 0 and c == close[t - 1] else 1
            if want_volume:
                run_v = run_v + 1 if pos > 0 and v == volume[t - 1] else 1
            if want_returns:
                r = log_close[t] - log_close[t - 1] if pos > 0 else 0.0
                run_r = run_r + 1 if pos > 1 and r == r_prev else 1
                r_prev = r
            if countdown == 0:  # every `period` rows from the ticker's first: recompute over [max(a, t - w + 1), t]
                countdown = period
                c_shift, v_shift = c, v
                s_c = s_c2 = s_v = s_vd = s_vd2 = s_tv3 = s_r = s_r2 = s_g = s_l = 0.0
                n_g = n_l = 0
                for j in range(max(origin, t - w + 1), t + 1):
                    if want_close:
                        x = close[j] - c_shift
                        s_c += x
                        s_c2 += x * x
                    if want_volume:
                        vd = volume[j] - v_shift
                        s_v += volume[j]
                        s_vd += vd
                        s_vd2 += vd * vd
                        if want_vwap:
                            s_tv3 += (high[j] + low[j] + close[j]) * volume[j]
                    if j > origin:  # a ticker's first bar has no previous close: no return, no change
                        if want_returns:
                            rj = log_close[j] - log_close[j - 1]
                            s_r += rj
                            s_r2 += rj * rj
                        if want_rsi:
                            change = close[j] - close[j - 1]
                            s_g += max(change, 0.0)
                            s_l += max(-change, 0.0)
                            n_g += change > 0.0
                            n_l += change < 0.0
            else:  # slide: row t in, row t - w out (once the window is full); each sum takes one net update
                o = t - w
                out_ok = pos >= w
                out_moved = pos > w
                if want_close:
                    x = c - c_shift
                    xo = close[o] - c_shift if out_ok else 0.0
                    s_c += x - xo
                    s_c2 += x * x - xo * xo
                if want_volume:
                    vd = v - v_shift
                    vo = volume[o] if out_ok else 0.0
                    vdo = vo - v_shift if out_ok else 0.0
                    s_v += v - vo
                    s_vd += vd - vdo
                    s_vd2 += vd * vd - vdo * vdo
                    if want_vwap:
                        s_tv3 += (high[t] + low[t] + c) * v - ((high[o] + low[o] + close[o]) * vo if out_ok else 0.0)
                if want_returns:
                    ro = log_close[o] - log_close[o - 1] if out_moved else 0.0
                    s_r += r - ro
                    s_r2 += r * r - ro * ro
                if want_rsi:
                    change = c - close[t - 1]
                    change_o = close[o] - close[o - 1] if out_moved else 0.0
                    s_g += max(change, 0.0) - max(change_o, 0.0)
                    s_l += max(-change, 0.0) - max(-change_o, 0.0)
                    n_g += (change > 0.0) - (change_o > 0.0)
                    n_l += (change < 0.0) - (change_o < 0.0)
            countdown -= 1
            if k >= n_at or at[k] != t:
                continue
            full = pos >= w - 1  # w bars of the ticker end at t
            moved = pos >= w  # w one-bar changes end at t
            if ret is not None:
                ret[k] = log_close[t] - log_close[t - w] if moved else np.nan
            if vol is not None:
                flat = run_r >= w and r == 0.0  # w unchanged closes: exactly 0, not a residue of the slides
                vol[k] = (0.0 if flat else np.sqrt(max(s_r2, 0.0))) if moved else np.nan
            if ret_std is not None:
                ret_std[k] = (0.0 if run_r >= w else _std(s_r, s_r2, inv_w)) if moved else np.nan
            if range_ is not None:  # scanned at the decision row only: cheaper than a deque kept on every bar
                if full:
                    top, bottom = high[t], low[t]
                    for j in range(t - w + 1, t):
                        top = max(top, high[j])
                        bottom = min(bottom, low[j])
                    range_[k] = top / bottom  # the caller takes the log, vectorised
                else:
                    range_[k] = np.nan
            if volume_z is not None:
                if full:
                    v_mean = s_v * inv_w
                    v_std = 0.0 if run_v >= w else _std(s_vd, s_vd2, inv_w)
                    volume_z[k] = (v - v_mean) / v_std if v_std > ZERO_STD * v_mean else 0.0
                else:
                    volume_z[k] = np.nan
            if vwap_dev is not None:
                vwap_dev[k] = 3.0 * c * s_v / s_tv3 if full and s_v > 0.0 else np.nan  # log: by the caller
            if rsi is not None:
                if moved:
                    up = max(s_g, 0.0) if n_g > 0 else 0.0  # a slid sum can keep a residue of either sign
                    down = max(s_l, 0.0) if n_l > 0 else 0.0  # (changes of very different scales): RSI in [0, 100]
                    rsi[k] = 100.0 * (up / (up + down)) if up + down > 0.0 else 50.0  # ratio first: <= 1, so <= 100
                else:
                    rsi[k] = np.nan
            if macd is not None:
                macd[k] = (ema_f - ema_s) / c
            if macd_signal is not None:
                macd_signal[k] = ema_g / c
            if macd_hist is not None:
                macd_hist[k] = (ema_f - ema_s - ema_g) / c
            if bb_pctb is not None:
                if full:
                    c_mean = c_shift + s_c * inv_w
                    c_std = 0.0 if run_c >= w else _std(s_c, s_c2, inv_w)
                    band = 2.0 * BOLLINGER_K * c_std
                    bb_pctb[k] = (c - (c_mean - BOLLINGER_K * c_std)) / band if band > ZERO_STD * c_mean else 0.5
                else:
                    bb_pctb[k] = np.nan
            k += 1
        if state is not None and b > a:
            carried = state[ticker]
            carried[0], carried[1], carried[2], carried[3], carried[4] = ema_f, ema_s, ema_g, c_shift, v_shift
            carried[5], carried[6], carried[7], carried[8], carried[9], carried[10] = s_c, s_c2, s_v, s_vd, s_vd2, s_tv3
            carried[11], carried[12], carried[13], carried[14] = s_r, s_r2, s_g, s_l
            carried[15], carried[16], carried[17], carried[18], carried[19] = n_g, n_l, run_c, run_v, run_r
            carried[20], carried[21], carried[22] = r_prev, r, countdown


def window_features(close: np.ndarray, log_close: np.ndarray, high: np.ndarray, low: np.ndarray,
                    volume: np.ndarray, starts: np.ndarray, stops: np.ndarray, at: np.ndarray, window: int,
                    families: tuple[str, ...] | list[str], spans: tuple[int, int, int] = (12, 26, 9),
                    threads: int = 1, pos0: np.ndarray | None = None, state: np.ndarray | None = None
                    ) -> dict[str, np.ndarray]:
    """`families` (names from OUTPUTS) of one window at rows `at`; spans: MACD fast/slow/signal.

    pos0/state: resume each ticker's sweep where an earlier call left it (window_sweep; the live engine).

    starts/stops: each ticker's row range. `threads` > 1 splits the tickers into that many groups of about
    equal rows, swept concurrently (the kernel releases the GIL); the values do not depend on the split.
    """
    unknown = set(families) - set(OUTPUTS)
    if unknown:
        raise ValueError(f"unknown indicator families {sorted(unknown)}; known: {', '.join(OUTPUTS)}")
    if window < 1:
        raise ValueError(f"indicator window must be >= 1 bar, got {window}")
    starts, stops, at = (np.asarray(x, dtype=np.int64) for x in (starts, stops, at))
    if pos0 is not None:
        pos0 = np.asarray(pos0, dtype=np.int64)
    allocate = np.empty if threads <= 1 else _faulted_in
    outputs = {name: allocate(len(at)) if name in families else None for name in OUTPUTS}

    def sweep(first: int, last: int) -> None:
        """Tickers first..last-1, and the decision rows inside them."""
        lo = int(np.searchsorted(at, starts[first])) if first < len(starts) else len(at)
        hi = int(np.searchsorted(at, stops[last - 1])) if last > first else lo
        window_sweep(close, log_close, high, low, volume, starts[first:last], stops[first:last], at[lo:hi],
                     int(window), *(float(s) for s in spans),
                     *(None if values is None else values[lo:hi] for values in outputs.values()),
                     None if pos0 is None else pos0[first:last], None if state is None else state[first:last])
        for name in ("range", "vwap_dev"):  # the kernel leaves ratios: a vectorised log (GIL released) beats
            if outputs[name] is not None:  # a libm call per row inside the loop
                np.log(outputs[name][lo:hi], out=outputs[name][lo:hi])

    groups = ticker_groups(starts, stops, threads)
    if len(groups) <= 1:
        sweep(0, len(starts))
    else:
        with ThreadPoolExecutor(max_workers=len(groups)) as pool:
            for future in [pool.submit(sweep, first, last) for first, last in groups]:
                future.result()
    return {name: values for name, values in outputs.items() if values is not None}


def _faulted_in(size: int) -> np.ndarray:
    """An output array whose pages are faulted in here, on one thread, before the sweep threads write it.

    Why: on a VM, fresh pages may have to be faulted in by the host as well (memory the guest has handed
    back); two threads doing that at once stalled each other, and the 2-thread subset then took 0.3-0.4 s
    against 0.12-0.15 s, in runs that were otherwise alike (docs/performance.md, "Features"). One store per
    4 KiB page is all it takes; the values are written by the sweep."""
    values = np.empty(size)
    values[::512] = np.nan
    return values


def ticker_groups(starts: np.ndarray, stops: np.ndarray, parts: int) -> list[tuple[int, int]]:
    """Contiguous ranges of ticker indices, about equal in rows, at most `parts` of them (none empty)."""
    if len(starts) == 0:
        return []
    rows = np.cumsum(np.asarray(stops) - np.asarray(starts))
    cuts = np.searchsorted(rows, rows[-1] * np.arange(1, max(1, parts)) / max(1, parts), side="right")
    bounds = sorted({0, *(int(c) for c in cuts if 0 < c < len(starts)), len(starts)})
    return list(itertools.pairwise(bounds))
