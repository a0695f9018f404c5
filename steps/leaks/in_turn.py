"""The leak checks with the bars read one batch of tickers at a time (`--ticker-batches N`, `leaks.ticker_batches`).

Why: in one pass the step holds every bar, every tweet, the table, the full recomputation, the truncated rebuilds
and the causal replay at once (10.1 GB at five years of the universe, docs/performance.md). Here a batch of
`ticker=` partitions is read (pyarrow prunes the others unread, as steps/features/in_turn.py does), its tweets
alone, and everything that needs bars is done on it before the next batch is read:

- where each table row sits among its ticker's bars (locate_rows) and the recount of the table's sentiment
  columns: per ticker, so the batch's rows of the table are computed and written into whole-table arrays (in the
  table's row order) that the table-only checks then read as in one pass;
- the full recomputation (`build`, keep_unlabelled) and the causal replay of the batch's tickers (the replay in a
  second thread beside the build, as in one pass): table_matches_code and causality compare the batch's table rows
  with them at once and keep only their findings (Matches, CausalityAccumulator: per column the rows, the span and
  the first row, merged into the one-pass report). What is kept of the batch is its code rows' and replayed
  `ret_w`: after the last batch the market- and sector-relative returns are recomputed over every batch at each
  instant (shards.merge_rows for the code's rows, as the features' in-turn build does; replay.combine_replays for
  the replay's: each mean still averages only rows stamped t, so the replay stays causal) and compared on every
  row;
- truncation_invariance on the sampled tickers: their partitions are read as one more batch (the sample is a
  sub-universe in one pass too, so the check is the same). With `truncation_tickers` 0 (every ticker) it runs per
  batch instead, each batch its own sub-universe.

What is not exact, and why:
- a leak planted in the *code's* relative returns (`build`'s mkt_/sec_rel_ret) is replaced by the merge's
  recomputation before table_matches_code and causality compare, as in the features' in-turn build: causality
  still holds the table's own relative returns to the replay, and the sampled truncation runs `build` whole;
- with `truncation_tickers` 0, cross-sectional features in the truncation check refer to the batch, not the
  universe, and a failure names the first batch's first example;
- tweets about tickers in no bar partition and no table row are never read (never validated), and metrics.json
  counts the tweets read.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa

from steps.common.errors import StepInputError
from steps.common.feature_table import FeatureTable
from steps.common.logging import StepTimer
from steps.common.validation import validate_bars
from steps.features.build import build_features
from steps.features.catalogue import feature_columns
from steps.features.in_turn import read_batch_bars, read_batch_tweets
from steps.features.settings import FeatureSettings
from steps.features.shards import merge_rows
from steps.leaks.asymmetry import AsymmetryThresholds
from steps.leaks.causality import CausalityAccumulator
from steps.leaks.checks.common import CheckResult
from steps.leaks.checks.table_matches_code import Matches, match_rows, matches_result
from steps.leaks.checks.target_leakage import LeakThresholds
from steps.leaks.checks.timestamp_alignment import RECOUNT_ATOL, BarPositions, locate_rows
from steps.leaks.checks.truncation_invariance import BuildFn, choose_cutoffs, choose_tickers, truncation_invariance
from steps.leaks.contracts import settings_contract
from steps.leaks.replay import Replay, combine_replays, replay_decision_rows
from steps.leaks.sentiment_recount import engagement_tally, parse_sentiment_columns, recount
from steps.leaks.table_checks import labelled_rows, settings_from_manifest, table_checks


class BatchedRecount:
    """The table's sentiment columns recounted batch by batch into whole-table arrays (timestamp_alignment's
    `recounter`). The recount with no ingest lag, which timestamp_alignment reads only on the rows that disagree,
    is made for the batches that hold such a row (the others are NaN: never read)."""

    def __init__(self, frame: pd.DataFrame, lag: pd.Timedelta) -> None:
        self.frame, self.lag = frame, lag
        self.columns = parse_sentiment_columns(list(frame.columns))
        self.with_lag = {name: np.zeros(len(frame)) for name in self.columns}
        self.without_lag: dict[str, np.ndarray] = {}  # allocated at the first batch that needs it

    def add(self, rows: np.ndarray, keys: pd.DataFrame, tweets: pd.DataFrame) -> None:
        """Recount the table rows `rows` (their ticker and ts in `keys`) from the batch's `tweets`."""
        if not self.columns or not len(rows):
            return
        expected = recount(keys, tweets, self.columns, self.lag)
        disagrees = False
        for name, values in expected.items():
            self.with_lag[name][rows] = values
            actual = self.frame[name].to_numpy(dtype="float64", na_value=np.nan)[rows]
            with np.errstate(invalid="ignore"):
                disagrees |= bool((~(np.abs(values - actual) <= RECOUNT_ATOL + 1e-9 * np.abs(values))).any())
        if disagrees and self.lag > pd.Timedelta(0):
            for name, values in recount(keys, tweets, self.columns, pd.Timedelta(0)).items():
                self.without_lag.setdefault(name, np.full(len(self.frame), np.nan))[rows] = values

    def __call__(self, lag: pd.Timedelta) -> dict[str, np.ndarray]:
        return self.with_lag if lag == self.lag else self.without_lag


def release_freed_memory() -> None:
    """Hand back to the system the pages that allocators keep after frames are freed: pyarrow's mimalloc holds
    about 1 GB after reading five years' table, and glibc's malloc the fragments of a batch's polars and numpy
    work; both would count against the step's peak as if in use."""
    pa.default_memory_pool().release_unused()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None  # glibc only
    except OSError:
        return None


_LIBC = _libc()


def _empty_positions(rows: int) -> BarPositions:
    return BarPositions(np.zeros(rows, dtype=bool), np.full(rows, np.datetime64("NaT"), dtype="datetime64[ns]"),
                        np.full(rows, np.nan), np.full(rows, np.nan))


def _place(positions: BarPositions, rows: np.ndarray, batch: BarPositions) -> None:
    positions.found[rows] = batch.found
    positions.label_end[rows] = batch.label_end
    positions.forward_return[rows] = batch.forward_return
    positions.past_return[rows] = batch.past_return


def _batch_inputs(bars_dir: Path, tweets_dir: Path | None, tickers: list[str]) -> tuple[pl.DataFrame | None,
                                                                                         pd.DataFrame]:
    """A batch's validated bars (None when its partitions hold no rows) and its tweets."""
    raw = read_batch_bars(bars_dir, tickers)
    bars = validate_bars(raw, bars_dir, as_polars=True) if raw.height else None
    return bars, read_batch_tweets(tweets_dir, tickers, None, [])  # type: ignore[return-value]


def _merge_truncations(results: list[CheckResult], cutoffs: list[pd.Timestamp]) -> CheckResult:
    """truncation_invariance over every ticker, run per batch: one result (see the module docstring)."""
    compared = sum(r.data["rows_compared"] for r in results)
    failed = [r for r in results if not r.passed]
    if not failed:
        details = (f"{len(cutoffs)} cut-offs, {compared} rows at or before them on all tickers: every feature equals "
                   "the full computation")
    else:
        details = failed[0].details
    return CheckResult("truncation_invariance", not failed, details,
                       sorted({c for r in failed for c in r.columns}),
                       {"cutoffs": [str(c) for c in cutoffs], "rows_compared": compared, "tickers": None})


def run_checks_in_turn(table: FeatureTable, bars_dir: str | Path, tweets_dir: str | Path | None,
                       batches: list[list[str]], *, cutoffs: int, seed: int, truncation_tickers: int = 0,
                       build: BuildFn = build_features, timer: StepTimer | None = None,
                       thresholds: LeakThresholds = LeakThresholds(), contract: FeatureSettings | None = None,
                       asymmetry: AsymmetryThresholds = AsymmetryThresholds(),
                       logger: logging.Logger | None = None) -> tuple[list[CheckResult], dict[str, Any]]:
    """run_checks' results, in its order, from the bars read in `batches` of tickers in turn (module docstring);
    also the bars and tweets read and the tweets' engagement_tally. Bad input in any batch raises StepInputError
    before anything is written."""
    logger = logger or logging.getLogger("leaks")
    timer = timer or StepTimer(logger)
    source = Path(bars_dir)
    tweets_source = Path(tweets_dir) if tweets_dir is not None else None
    frame = table.frame
    sectors = table.manifest.get("sectors") if "sector" in frame.columns else None
    columns = [c for c in table.feature_columns if c in frame.columns]
    chosen = choose_cutoffs(frame, cutoffs, seed)
    relative: tuple[str, ...] = ()  # the relative returns' columns and what the code and replay keep for them
    thin: set[str] = set()
    # Table rows of tickers in no partition: read with the last batch (their tweets are recounted, as in one pass).
    partitioned = {t for batch in batches for t in batch}
    batches = [list(b) for b in batches]
    batches[-1] += sorted(set(frame["ticker"].astype(str).unique()) - partitioned)
    ticker_of_row = frame["ticker"].astype(str)

    positions = _empty_positions(len(frame))
    recounted: BatchedRecount | None = None
    settings: FeatureSettings | None = None
    contract_check: CheckResult | None = None
    matches: Matches | None = None
    causal: CausalityAccumulator | None = None
    code_thin: list[pl.DataFrame] = []  # what the relative returns need of the code's rows and the replay's
    replay_thin: list[Replay] = []
    present: list[str] = []
    per_batch_truncation: list[CheckResult] = []
    counts: dict[str, Any] = {"bars": 0, "tweets": 0, "engagement": {}}
    without_bars = 0
    every_ticker = truncation_tickers <= 0 or truncation_tickers >= len(partitioned)  # choose_tickers: None
    with ThreadPoolExecutor(max_workers=1) as pool:
        for number, tickers in enumerate(batches, start=1):
            with timer.block("read_batches"):
                bars, tweets = _batch_inputs(source, tweets_source, tickers)
            rows = np.flatnonzero(ticker_of_row.isin(tickers).to_numpy())
            keys = frame[["ticker", "ts"]].iloc[rows].reset_index(drop=True)
            if bars is None:  # partitions without rows: the batch's table rows are in no recomputation
                without_bars += len(rows)
            if settings is None:
                if bars is None:
                    if number == len(batches):
                        raise StepInputError("no bars (the input is empty)", file=source,
                                             fix="pass a folder with bar files")
                    logger.warning("batch %d of %d (%s): no bars", number, len(batches), ", ".join(tickers))
                    continue
                if contract is not None:  # which optional inputs are absent is a fact of the bars
                    contract = contract.with_bars(bars.columns)
                contract_check = settings_contract(table.manifest.get("settings"), contract,
                                                   table.folder / "manifest.json")
                settings = contract if contract is not None else settings_from_manifest(table)
                recounted = BatchedRecount(frame, pd.Timedelta(seconds=settings.ingest_lag_seconds))
                relative = tuple(f"{kind}_rel_ret_{w}" for w in settings.windows for kind in ("mkt", "sec"))
                thin = {"ticker", "ts", "label", "label_end", *(f"ret_{w}" for w in settings.windows), *relative}
            assert recounted is not None
            with timer.block("recount"):
                recounted.add(rows, keys, tweets)
            counts["tweets"] += len(tweets)
            tally = engagement_tally(tweets, recounted.lag)
            counts["engagement"] = {k: counts["engagement"].get(k, 0) + v for k, v in tally.items()}
            if bars is None:
                logger.warning("batch %d of %d (%s): no bars", number, len(batches), ", ".join(tickers))
                continue
            counts["bars"] += bars.height
            present += [str(t) for t in bars["ticker"].unique().to_list()]
            replayed = pool.submit(replay_decision_rows, bars, tweets, settings, sectors,
                                   [*columns, *feature_columns(settings)])
            with timer.block("recompute_full"):
                code = build(bars, tweets, settings, sectors=sectors, keep_unlabelled=True)
            with timer.block("causal_replay"):
                replay = replayed.result()
            with timer.block("compare_batch"):
                table_rows = frame.iloc[rows].reset_index(drop=True)
                found = match_rows(table_rows, labelled_rows(code), skip=relative)
                matches = found if matches is None else matches.merged(found)
                if causal is None:
                    causal = CausalityAccumulator(frame, columns, set(replay.columns), code=True)
                causal.add(table_rows, rows, replay, code, columns=set(replay.columns) - set(relative))
                # Copies: a column selection (pandas) or a replayed column (a row of the replay's 2-D output)
                # would keep the batch's whole block alive until the end.
                code_thin.append(pl.from_pandas(code[[c for c in code.columns if c in thin]].copy(deep=True)))
                replay_thin.append(Replay(replay.tickers, replay.ts_ns,
                                          {c: v.copy() for c, v in replay.columns.items() if c in thin},
                                          replay.slices))
                del table_rows, code, replay, found
            with timer.block("locate_rows"):
                _place(positions, rows, locate_rows(keys, bars, settings.label_horizon_bars))
            if every_ticker and chosen:
                with timer.block("truncation_invariance"):
                    per_batch_truncation.append(truncation_invariance(None, bars, tweets, settings, sectors, chosen,
                                                                      build))
            logger.info("batch %d of %d: %d tickers, %d bars, %d tweets", number, len(batches), len(tickers),
                        bars.height, len(tweets))
            del bars, tweets, replayed
            release_freed_memory()
    assert settings is not None and contract_check is not None and recounted is not None
    assert matches is not None and causal is not None
    matches.rows, matches.only_table = matches.rows + without_bars, matches.only_table + without_bars
    with timer.block("relative_returns"):  # over every batch's rows at each instant, then compared on every row
        code_all = merge_rows(code_thin, settings, sectors, keep_unlabelled=True)
        replay_all = combine_replays(replay_thin, settings, sectors)
        table_all = frame[["ticker", "ts", *[c for c in relative if c in frame.columns]]]
        matches = matches.merged(match_rows(table_all, labelled_rows(code_all)), counted=False)
        causal.add(table_all, np.arange(len(frame)), replay_all, code_all, columns=set(relative), counted=False)
        del code_all, replay_all, table_all
    release_freed_memory()
    independent = table_checks(table, positions, None, settings, timer, thresholds, asymmetry, recounted)
    del recounted
    truncated = _truncation(source, tweets_source, present, settings, sectors, chosen, build, truncation_tickers,
                            seed, per_batch_truncation if every_ticker else None, timer)
    return [contract_check, causal.result(), truncated, matches_result(matches), *independent], counts


def _truncation(bars_dir: Path, tweets_dir: Path | None, present: list[str], settings: FeatureSettings,
                sectors: Mapping[str, str] | None, chosen: list[pd.Timestamp], build: BuildFn,
                truncation_tickers: int, seed: int, per_batch: list[CheckResult] | None,
                timer: StepTimer) -> CheckResult:
    """The sampled tickers' partitions read as one more batch (exactly the one-pass check), or the per-batch
    results (`per_batch`) merged when every ticker is checked."""
    if per_batch is not None:
        return _merge_truncations(per_batch, chosen)
    tickers = choose_tickers(pl.DataFrame({"ticker": present}), truncation_tickers, seed, sectors)
    with timer.block("truncation_invariance"):
        bars, tweets = _batch_inputs(bars_dir, tweets_dir, tickers if tickers is not None else present)
        assert bars is not None  # the tickers were present in a batch
        return truncation_invariance(None, bars, tweets, settings, sectors, chosen, build, tickers)
