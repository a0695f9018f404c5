"""Run every leak check and write leak_report.json / leak_report.txt."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from steps.common.feature_table import FeatureTable
from steps.common.folds import load_folds
from steps.common.io import OUTPUT_MANIFEST, clear_outputs, write_json, write_manifest, write_metrics, write_text
from steps.common.logging import StepTimer, log_input_size
from steps.common.validation import validate_bars
from steps.features.baseline import write_baseline
from steps.features.build import build_features
from steps.features.catalogue import feature_columns
from steps.features.in_turn import ticker_batches_of
from steps.features.inputs import read_bars, read_tweets
from steps.features.settings import FeatureSettings
from steps.features.table import load_feature_table
from steps.leaks.asymmetry import AsymmetryThresholds
from steps.leaks.causality import causality
from steps.leaks.checks.common import Bars, CheckResult
from steps.leaks.checks.table_matches_code import table_matches_code
from steps.leaks.checks.target_leakage import LeakThresholds
from steps.leaks.checks.timestamp_alignment import locate_rows
from steps.leaks.checks.truncation_invariance import BuildFn, choose_cutoffs, choose_tickers, truncation_invariance
from steps.leaks.contracts import settings_contract
from steps.leaks.in_turn import release_freed_memory, run_checks_in_turn
from steps.leaks.replay import Replay, replay_decision_rows
from steps.leaks.sentiment_recount import engagement_tally
from steps.leaks.table_checks import labelled_rows, settings_from_manifest, table_checks

OUTPUTS = ["leak_report.json", "leak_report.txt", "metrics.json"]


def run_checks(table: FeatureTable, bars: Bars, tweets: pd.DataFrame, *, cutoffs: int, seed: int,
               truncation_tickers: int = 0, build: BuildFn = build_features, timer: StepTimer | None = None,
               thresholds: LeakThresholds = LeakThresholds(), contract: FeatureSettings | None = None,
               asymmetry: AsymmetryThresholds = AsymmetryThresholds()) -> list[CheckResult]:
    """All checks on a loaded table and validated inputs. `build` is injectable so tests can plant leaky code.

    `contract`: the configured feature settings (the pipeline passes configs/pipeline.yaml's). Every check
    recomputes, recounts and purges with them, and settings_contract fails on any difference from what the
    table's manifest records. Without one, the manifest's settings are used and settings_contract fails:
    a table cannot be its own contract.

    Three independent lines of work share the cores (the builds and most checks are numpy/polars/numba
    work that releases the GIL): the full recomputation and the table comparison here, the truncated
    rebuilds in one thread, and the checks that need only the table, bars and tweets in another, followed
    by the causal replay (steps/leaks/replay.py) that the causality check compares with both.
    """
    timer = timer or StepTimer(logging.getLogger("leaks"))
    if contract is not None:  # which optional inputs are absent is a fact of the bars, not a setting to configure
        contract = contract.with_bars(bars.columns)
    contract_check = settings_contract(table.manifest.get("settings"), contract, table.folder / "manifest.json")
    settings = contract if contract is not None else settings_from_manifest(table)
    sectors = table.manifest.get("sectors") if "sector" in table.frame.columns else None
    frame = table.frame
    columns = [c for c in table.feature_columns if c in frame.columns]
    chosen = choose_cutoffs(frame, cutoffs, seed)
    tickers = choose_tickers(bars, truncation_tickers, seed, sectors)

    def truncation() -> CheckResult:
        with timer.block("truncation_invariance"):
            return truncation_invariance(None, bars, tweets, settings, sectors, chosen, build, tickers)

    def table_only() -> list[CheckResult]:
        """The checks that read the table against the bars and tweets, never the feature code."""
        with timer.block("locate_rows"):
            positions = locate_rows(frame, bars, settings.label_horizon_bars)
        return table_checks(table, positions, tweets, settings, timer, thresholds, asymmetry)

    def replay() -> Replay:
        """Every decision row replayed from the data in time order (steps/leaks/replay.py)."""
        with timer.block("causal_replay"):
            return replay_decision_rows(bars, tweets, settings, sectors, [*columns, *feature_columns(settings)])

    # Two workers, the replay queued behind the first of the others to finish: a third thread bought no wall
    # time on two cores and cost ~0.8 s of system time (page faults of concurrent threads contend).
    with ThreadPoolExecutor(max_workers=2) as pool:
        truncated = pool.submit(truncation)
        independent = pool.submit(table_only)
        replayed = pool.submit(replay)
        with timer.block("recompute_full"):
            full = build(bars, tweets, settings, sectors=sectors, keep_unlabelled=True)
            recomputed = labelled_rows(full)
        with timer.block("table_matches_code"):
            matches = table_matches_code(frame, recomputed)
        with timer.block("causality"):
            causal = causality(frame, columns, replayed.result(), full)
        with timer.block("wait_for_threads"):
            results = [contract_check, causal, truncated.result(), matches, *independent.result()]
    return results


def report_text(results: list[CheckResult], engagement: str | None = None) -> str:
    passed = all(r.passed for r in results)
    lines = [f"LEAK REPORT: {'PASSED' if passed else 'FAILED'}", ""]
    for r in results:
        mark = "PASS" if r.passed else "FAIL"
        suffix = f" [columns: {', '.join(r.columns)}]" if r.columns and not r.passed else ""
        lines.append(f"{mark}  {r.name}: {r.details}{suffix}")
    if engagement:
        lines += ["", engagement]
    return "\n".join(lines) + "\n"


def engagement_line(counts: dict[str, int], lag_seconds: float, manifest: dict[str, Any]) -> str:
    """What the recount weighted by engagement and what it weighed 1 (sentiment_recount.engagement_tally), and
    whether the features manifest counted the same: one line of the report."""
    line = (f"engagement: the recount weighted {counts['used']} tweets by counts read by created_at + "
            f"{lag_seconds:g}s, and weighed 1 {counts['neutralised_late']} whose counts were read later and "
            f"{counts['neutralised_unknown']} read at an unknown time")
    built = manifest.get("engagement")
    if built is None:
        return line + " (the features manifest has no engagement counts)"
    same = all(int(built.get(k, -1)) == int(v) for k, v in counts.items())
    return line + (" (the features manifest counts the same)" if same else f" (the features manifest says {built})")


def failure_summary(results: list[CheckResult]) -> str:
    """One line for the pipeline's FailStep message: each failed check with the columns it names. A column
    the code cannot reproduce is called unverifiable, apart from the columns found to differ (it fails the
    gate all the same: nothing shows it is causal, nor that it is not)."""
    failed = [r for r in results if not r.passed]
    if not failed:
        return "no leaks found"

    def listed(columns: list[str]) -> str:
        return ", ".join(columns[:8]) + (", ..." if len(columns) > 8 else "")

    parts = []
    for r in failed:
        unverifiable = [c for c in r.data.get("unverifiable", []) if c in r.columns]
        found = [c for c in r.columns if c not in unverifiable]
        named = ([listed(found)] if found else []) + ([f"unverifiable: {listed(unverifiable)}"] if unverifiable else [])
        parts.append(f"{r.name} ({'; '.join(named)})" if named else r.name)
    return f"{len(failed)} failed check(s): " + "; ".join(parts)


def run_leaks(features_dir: str | Path, bars_dir: str | Path, tweets_dir: str | Path | None,
              output: str | Path, *, cutoffs: int, seed: int, logger: logging.Logger,
              truncation_tickers: int = 0, folds_file: str | Path | None = None,
              thresholds: LeakThresholds = LeakThresholds(),
              baseline_output: str | Path | None = None, contract: FeatureSettings | None = None,
              asymmetry: AsymmetryThresholds = AsymmetryThresholds(), ticker_batches: int = 1) -> dict[str, Any]:
    """`ticker_batches` > 1 with bars partitioned as ticker=X/: the bars are read and checked in that many batches
    of tickers in turn (steps/leaks/in_turn.py: the same report, the memory of a batch plus the table); bars laid
    out otherwise are read in one pass, with a warning, as steps.features does.

    `baseline_output`: also write the data-quality baseline (Model Monitor's statistics.json and
    constraints.json) of the table's training rows there (steps/features/baseline.py). This step writes it
    because it is the first to read the whole table: with several BuildFeatures instances, no instance
    sees every ticker or the folds (the shards are merged on read)."""
    timer = StepTimer(logger)
    batches = ticker_batches_of(bars_dir, ticker_batches, logger, "checked")
    with timer.block("read_inputs"):
        table = load_feature_table(features_dir)
        if folds_file is not None:
            table.folds = load_folds(folds_file)
        release_freed_memory()  # what reading the table left in pyarrow's allocator
    log_input_size(logger, "features", table.frame, table.folder)
    if batches:
        with timer.block("checks"):
            results, read = run_checks_in_turn(
                table, bars_dir, tweets_dir, batches, cutoffs=cutoffs, seed=seed,
                truncation_tickers=truncation_tickers, timer=timer, thresholds=thresholds, contract=contract,
                asymmetry=asymmetry, logger=logger)
        bar_rows, tweet_rows, engagement = read["bars"], read["tweets"], read["engagement"]
    else:
        with timer.block("read_inputs"), ThreadPoolExecutor(max_workers=1) as pool:  # tweets beside the bars
            pending = pool.submit(read_tweets, tweets_dir, logger=logger)
            bars = validate_bars(read_bars(bars_dir), bars_dir, as_polars=True)
            tweets = pending.result()
        log_input_size(logger, "bars", bars, bars_dir)
        log_input_size(logger, "tweets", tweets, tweets_dir)
        with timer.block("checks"):
            results = run_checks(table, bars, tweets, cutoffs=cutoffs, seed=seed,
                                 truncation_tickers=truncation_tickers, timer=timer, thresholds=thresholds,
                                 contract=contract, asymmetry=asymmetry)
        bar_rows, tweet_rows = len(bars), len(tweets)
        engagement = engagement_tally(tweets, pd.Timedelta(seconds=_lag_seconds(table, contract)))
        del bars, tweets
    passed = all(r.passed for r in results)
    engagement = {"used": 0, "neutralised_late": 0, "neutralised_unknown": 0, **engagement}
    said = engagement_line(engagement, _lag_seconds(table, contract), table.manifest)
    report = {"passed": passed,
              "summary": failure_summary(results),
              "checks": [{"name": r.name, "passed": r.passed, "details": r.details, "columns": r.columns}
                         for r in results],
              "features": str(table.folder), "folds": str(folds_file or table.folder / "folds.json"),
              "cutoffs": cutoffs, "truncation_tickers": truncation_tickers, "seed": seed,
              "thresholds": {**asdict(thresholds), **asdict(asymmetry)},
              "contract": contract.to_json() if contract is not None else None,
              "target_leakage": next(r.data for r in results if r.name == "target_leakage"),
              "past_future_asymmetry": next(r.data for r in results if r.name == "past_future_asymmetry"),
              "causality": next(r.data for r in results if r.name == "causality"),
              "engagement": {**engagement, "line": said}}
    baseline = None
    if baseline_output is not None:
        with timer.block("baseline"):
            baseline = write_baseline(table, table.feature_columns, baseline_output)
    out = Path(output)
    clear_outputs(out, [OUTPUT_MANIFEST, *OUTPUTS])  # the old manifest first: no new file under an old listing
    write_json(report, out / "leak_report.json")
    write_text(report_text(results, said), out / "leak_report.txt")
    write_metrics(out, {"timings_s": timer.as_metrics(), "passed": passed,
                        "failed_checks": [r.name for r in results if not r.passed],
                        "rows": len(table.frame), "bars": bar_rows, "tweets": tweet_rows,
                        "ticker_batches": len(batches) if batches else 1,
                        **({"baseline": baseline} if baseline else {})})
    write_manifest(out, OUTPUTS, step="leaks", passed=passed)  # last: the report folder is complete
    for r in results:
        (logger.info if r.passed else logger.error)("%s %s: %s", "PASS" if r.passed else "FAIL", r.name, r.details)
    logger.info("%s", said)
    return report


def _lag_seconds(table: FeatureTable, contract: FeatureSettings | None) -> float:
    """The ingest lag the checks recount with (run_checks: the contract's, else the manifest's)."""
    return (contract if contract is not None else settings_from_manifest(table)).ingest_lag_seconds
