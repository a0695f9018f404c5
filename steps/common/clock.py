"""Is a file's clock off by whole hours? Estimated from the data, because no other check can tell.

Bars in New York local time labelled UTC (or tweets shifted by a few hours) pass every contract check, and the
feature code and the leak checks then agree on the wrong instants: a tweet counts for a bar hours before or after
it was written. Only the data knows the true clock:

- 1-minute bars trade in the regular session, 09:30-16:00 New York (DST aware). Each New York date's bars (all
  tickers pooled) are checked against that window at every whole-hour shift within ±12 h: a session whose bars
  mostly lie outside the window but all fit it after a shift of k hours was stamped k hours off
  (`bars_clock`). Extended-hours and round-the-clock files fit no shift, and are left unjudged.
- Daily bars have no intraday clock (steps.import_prices and the generator stamp them at the 16:00 close): their
  dates are checked instead. A US calendar falls on Monday-Friday; dates on Sunday-Thursday are a day early, the
  mark of midnight-UTC dates read in New York (`daily_bars_clock`).
- Tweets: (1) their activity is hour-shaped (the generator writes them in session only; real feeds peak in
  US daytime), and (2) tweet counts rise with |returns| at the same instant, so the cross-correlation of tweet
  counts and normalised |1-minute returns| in 15-minute buckets, at whole-hour lags within ±12 h, peaks at lag 0
  when the clocks agree (`tweets_clock`). The lead-lag decides; the hour profile only warns, and only when the
  lead-lag cannot judge (too few tweets, or daily bars).
- Streamed tweets (steps.ingest) arrive seconds after they are written: a median `ingested_at - created_at`
  near a whole number of hours is a mislabelled `created_at` (`stream_clock`).

Offsets are `stamped - true`, in hours: New York local time labelled UTC is -5 h in winter, -4 h in summer.
Each function returns a `ClockVerdict`; `apply_verdict` turns it into a refusal, a warning or a log line by
the `--clock-check` mode (refuse | warn | off).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import polars as pl

from steps.common.clock_modes import CLOCK_MODES, ClockMode  # noqa: F401  (read from here by the checks' callers)
from steps.common.errors import StepInputError

MARKET_TZ = "America/New_York"  # steps.common.folds.MARKET_TZ (not imported: folds reads json and settings)
Level = Literal["ok", "unknown", "warn", "refuse"]

MINUTE_NS = 60 * 1_000_000_000
HOUR_NS = 60 * MINUTE_NS
DAY_MINUTES = 1440
SESSION_OPEN = 9 * 60 + 30  # minutes after midnight, New York; bars stamped at the open (09:30) or close (16:00)
SESSION_CLOSE = 16 * 60
MAX_SHIFT_HOURS = 12
SHIFTS = np.arange(-MAX_SHIFT_HOURS, MAX_SHIFT_HOURS + 1)

# Bars. A session "fits" a shift when FIT of its bars lie in the window: regular-hours data fits at one shift
# only (its day spans 6.5 of the window's 6.5 hours), so a fit elsewhere than 0 is no coincidence. A few stray
# prints (an auction at 16:01) stay under the 2 %. Fewer than MIN_SESSION_BARS bars (all tickers) is no session
# to judge; fewer than MIN_SESSIONS such sessions, no file to judge.
FIT = 0.98
MIN_SESSION_BARS = 30
MIN_SESSIONS = 3
REFUSE_SHARE = 0.2  # of the judged sessions shifted: a clock, not a glitch (a DST slip is half the year)
WARN_SHARE = 0.05
# Daily bars: dates on a weekend beyond this share, shaped like Monday-Friday moved by a day, are a day off.
MIN_DAILY_DATES = 10
WEEKEND_TOLERANCE = 0.02
# Tweets: 15-minute buckets, lags in whole hours. A correlation is judged against its standard error 1/sqrt(n)
# (n the bucket pairs): the peak must stand PEAK_SE above 0 to be a measurable relation at all, and
# MARGIN_SE (in standard errors of a difference, sqrt(2/n)) above lag 0 to call the clock off.
BUCKET_MINUTES = 15
MIN_TWEETS = 300
MIN_PAIRS = 200
PEAK_SE = 4.0
MARGIN_SE = 4.0
WEAK_MARGIN_SE = 2.5
REFUSE_MIN_HOURS = 2  # a 1-h peak can be a feed that reacts slowly: warned, never refused
PROFILE_FIT = 0.9  # tweets in the session window after a shift ...
PROFILE_GAIN = 0.3  # ... and this much more than unshifted
# The stream: rows of a live stream arrive within seconds; a median delay of a whole number of hours (1 to 12, within
# STREAM_TOLERANCE_NS) over STREAM_MIN_ROWS rows or more is a clock. Beyond MAX_SHIFT_HOURS: a replay, not judged.
STREAM_MIN_ROWS = 20
STREAM_TOLERANCE_NS = 10 * MINUTE_NS


@dataclass(frozen=True)
class ClockVerdict:
    """What the data says about one input's clock: `level` (ok, unknown: not enough to judge, warn, refuse),
    the estimated `offset_hours` (stamped - true), one sentence, the fix, and the figures it rests on."""

    what: str
    level: Level
    offset_hours: int | None
    problem: str
    fix: str | None = None
    figures: dict[str, Any] = field(default_factory=dict)


def as_ns(values: Any) -> np.ndarray:
    """UTC instants as int64 nanoseconds from a polars or pandas datetime column, a datetime64 array of any unit,
    or int64 nanoseconds already (naive values are taken as UTC: the check judges what they say, not their zone)."""
    if isinstance(values, pl.Series):
        if isinstance(values.dtype, pl.Datetime):  # the physical values are UTC whatever the zone
            return values.dt.cast_time_unit("ns").to_physical().to_numpy().astype("int64", copy=False)
        return values.to_numpy().astype("int64")
    array = np.asarray(values.dt.tz_convert("UTC").dt.tz_localize(None) if isinstance(values, pd.Series)
                       and getattr(values.dt, "tz", None) is not None else values)
    if np.issubdtype(array.dtype, np.datetime64):
        return array.astype("datetime64[ns]").astype("int64")
    return array.astype("int64")


def _offset_table(first_ns: int, last_ns: int) -> tuple[int, np.ndarray]:
    """(first UTC hour number, New York's UTC offset in minutes at each UTC hour from there), covering
    [first_ns, last_ns] plus the shifts. DST changes at whole UTC hours, so an hourly table is exact."""
    first_hour = first_ns // HOUR_NS - MAX_SHIFT_HOURS - 1
    last_hour = last_ns // HOUR_NS + MAX_SHIFT_HOURS + 1
    hours = pd.DatetimeIndex(np.arange(first_hour, last_hour + 1, dtype="int64") * HOUR_NS, tz="UTC")
    offsets = (hours.tz_convert(MARKET_TZ).tz_localize(None).asi8 - hours.tz_localize(None).asi8) // MINUTE_NS
    return int(first_hour), offsets.astype("int64")


def _local_minutes(minutes: np.ndarray, shift_hours: int, table: tuple[int, np.ndarray]) -> np.ndarray:
    """New York local minute numbers of UTC minute numbers `minutes` taken `shift_hours` earlier."""
    first_hour, offsets = table
    shifted = minutes - 60 * shift_hours
    return shifted + offsets[shifted // 60 - first_hour]


def _in_session(local_minutes: np.ndarray) -> np.ndarray:
    of_day = local_minutes % DAY_MINUTES
    return (of_day >= SESSION_OPEN) & (of_day <= SESSION_CLOSE)


def _minute_counts(ts_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct UTC minute numbers, how many stamps in each): the bars of all tickers share their minutes.
    Counted in one array over the span (a year is 0.5 M minutes: ~10x faster than hashing 5.5 M bars)."""
    minutes = np.asarray(ts_ns, dtype="int64") // MINUTE_NS
    low = int(minutes.min())
    if int(minutes.max()) - low <= 50_000_000:  # a century of minutes
        counts = np.bincount(minutes - low)
        present = np.flatnonzero(counts)
        return present + low, counts[present].astype("float64")
    counted = pl.Series("m", minutes).value_counts()
    return counted["m"].to_numpy(), counted["count"].to_numpy().astype("float64")


def _runs(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(group id of each element, the distinct keys in id order): by runs when `key` is sorted (bars sorted by
    ticker and time give sorted keys: no sort needed), else by np.unique."""
    step = np.diff(key)
    if (step >= 0).all():
        new = np.r_[True, step != 0] if len(key) else np.zeros(0, bool)
        return np.cumsum(new) - 1, key[new]
    distinct, inverse = np.unique(key, return_inverse=True)
    return inverse, distinct


def _hours(k: int) -> str:
    return f"{k:+d} h"


def _offset_words(k: int) -> str:
    return f"the stamps run {abs(k)} h {'behind' if k < 0 else 'ahead of'} UTC"


def session_shares(ts_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per New York date (of the stamps as they are): (dates, stamps, share in the session window at each shift
    in SHIFTS (dates x shifts), share whose UTC wall clock is in the window: New York local labelled UTC)."""
    minutes, counts = _minute_counts(ts_ns)
    table = _offset_table(int(minutes.min()) * MINUTE_NS, int(minutes.max()) * MINUTE_NS)
    dates, group = np.unique(_local_minutes(minutes, 0, table) // DAY_MINUTES, return_inverse=True)
    totals = np.bincount(group, weights=counts, minlength=len(dates))
    shares = np.empty((len(dates), len(SHIFTS)))
    for j, k in enumerate(SHIFTS):
        inside = _in_session(_local_minutes(minutes, int(k), table))
        shares[:, j] = np.bincount(group, weights=counts * inside, minlength=len(dates)) / totals
    wall = np.bincount(group, weights=counts * _in_session(minutes), minlength=len(dates)) / totals
    return dates, totals, shares, wall


def _best_shift(shares: np.ndarray) -> np.ndarray:
    """Per row, the shift with the largest share; ties go to the smallest |shift| (then the negative one)."""
    order = np.argsort(np.abs(SHIFTS) * 2 + (SHIFTS > 0), kind="stable")  # 0, -1, +1, -2, +2, ...
    best = order[np.argmax(shares[:, order], axis=1)]
    return SHIFTS[best]


def bars_clock(ts: Any, frequency: str = "1min") -> ClockVerdict:
    """The bars' clock against the exchange's: 1-minute bars by the session window, daily bars by their dates."""
    ts_ns = as_ns(ts)
    if frequency == "1d":
        return daily_bars_clock(ts_ns)
    if len(ts_ns) == 0:
        return ClockVerdict("bars", "unknown", None, "no bars to check the clock")
    dates, totals, shares, wall = session_shares(ts_ns)
    zero = int(np.flatnonzero(SHIFTS == 0)[0])
    judged = totals >= MIN_SESSION_BARS
    n = int(judged.sum())
    figures: dict[str, Any] = {"sessions": n, "share_in_session": round(float(
        (shares[judged, zero] * totals[judged]).sum() / max(totals[judged].sum(), 1.0)), 4)}
    if n < MIN_SESSIONS:
        return ClockVerdict("bars", "unknown", None, f"too few sessions to check the clock ({n} with "
                            f"{MIN_SESSION_BARS}+ bars, {MIN_SESSIONS} needed)", figures=figures)
    best = _best_shift(shares)
    best_share = shares[np.arange(len(dates)), np.searchsorted(SHIFTS, best)]
    fits_as_is = shares[:, zero] >= FIT
    shifted = judged & ~fits_as_is & (best_share >= FIT)
    offsets = Counter(int(k) for k in best[shifted])
    figures.update({"sessions_shifted": int(shifted.sum()), "offsets": {_hours(k): c for k, c in offsets.most_common()},
                    "sessions_unexplained": int((judged & ~fits_as_is & ~shifted).sum())})
    if not offsets:
        if figures["sessions_unexplained"] > n / 2:
            return ClockVerdict("bars", "unknown", None, "most sessions have bars outside 09:30-16:00 New York that no "
                                "whole-hour shift explains (extended hours?): the clock is not judged", figures=figures)
        return ClockVerdict("bars", "ok", 0, "the bars fit the 09:30-16:00 New York session", figures=figures)
    k = offsets.most_common(1)[0][0]
    figures["offset_hours"] = k
    outside = 1.0 - float(shares[shifted, zero].mean())
    listed = ", ".join(f"{_hours(o)} on {c} sessions" for o, c in offsets.most_common())
    local = bool((wall[shifted] >= FIT).all())
    problem = (f"{int(shifted.sum())} of {n} sessions have their bars outside the 09:30-16:00 New York session "
               f"({outside:.0%} of their bars) but fit it shifted by whole hours: estimated clock offset {listed}, "
               f"{_offset_words(k)}"
               + ("; they look like New York local times labelled UTC" if local else ""))
    fix = ("convert the times to UTC before writing: if they are New York local times, "
           "ts.dt.tz_localize(None).dt.tz_localize('America/New_York').dt.tz_convert('UTC') (pandas); "
           f"otherwise shift them by {_hours(-k)}")
    share = shifted.sum() / n
    level: Level = "refuse" if share >= REFUSE_SHARE else "warn" if share >= WARN_SHARE and shifted.sum() >= 2 \
        else "ok"
    return ClockVerdict("bars", level, k if level != "ok" else 0, problem, fix, figures)


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def daily_bars_clock(ts: Any) -> ClockVerdict:
    """Daily bars carry no intraday clock: their New York dates must fall on Monday-Friday. A calendar moved by
    one day (Sunday-Thursday: midnight-UTC dates read in New York) is refused; other weekend dates (a market
    that trades every day) are only warned about."""
    stamps = pd.DatetimeIndex(np.unique(as_ns(ts)), tz="UTC").tz_convert(MARKET_TZ)
    dates = pd.DatetimeIndex(np.unique(stamps.normalize().tz_localize(None)))
    times = Counter(stamps.strftime("%H:%M"))
    time, _ = times.most_common(1)[0] if times else ("-", 0)
    figures: dict[str, Any] = {"dates": len(dates), "stamped_at_new_york": time}
    if len(dates) < MIN_DAILY_DATES:
        return ClockVerdict("bars", "unknown", None, f"too few daily bars to check their dates ({len(dates)} dates, "
                            f"{MIN_DAILY_DATES} needed)", figures=figures)
    per_day = np.bincount(dates.day_of_week, minlength=7)
    weekend = float(per_day[5:].sum()) / len(dates)
    figures["weekend_share"] = round(weekend, 4)
    if weekend <= WEEKEND_TOLERANCE:
        return ClockVerdict("bars", "ok", 0, f"daily bars (stamped {time} New York) fall on weekdays; no intraday "
                            "clock to check", figures=figures)
    for start, shift_days in ((6, -1), (1, 1)):  # Sunday-Thursday: a day early; Tuesday-Saturday: a day late
        days = [(start + i) % 7 for i in range(5)]
        if per_day[days].sum() >= (1 - WEEKEND_TOLERANCE) * len(dates):
            figures["offset_days"] = shift_days
            return ClockVerdict(
                "bars", "refuse", shift_days * 24,
                f"daily bars fall on {WEEKDAYS[days[0]]}-{WEEKDAYS[days[-1]]} in New York ({weekend:.0%} on weekends; "
                f"stamped {time} New York): each is dated one day {'late' if shift_days > 0 else 'early'}"
                + (" (midnight-UTC dates read in New York?)" if shift_days < 0 else ""),
                fix="stamp each daily bar at its session's close, 16:00 New York, in UTC (steps.import_prices does), "
                    "or write plain dates (YYYY-MM-DD) without a time or zone", figures=figures)
    return ClockVerdict("bars", "warn", None, f"{weekend:.0%} of the daily bars' dates fall on a weekend (New York): "
                        "not a US exchange calendar", fix="check the dates' time zone, or drop the weekend rows",
                        figures=figures)


def tweet_profile(created: Any) -> dict[str, Any]:
    """The tweets' share inside the 09:30-16:00 New York window as stamped and at the best whole-hour shift."""
    created_ns = as_ns(created)
    if len(created_ns) == 0:
        return {"share_in_session": None}
    minutes, counts = _minute_counts(created_ns)
    table = _offset_table(int(minutes.min()) * MINUTE_NS, int(minutes.max()) * MINUTE_NS)
    shares = np.array([(counts * _in_session(_local_minutes(minutes, int(k), table))).sum() for k in SHIFTS])
    shares /= counts.sum()
    best = int(_best_shift(shares[None, :])[0])
    at = dict(zip(SHIFTS.tolist(), shares.tolist(), strict=True))
    return {"share_in_session": round(at[0], 4), "best_shift_hours": best, "share_at_best_shift": round(at[best], 4)}


def _ticker_codes(bars_ticker: Any, tweet_ticker: Any) -> tuple[np.ndarray, np.ndarray, int]:
    """Both ticker columns as codes of one name list. Bars grouped by ticker (validate_bars sorts them) are coded
    by their runs, in their order, without hashing millions of strings; the tweets by that list."""
    bars_t, tweets_t = pl.Series(bars_ticker, dtype=pl.String), pl.Series(tweet_ticker, dtype=pl.String)
    runs = bars_t.rle_id().to_numpy().astype("int64")
    names = bars_t.gather(np.flatnonzero(np.r_[True, np.diff(runs) != 0]) if len(runs) else [])
    if names.n_unique() == len(names):
        codes = runs
    else:  # not grouped by ticker
        names = bars_t.unique().sort()
        codes = bars_t.cast(pl.Enum(names.to_list())).to_physical().to_numpy().astype("int64")
    listed = names.to_list() + sorted(set(tweets_t.unique().to_list()) - set(names.to_list()))
    return codes, tweets_t.cast(pl.Enum(listed)).to_physical().to_numpy().astype("int64"), len(listed)


def lead_lag(bars_ticker: Any, bars_ts: Any, close: Any, tweet_ticker: Any, created: Any) -> dict[str, Any]:
    """Correlation of per-bucket tweet counts with normalised |returns| at whole-hour lags (tweets stamped `lag`
    later than the returns they follow), pooled over tickers.

    |1-minute log return| between consecutive minutes of one ticker (an overnight gap is never a minute), averaged
    per (ticker, 15-minute bucket), then divided by the ticker's mean on that New York day (a volatile day is not
    what is sought) and by the mean at that time of day (the open and close are busy by the clock, not by the
    news). Counts and |returns| are de-meaned per ticker. Bars sorted by (ticker, ts), as validate_bars leaves
    them, take no sort (any order is correct, only slower)."""
    ticker, tweets_code, n_tickers = _ticker_codes(bars_ticker, tweet_ticker)
    ts = as_ns(bars_ts)
    if len(ts) < 2:
        return {"pairs": 0, "correlation": {}}
    bucket_ns = BUCKET_MINUTES * MINUTE_NS
    per_hour = HOUR_NS // bucket_ns
    first = int(ts.min()) // bucket_ns - MAX_SHIFT_HOURS * per_hour - 1
    span = int(ts.max()) // bucket_ns + MAX_SHIFT_HOURS * per_hour + 2 - first
    valid = np.r_[False, (ticker[1:] == ticker[:-1]) & (np.diff(ts) == MINUTE_NS)]
    move = np.r_[0.0, np.abs(np.diff(np.log(np.asarray(close, dtype="float64"))))]
    group, keys = _runs(ticker * span + (ts // bucket_ns - first))
    count = np.bincount(group, weights=valid)
    total = np.bincount(group, weights=np.where(valid, move, 0.0))
    kept = count > 0
    keys, x = keys[kept], total[kept] / count[kept]
    if len(keys) == 0:
        return {"pairs": 0, "correlation": {}}
    owner = keys // span
    start_minutes = ((keys % span) + first) * BUCKET_MINUTES
    local = _local_minutes(start_minutes, 0, _offset_table(int(ts.min()), int(ts.max())))
    for by in (_runs(owner * 1_000_000 + local // DAY_MINUTES)[0], (local % DAY_MINUTES) // BUCKET_MINUTES):
        mean = np.bincount(by, weights=x) / np.maximum(np.bincount(by), 1)
        x = x / np.where(mean[by] > 0, mean[by], 1.0)
    tweet_bucket = as_ns(created) // bucket_ns - first
    inside = (tweet_bucket >= 0) & (tweet_bucket < span)
    counts = np.bincount(tweets_code[inside] * span + tweet_bucket[inside], minlength=n_tickers * span)
    per_ticker = np.maximum(np.bincount(owner, minlength=n_tickers), 1)
    x = x - (np.bincount(owner, weights=x, minlength=n_tickers) / per_ticker)[owner]
    out: dict[str, Any] = {"pairs": len(keys), "correlation": {}}
    for k in SHIFTS:
        y = counts[keys + int(k) * per_hour].astype("float64")
        y = y - (np.bincount(owner, weights=y, minlength=n_tickers) / per_ticker)[owner]
        denominator = np.sqrt((x * x).sum() * (y * y).sum())
        out["correlation"][int(k)] = float((x * y).sum() / denominator) if denominator > 0 else 0.0
    return out


def tweets_clock(tweet_ticker: Any, created: Any, *, bars_ticker: Any = None, bars_ts: Any = None,
                 close: Any = None, frequency: str = "1min") -> ClockVerdict:
    """The tweets' clock against the bars' (lead-lag) and, failing that, against the session (hour profile)."""
    tweet_ns = as_ns(created)
    n_tweets = len(tweet_ns)
    figures: dict[str, Any] = {"tweets": n_tweets}
    if n_tweets < MIN_TWEETS:
        return ClockVerdict("tweets", "unknown", None, f"not enough tweets to check the clock ({n_tweets}, "
                            f"{MIN_TWEETS} needed)", figures=figures)
    profile = tweet_profile(tweet_ns)
    figures["profile"] = profile
    fix_for = ("convert created_at to UTC before writing (if the feed wrote New York local times: "
               "tz_localize('America/New_York').tz_convert('UTC')), or shift it by {shift}")
    reason = "daily bars have no intraday returns to align the tweets with"
    if frequency == "1min" and bars_ts is not None and close is not None and bars_ticker is not None \
            and len(bars_ts):
        found = lead_lag(bars_ticker, bars_ts, close, tweet_ticker, tweet_ns)
        pairs = found["pairs"]
        figures["pairs"] = pairs
        if pairs >= MIN_PAIRS:
            correlation = found["correlation"]
            figures["correlation"] = {_hours(k): round(v, 4) for k, v in correlation.items()}
            se = 1.0 / np.sqrt(pairs)
            lag = max(correlation, key=lambda k: (correlation[k], -abs(k)))
            peak, at_zero = correlation[lag], correlation[0]
            margin = (peak - at_zero) / (np.sqrt(2.0) * se)
            figures.update({"peak_lag_hours": lag, "peak_se": round(peak / se, 2), "margin_se": round(margin, 2)})
            if peak >= PEAK_SE * se and lag == 0:
                return ClockVerdict("tweets", "ok", 0, f"tweet counts follow |returns| at lag 0 (r = {at_zero:.3f}, "
                                    f"{peak / se:.1f} standard errors; {n_tweets} tweets)", figures=figures)
            if peak >= PEAK_SE * se and margin >= WEAK_MARGIN_SE:
                strong = margin >= MARGIN_SE
                level: Level = "refuse" if strong and abs(lag) >= REFUSE_MIN_HOURS else "warn"
                figures["offset_hours"] = lag
                return ClockVerdict(
                    "tweets", level, lag,
                    f"tweet counts line up with the |returns| of {abs(lag)} h {'before' if lag > 0 else 'after'} "
                    "their created_at: "
                    f"the lead-lag peaks at {_hours(lag)} (r = {peak:.3f} against {at_zero:.3f} at lag 0, "
                    f"{margin:.1f} standard errors apart; {n_tweets} tweets, {pairs} buckets): estimated clock offset "
                    f"{_hours(lag)}, created_at {abs(lag)} h {'ahead of' if lag > 0 else 'behind'} the bars' UTC"
                    + ("" if strong else " (weak evidence)"), fix_for.format(shift=_hours(-lag)), figures)
            reason = (f"tweet counts and |returns| show no measurable relation within ±{MAX_SHIFT_HOURS} h (peak r = "
                      f"{peak:.3f}, {PEAK_SE:g} standard errors = {PEAK_SE * se:.3f} needed)") if peak < PEAK_SE * se \
                else (f"the lead-lag peaks at {_hours(lag)} but only {margin:.1f} standard errors above lag 0 "
                      f"({WEAK_MARGIN_SE:g} needed to warn)")
        else:
            reason = f"too few 15-minute buckets with bars ({pairs}, {MIN_PAIRS} needed)"
    best, gain = profile["best_shift_hours"], profile["share_at_best_shift"] - profile["share_in_session"]
    if best != 0 and profile["share_at_best_shift"] >= PROFILE_FIT and gain >= PROFILE_GAIN:
        figures["offset_hours"] = best
        return ClockVerdict(
            "tweets", "warn", best,
            f"{profile['share_in_session']:.0%} of the tweets fall in the 09:30-16:00 New York session as stamped, "
            f"{profile['share_at_best_shift']:.0%} shifted by {_hours(-best)}: estimated clock offset {_hours(best)} "
            f"from the hour profile alone ({reason})", fix_for.format(shift=_hours(-best)), figures)
    return ClockVerdict("tweets", "unknown", None, f"not enough tweets to check the clock: {reason}", figures=figures)


def stream_clock(created: Any, ingested: Any) -> ClockVerdict:
    """A live stream's rows arrive seconds after they were written: a median delay near a whole number of hours
    (tweets from the future included) is a created_at in the wrong zone. Delays beyond ±12 h are a replay."""
    created_ns, ingested_ns = as_ns(created), as_ns(ingested)
    n = len(created_ns)
    if n < STREAM_MIN_ROWS:
        return ClockVerdict("tweets", "unknown", None, f"not enough tweets to check the clock ({n}, "
                            f"{STREAM_MIN_ROWS} needed)", figures={"rows": n})
    delay = int(np.median(ingested_ns - created_ns))
    hours = round(delay / HOUR_NS)
    figures = {"rows": n, "median_delay_s": round(delay / 1e9, 1)}
    if abs(delay) > (MAX_SHIFT_HOURS + 1) * HOUR_NS:
        return ClockVerdict("tweets", "unknown", None, "the tweets were written long before they arrived (a replay, "
                            "not a live stream): the clock is not checked", figures=figures)
    if hours == 0 or abs(delay - hours * HOUR_NS) > STREAM_TOLERANCE_NS:
        return ClockVerdict("tweets", "ok", 0, "tweets arrive soon after they were written", figures=figures)
    offset = -hours  # created_at stamped `hours` before it arrived: the stamp runs behind
    figures["offset_hours"] = offset
    return ClockVerdict(
        "tweets", "warn", offset,
        f"the median tweet arrives {delay / HOUR_NS:+.2f} h after its created_at ({n} rows): estimated clock offset "
        f"{_hours(offset)} (a live stream delivers within seconds)",
        "the source's created_at is not UTC: write it with its offset or Z (the X API does)", figures)


def apply_verdict(verdict: ClockVerdict, mode: str, source: object, column: str,
                  logger: logging.Logger) -> ClockVerdict:
    """Refuse (a one-line StepInputError naming the file, the column, the offset and the fix), warn, or say in
    the log what the check found. `mode`: refuse | warn | off (off: nothing is said)."""
    if mode == "off":
        return verdict
    if verdict.level == "refuse" and mode == "refuse":
        raise StepInputError(verdict.problem, file=str(source), column=column,
                             fix=(verdict.fix or "") + " (or pass --clock-check warn if the times are right)")
    if verdict.level in ("refuse", "warn"):
        logger.warning("%s: column '%s': clock check: %s; fix: %s", source, column, verdict.problem, verdict.fix)
    else:
        logger.info("%s: column '%s': clock check: %s", source, column, verdict.problem)
    return verdict
