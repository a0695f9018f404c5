"""The leak checks. Each returns a CheckResult; none raises on a leak (the report says it).

(a) truncation_invariance: the *code* — features recomputed from inputs cut at random instants equal
    the full computation on every row at or before the cut.
(b) table_matches_code: the *table* — the given features equal a recomputation from the inputs with the
    manifest's settings; a column the code does not produce cannot be verified, and fails.
(c) label_alignment: every label window ends after its row (label_end > ts) and labels match returns.
(c') timestamp_alignment: against the bars themselves, not the feature code: every row sits on a bar close,
    its label window is the bars t+1 .. t+1+H (strictly after t), and every sentiment column (weighted
    means, sent_daily, positive ratios, plain means, sums, counts) equals an independent recount of the
    tweets created at or before t - ingest_lag, on every row.
(d) folds: chronological, purged and embargoed train rows (purged on the label windows recomputed from
    the bars, so an understated label_end cannot hide an overlap), holdout outside every fold.
(e) duplicates: no (ticker, ts) twice, no row or identical feature vector in two of train/validation/holdout.
(f) target_leakage: no single feature separates the labels implausibly well (single-feature AUC outside
    [1 - a, a] on development rows), and none correlates with the future return far more than with the past
    return over the same horizon: the usual symptoms of a label or future return copied into a feature.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from steps.common.folds import Folds, bar_interval, fold_masks, holdout_mask
from steps.features.catalogue import feature_columns
from steps.features.settings import FeatureSettings
from steps.leaks.compare import compare_frames
from steps.leaks.sentiment_recount import parse_sentiment_columns, recount
from steps.leaks.settings import LeakScreens

BuildFn = Callable[..., pd.DataFrame]
_SCREENS = LeakScreens()  # the thresholds' defaults and bounds are declared once, in steps/leaks/settings.py
RECOUNT_ATOL = 1e-9  # sums of a few hundred scores in [-1, 1], summed in another order than the feature code


@dataclass(frozen=True)
class LeakThresholds:
    """The target-leakage screen's limits (configs/pipeline.yaml `leaks.plausibility`, steps/leaks/settings.py)."""

    max_single_feature_auc: float = _SCREENS.max_single_feature_auc
    min_future_correlation: float = _SCREENS.min_future_correlation
    max_future_to_past_correlation: float = _SCREENS.max_future_to_past_correlation


@dataclass
class CheckResult:
    name: str
    passed: bool
    details: str
    columns: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def choose_cutoffs(frame: pd.DataFrame, count: int, seed: int) -> list[pd.Timestamp]:
    """`count` distinct decision instants between the 5th and 95th percentile of the rows' times."""
    instants = np.sort(frame["ts"].unique())
    if len(instants) < 3 or count < 1:
        return []
    low, high = int(len(instants) * 0.05), max(int(len(instants) * 0.95), 1)
    pool = instants[low:high]
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(pool), size=min(count, len(pool)), replace=False)
    return [pd.Timestamp(pool[i]).tz_localize("UTC") if pd.Timestamp(pool[i]).tzinfo is None
            else pd.Timestamp(pool[i]) for i in sorted(chosen)]


Bars = pd.DataFrame | pl.DataFrame  # the step reads polars (as steps.features does); tests may pass pandas


def bars_where(bars: Bars, *, tickers: list[str] | None = None, until: pd.Timestamp | None = None) -> Bars:
    """The bars of `tickers` (all when None) with ts <= `until` (all when None), in the input's own type."""
    if isinstance(bars, pl.DataFrame):
        if tickers is not None:
            bars = bars.filter(pl.col("ticker").is_in(tickers))
        if until is None:
            return bars
        instant = pl.lit(pd.Timestamp(until).tz_convert("UTC").value).cast(pl.Datetime("ns", "UTC"))
        return bars.filter(pl.col("ts").dt.convert_time_zone("UTC") <= instant)
    if tickers is not None:
        bars = bars[bars["ticker"].isin(tickers)]
    return bars if until is None else bars[bars["ts"] <= until]


def choose_tickers(bars: Bars, count: int, seed: int, sectors: Mapping[str, str] | None = None) -> list[str] | None:
    """`count` tickers drawn at random (None: all of them, when count is 0 or covers the universe).

    With sectors, as many as possible come in pairs from one sector: a ticker alone in its sector of the
    sample has no peer whose later bars a sector feature could read, so a look-ahead across a sector's
    tickers only shows on a sample that holds two of them (tests/steps/test_leaks.py plants one)."""
    tickers = np.sort(np.asarray(bars["ticker"].unique(), dtype=object))
    if count <= 0 or count >= len(tickers):
        return None
    rng = np.random.default_rng(seed)
    chosen: list[str] = []
    if sectors:
        members: dict[str, list[str]] = {}
        for ticker in tickers:
            members.setdefault(sectors.get(ticker, "Unknown"), []).append(str(ticker))
        shared = [sector for sector in sorted(members) if len(members[sector]) >= 2]
        for position in rng.permutation(len(shared)):
            if len(chosen) + 2 > count:
                break
            chosen += rng.choice(members[shared[position]], size=2, replace=False).tolist()
    rest = [str(t) for t in tickers if t not in chosen]
    chosen += rng.choice(rest, size=count - len(chosen), replace=False).tolist()
    return sorted(chosen)


def truncation_invariance(full: pd.DataFrame | None, bars: Bars, tweets: pd.DataFrame,
                          settings: FeatureSettings, sectors: Mapping[str, str] | None,
                          cutoffs: list[pd.Timestamp], build: BuildFn,
                          tickers: list[str] | None = None) -> CheckResult:
    """Features from inputs cut at each cut-off equal the full computation at or before it.

    With `tickers`, both computations run on those tickers alone (cross-sectional features then refer to
    that sub-universe in both, so the comparison stays exact): the cost is the sample's share of one build
    per cut-off instead of the whole universe's. `full` is the full computation on the same tickers.
    """
    columns = feature_columns(settings)
    if tickers is not None:
        bars = bars_where(bars, tickers=tickers)
        tweets = tweets[tweets["ticker"].isin(tickers)] if len(tweets) else tweets
        full = None
    if full is None:
        full = build(bars, tweets, settings, sectors=sectors, keep_unlabelled=True, threads=1)
    bad_columns: dict[str, dict[str, object]] = {}
    row_problems = []
    compared = 0
    # A tweet is part of the data at the cut-off once it could have been ingested: created_at + lag <= cut-off.
    available = tweets["created_at"] + pd.Timedelta(seconds=settings.ingest_lag_seconds) if len(tweets) else None
    for cutoff in cutoffs:
        kept_tweets = tweets[available <= cutoff] if available is not None else tweets
        truncated = build(bars_where(bars, until=cutoff), kept_tweets, settings, sectors=sectors,
                          keep_unlabelled=True, threads=1)  # one core: the full recomputation has the others
        before_full = full[full["ts"] <= cutoff]
        before_cut = truncated[truncated["ts"] <= cutoff]
        if len(before_full) != len(before_cut):
            row_problems.append(f"cut-off {cutoff}: {len(before_full)} rows in the full computation, "
                                f"{len(before_cut)} after truncation")
        compared += len(before_cut)
        for column, problem in compare_frames(before_full, before_cut, columns).items():
            problem["cutoff"] = str(cutoff)
            bad_columns.setdefault(column, problem)
    passed = not bad_columns and not row_problems
    scope = f"{len(tickers)} sampled tickers ({', '.join(tickers)})" if tickers is not None else "all tickers"
    if passed:
        details = (f"{len(cutoffs)} cut-offs, {compared} rows at or before them on {scope}: every feature equals "
                   "the full computation")
    else:
        parts = [f"{c} differs on {p['rows']} rows (first {p['example']}, cut-off {p['cutoff']})"
                 for c, p in bad_columns.items()]
        details = "features change when later data is removed (look-ahead in the code): " + "; ".join(
            parts + row_problems)
    return CheckResult("truncation_invariance", passed, details, sorted(bad_columns),
                       {"cutoffs": [str(c) for c in cutoffs], "rows_compared": compared, "tickers": tickers})


@dataclass
class Matches:
    """table_matches_code's findings on some of the table's rows: merged across ticker batches (in_turn.py)."""

    rows: int
    shared: list[str]
    unverifiable: list[str]
    not_in_table: list[str]
    only_table: int = 0
    only_code: int = 0
    problems: dict[str, dict[str, Any]] = field(default_factory=dict)

    def merged(self, other: Matches, counted: bool = True) -> Matches:
        """Both parts' findings. A column's example is the first row of the recomputation (sorted by ts, ticker)
        that differs; `counted` False: `other` revisits rows already counted, to compare more columns."""
        problems = dict(self.problems)
        for column, found in other.problems.items():
            mine = problems.get(column)
            if mine is None:
                problems[column] = found
                continue
            first = min(mine, found, key=lambda p: (pd.Timestamp(p["example"]["ts"]), p["example"]["ticker"]))
            problems[column] = {"rows": mine["rows"] + found["rows"], "example": first["example"]}
        return Matches(self.rows + other.rows * counted, self.shared, self.unverifiable, self.not_in_table,
                       self.only_table + other.only_table * counted, self.only_code + other.only_code * counted,
                       {c: problems[c] for c in self.shared if c in problems})


def match_rows(table: pd.DataFrame, recomputed: pd.DataFrame, skip: tuple[str, ...] = ()) -> Matches:
    """Compare the table's rows with the recomputation's, every shared column but `skip`."""
    keys = ["ticker", "ts"]
    produced = set(recomputed.columns)
    unverifiable = [c for c in table.columns if c not in produced]
    not_in_table = [c for c in recomputed.columns if c not in table.columns]
    keyed_table = table.set_index(keys).index
    keyed_code = recomputed.set_index(keys).index
    only_table = int((~keyed_table.isin(keyed_code)).sum())
    only_code = int((~keyed_code.isin(keyed_table)).sum())
    shared = [c for c in table.columns if c in produced and c not in keys]
    problems = compare_frames(recomputed, table, [c for c in shared if c not in skip])
    return Matches(len(table), shared, unverifiable, not_in_table, only_table, only_code, problems)


def matches_result(found: Matches) -> CheckResult:
    problems, unverifiable = found.problems, found.unverifiable
    failed = sorted(set(problems) | set(unverifiable))
    passed = not failed and found.only_table == 0 and found.only_code == 0
    parts = []
    if unverifiable:
        parts.append(f"columns not produced by steps.features cannot be verified: {', '.join(unverifiable)}")
    for column, problem in problems.items():
        parts.append(f"{column} differs from the recomputation on {problem['rows']} rows (first {problem['example']})")
    if found.only_table or found.only_code:
        parts.append(f"{found.only_table} rows only in the table, {found.only_code} rows only in the recomputation")
    details = "; ".join(parts) if parts else f"{found.rows} rows x {len(found.shared)} columns equal the recomputation"
    if found.not_in_table:
        details += f" (not in the table, not checked: {', '.join(found.not_in_table)})"
    return CheckResult("table_matches_code", passed, details, failed,
                       {"unverifiable": unverifiable, "rows_only_in_table": found.only_table,
                        "rows_only_in_recomputation": found.only_code})


def table_matches_code(table: pd.DataFrame, recomputed: pd.DataFrame) -> CheckResult:
    return matches_result(match_rows(table, recomputed))


def label_alignment(table: pd.DataFrame, settings: FeatureSettings) -> CheckResult:
    ts, label_end = table["ts"], table["label_end"]
    missing = int(label_end.isna().sum())
    not_after = int((label_end <= ts).sum())
    problems, columns = [], []
    if missing or not_after:
        problems.append(f"{not_after} rows with label_end <= ts and {missing} with no label_end")
        columns.append("label_end")
    if "forward_return" in table.columns:
        expected = (table["forward_return"] > settings.label_dead_zone).astype("int64")
        wrong = int((expected != table["label"].astype("int64")).sum())
        if wrong:
            problems.append(f"{wrong} labels disagree with forward_return > {settings.label_dead_zone}")
            columns.append("label")
    passed = not problems
    details = "; ".join(problems) if problems else f"label_end > ts on all {len(table)} rows; labels match returns"
    return CheckResult("label_alignment", passed, details, columns)


def folds_are_clean(table: pd.DataFrame, folds: Folds, settings: FeatureSettings,
                    bar_label_end: np.ndarray | None = None) -> CheckResult:
    """`bar_label_end`: each row's label_end from the bars (BarPositions); purging is checked against it too."""
    problems = []
    previous_end = None
    for fold in folds.folds:
        order = [fold.train_start, fold.train_end, fold.validation_start, fold.validation_end]
        if not all(a <= b for a, b in itertools.pairwise(order)) or not fold.train_end < fold.validation_start:
            problems.append(f"fold {fold.fold} is not chronological (train {fold.train_start}..{fold.train_end}, "
                            f"validation {fold.validation_start}..{fold.validation_end})")
        if previous_end is not None and fold.validation_start <= previous_end:
            problems.append(f"fold {fold.fold} validation overlaps or precedes the previous fold's")
        previous_end = fold.validation_end
        if fold.validation_end >= folds.holdout_start or fold.train_end >= folds.holdout_start:
            problems.append(f"fold {fold.fold} reaches into the holdout (holdout_start {folds.holdout_start})")
    required = bar_interval(settings.frequency) * settings.embargo_bars
    if folds.embargo < required.floor("s"):
        problems.append(f"embargo {folds.embargo} is shorter than {settings.embargo_bars} bars ({required})")
    if folds.purge != "label_end":
        problems.append(f"purge is {folds.purge!r}, expected 'label_end'")
    holdout = holdout_mask(table, folds)
    for fold, (train, validation) in zip(folds.folds, fold_masks(table, folds), strict=True):
        if (train & validation).any():
            problems.append(f"fold {fold.fold}: {int((train & validation).sum())} rows in both train and validation")
        leaking = train & ~(table["label_end"] + folds.embargo < fold.validation_start).to_numpy()
        if leaking.any():
            problems.append(f"fold {fold.fold}: {int(leaking.sum())} train rows not purged")
        if bar_label_end is not None:
            true_end = pd.DatetimeIndex(bar_label_end).tz_localize("UTC")
            known = ~true_end.isna()
            overlapping = train & known & ~np.asarray(true_end + folds.embargo < fold.validation_start)
            if overlapping.any():
                problems.append(f"fold {fold.fold}: {int(overlapping.sum())} train rows whose label window (from the "
                                f"bars) plus the embargo reaches into validation ({fold.validation_start})")
        if ((train | validation) & holdout).any():
            problems.append(f"fold {fold.fold}: {int(((train | validation) & holdout).sum())} holdout rows in the fold")
        if (validation & (table["label_end"] >= folds.holdout_start).to_numpy()).any():
            problems.append(f"fold {fold.fold}: validation labels reach into the holdout")
    passed = not problems
    details = "; ".join(problems) if problems else (
        f"{len(folds.folds)} folds chronological, train purged on label_end + {folds.embargo}, "
        f"holdout ({int(holdout.sum())} rows from {folds.holdout_start}) outside every fold")
    return CheckResult("folds", passed, details, ["ts", "label_end"] if problems else [])


def duplicates(table: pd.DataFrame, folds: Folds, columns: list[str]) -> CheckResult:
    problems = []
    keys = table[["ticker", "ts"]]
    repeated = int(keys.duplicated().sum())
    if repeated:
        problems.append(f"{repeated} repeated (ticker, ts) rows")
    vectors = pd.util.hash_pandas_object(table[columns], index=False)
    # Only a vector that occurs twice can be shared between segments: intersect those rows alone (usually none)
    # instead of sorting every row once per fold.
    repeated_vector = vectors.duplicated(keep=False).to_numpy()
    vectors = vectors.to_numpy()
    holdout = holdout_mask(table, folds)
    in_folds = np.zeros(len(table), dtype=bool)
    for fold, (train, validation) in zip(folds.folds, fold_masks(table, folds), strict=True):
        shared = np.intersect1d(vectors[train & repeated_vector], vectors[validation & repeated_vector])
        if len(shared):
            problems.append(f"fold {fold.fold}: {len(shared)} identical feature vectors in train and validation")
        in_folds |= train | validation
    # The final refit trains on every row before the holdout, not only the folds' rows.
    shared_holdout = np.intersect1d(vectors[(in_folds | ~holdout) & repeated_vector],
                                    vectors[holdout & repeated_vector])
    if len(shared_holdout):
        problems.append(f"{len(shared_holdout)} identical feature vectors in the development rows (folds and refit) "
                        "and the holdout")
    passed = not problems
    details = "; ".join(problems) if problems else "no repeated rows or feature vectors across train/validation/holdout"
    return CheckResult("duplicates", passed, details, [] if passed else ["ticker", "ts"])


@dataclass
class BarPositions:
    """Where each table row sits among its ticker's bars, and what the bars say about it (no feature code)."""

    found: np.ndarray           # the row's (ticker, ts) is a bar close
    label_end: np.ndarray       # datetime64[ns]: ts of bar t+1+H, NaT past the data
    forward_return: np.ndarray  # close[t+1+H] / close[t+1] - 1
    past_return: np.ndarray     # close[t] / close[t-H] - 1: the same horizon, looking back


def _bar_groups(bars: Bars) -> dict[str, np.ndarray]:
    """Row positions of each ticker's bars: slices of polars bars (sorted by ticker, ts by validation), or a
    pandas groupby (any order)."""
    if isinstance(bars, pl.DataFrame):
        runs = bars.select(pl.col("ticker").rle()).unnest("ticker")
        stops = np.cumsum(runs["len"].to_numpy().astype(np.int64))
        return {str(t): np.arange(b - n, b) for t, n, b in zip(runs["value"].to_list(), runs["len"].to_list(), stops,
                                                                 strict=True)}
    return bars.groupby("ticker", sort=False).indices


def locate_rows(table: pd.DataFrame, bars: Bars, horizon: int) -> BarPositions:
    n = len(table)
    found = np.zeros(n, dtype=bool)
    label_end = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    forward, past = np.full(n, np.nan), np.full(n, np.nan)
    row_ts = table["ts"].to_numpy("datetime64[ns]")
    if isinstance(bars, pl.DataFrame):
        bar_ts_all = bars["ts"].dt.replace_time_zone(None).dt.cast_time_unit("ns").to_numpy()
        close_all = bars["close"].cast(pl.Float64).to_numpy()
    else:
        bar_ts_all = bars["ts"].to_numpy("datetime64[ns]")
        close_all = bars["close"].to_numpy(dtype="float64")
    bar_groups = _bar_groups(bars)
    for ticker, rows in table.groupby("ticker", sort=False).indices.items():
        members = bar_groups.get(ticker)
        if members is None:
            continue
        members = members[np.argsort(bar_ts_all[members], kind="stable")]
        ts, close = bar_ts_all[members], close_all[members]
        position = np.searchsorted(ts, row_ts[rows])
        inside = position < len(ts)
        hit = np.zeros(len(rows), dtype=bool)
        hit[inside] = ts[position[inside]] == row_ts[rows][inside]
        found[rows] = hit
        exit_, back = position + 1 + horizon, position - horizon
        has_forward = hit & (exit_ < len(ts))
        has_past = hit & (back >= 0)
        label_end[rows[has_forward]] = ts[exit_[has_forward]]
        forward[rows[has_forward]] = close[exit_[has_forward]] / close[position[has_forward] + 1] - 1.0
        past[rows[has_past]] = close[position[has_past]] / close[back[has_past]] - 1.0
    return BarPositions(found, label_end, forward, past)


def _differs(expected: np.ndarray, actual: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return ~(np.abs(expected - actual) <= RECOUNT_ATOL + 1e-9 * np.abs(expected))


Recounter = Callable[[pd.Timedelta], dict[str, np.ndarray]]  # lag -> each sentiment column at every table row


def timestamp_alignment(table: pd.DataFrame, positions: BarPositions, tweets: pd.DataFrame | None,
                        settings: FeatureSettings, recounter: Recounter | None = None) -> CheckResult:
    """`recounter`: the recount of the table's sentiment columns at a lag (default: from `tweets`, all at once);
    steps/leaks/in_turn.py passes one assembled batch by batch."""
    problems, columns = [], []
    off_bar = int((~positions.found).sum())
    if off_bar:
        problems.append(f"{off_bar} rows whose (ticker, ts) is not a bar close in the bars")
        columns.append("ts")
    labelled = ~pd.isna(positions.label_end)
    table_end = table["label_end"].to_numpy("datetime64[ns]")
    wrong_end = int((labelled & (table_end != positions.label_end)).sum())
    if wrong_end:
        problems.append(f"{wrong_end} rows whose label_end is not the close of bar t+1+{settings.label_horizon_bars} "
                        "(the label window must start after t and span the horizon)")
        columns.append("label_end")
    # Every sentiment column, read by its name (weighted sent_*, sent_daily, sent_pos_ratio_*, means, sums,
    # counts), recounted from the raw tweets apart from the feature code (steps/leaks/sentiment_recount.py).
    verifiable = parse_sentiment_columns(list(table.columns))
    lag = pd.Timedelta(seconds=settings.ingest_lag_seconds)
    if recounter is None:
        def recounter(at: pd.Timedelta) -> dict[str, np.ndarray]:
            return recount(table, tweets, verifiable, at)
    if verifiable:
        expected = recounter(lag)
        without_lag: dict[str, np.ndarray] | None = None  # recounted once, on the first disagreement
        for name, values in expected.items():
            actual = table[name].to_numpy(dtype="float64", na_value=np.nan)
            bad = _differs(values, actual)
            if not bad.any():
                continue
            columns.append(name)
            text = f"{name} differs from a recount of tweets created at or before t - {lag.total_seconds():g}s " \
                   f"on {int(bad.sum())} rows"
            if without_lag is None and lag > pd.Timedelta(0):
                without_lag = recounter(pd.Timedelta(0))
            if without_lag is not None and not _differs(without_lag[name][bad], actual[bad]).any():
                text += " (it matches a recount with no ingest lag: tweets counted before created_at + lag)"
            problems.append(text)
    passed = not problems
    details = "; ".join(problems) if problems else (
        f"every row on a bar close, label window = bars t+1..t+1+{settings.label_horizon_bars} after t"
        + (f"; {', '.join(verifiable)} equal a recount of tweets created at or before t - {lag.total_seconds():g}s"
           if verifiable else "; no tweet columns to recount"))
    return CheckResult("timestamp_alignment", passed, details, columns,
                       {"recounted_columns": sorted(verifiable)})


def _ranks(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Average ranks (1-based, ties averaged) of each column's non-NaN values; NaN stays NaN. One polars
    select ranks every column on all cores (numpy would sort them one at a time)."""
    frame = pl.DataFrame({name: pl.Series(name, values, dtype=pl.Float64, nan_to_null=True)
                          for name, values in columns.items()})
    ranked = frame.select(pl.all().rank("average").cast(pl.Float64))
    return {name: ranked[name].to_numpy() for name in columns}


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    ok = ~(np.isnan(a) | np.isnan(b))
    if ok.sum() < 50:
        return float("nan")
    x, y = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    scale = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / scale) if scale > 0 else 0.0


# The screen looks for features whose AUC alone is beyond 0.75 or whose rank correlation with the future
# return is beyond 0.3: on 50,000 rows the standard error of an AUC near 0.5 is about 0.0026 and that of a
# rank correlation about 0.0045, two orders of magnitude inside those margins, so a seeded sample of that
# size flags the same columns as every row at a seventh of the sorting (366,031 rows at full scale).
TARGET_LEAKAGE_MAX_ROWS = 50_000


def target_leakage(table: pd.DataFrame, folds: Folds, columns: list[str], past_return: np.ndarray,
                   thresholds: LeakThresholds = LeakThresholds()) -> CheckResult:
    """Single-feature AUC on the label, and rank correlation with the future vs the past return (development rows).

    Every column is ranked once; the AUC is the Mann-Whitney statistic of those ranks and the correlations are
    Spearman's (Pearson on ranks, pairwise complete): one sort per column instead of one per statistic.
    """
    development = ~holdout_mask(table, folds)
    rows = np.flatnonzero(np.asarray(development))
    if len(rows) > TARGET_LEAKAGE_MAX_ROWS:
        rows = np.sort(np.random.default_rng(0).choice(rows, TARGET_LEAKAGE_MAX_ROWS, replace=False))
    sample = table.iloc[rows]
    labels = sample["label"].to_numpy()
    future = sample["forward_return"].to_numpy(dtype="float64") if "forward_return" in table \
        else np.full(len(rows), np.nan)
    ranked = _ranks({"\0future": future, "\0past": np.asarray(past_return, dtype="float64")[rows],
                     **{column: sample[column].to_numpy(dtype="float64", na_value=np.nan) for column in columns}})
    future_ranks, past_ranks = ranked["\0future"], ranked["\0past"]
    limit = thresholds.max_single_feature_auc
    aucs, future_corr, past_corr, reasons = {}, {}, {}, {}
    for column in columns:
        ranks = ranked[column]
        ok = ~np.isnan(ranks)
        positives = labels[ok] == 1
        n_pos, n_neg = int(positives.sum()), int((~positives).sum())
        if ok.sum() >= 50 and n_pos and n_neg:
            auc = float((ranks[ok][positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
            aucs[column] = round(auc, 4)
            if abs(auc - 0.5) > limit - 0.5:
                reasons.setdefault(column, []).append(f"AUC {auc:.3f} alone")
        cf, cp = _correlation(ranks, future_ranks), _correlation(ranks, past_ranks)
        future_corr[column], past_corr[column] = round(cf, 4), round(cp, 4)
        if (not np.isnan(cf) and abs(cf) >= thresholds.min_future_correlation
                and abs(cf) > thresholds.max_future_to_past_correlation * abs(0.0 if np.isnan(cp) else cp)):
            reasons.setdefault(column, []).append(f"corr with future return {cf:+.3f} vs past return {cp:+.3f}")
    passed = not reasons
    if passed:
        details = (f"no single feature has AUC outside [{1 - limit:.2f}, {limit:.2f}] or a future-return rank "
                   f"correlation >= {thresholds.min_future_correlation} that exceeds "
                   f"{thresholds.max_future_to_past_correlation}x its past-return correlation")
    else:
        details = "implausibly predictive (target leakage?): " + "; ".join(
            f"{c}: {', '.join(r)}" for c, r in sorted(reasons.items()))
    return CheckResult("target_leakage", passed, details, sorted(reasons),
                       {"auc": aucs, "future_correlation": future_corr, "past_correlation": past_corr,
                        "thresholds": asdict(thresholds)})
