"""Run every leak check and write leak_report.json / leak_report.txt."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from steps.common.errors import StepInputError
from steps.common.feature_table import FeatureTable, load_feature_table
from steps.common.io import read_table, write_json, write_metrics, write_text
from steps.common.logging import StepTimer, log_input_size
from steps.common.validation import validate_bars, validate_tweets
from steps.features.build import build_features, feature_columns
from steps.features.settings import FeatureSettings
from steps.leaks.checks import (
    BuildFn,
    CheckResult,
    choose_cutoffs,
    duplicates,
    feature_label_association,
    folds_are_clean,
    label_alignment,
    table_matches_code,
    truncation_invariance,
)


def settings_from_manifest(table: FeatureTable) -> FeatureSettings:
    payload = table.manifest.get("settings")
    if not isinstance(payload, dict):
        raise StepInputError("has no 'settings'", file=table.folder / "manifest.json", column="settings",
                             fix="rebuild the features with steps.features")
    return FeatureSettings.from_json(payload)


def run_checks(table: FeatureTable, bars: pd.DataFrame, tweets: pd.DataFrame, *, cutoffs: int, seed: int,
               build: BuildFn = build_features, timer: StepTimer | None = None) -> list[CheckResult]:
    """All checks on a loaded table and validated inputs. `build` is injectable so tests can plant leaky code."""
    settings = settings_from_manifest(table)
    sectors = table.manifest.get("sectors") if "sector" in table.frame.columns else None
    frame = table.frame
    columns = [c for c in table.feature_columns if c in frame.columns]
    full = build(bars, tweets, settings, sectors=sectors, keep_unlabelled=True)
    recomputed = full[full["label"].notna()].copy()
    recomputed["label"] = recomputed["label"].astype("int64")
    chosen = choose_cutoffs(frame, cutoffs, seed)
    results = [truncation_invariance(full, bars, tweets, settings, sectors, chosen, build),
               table_matches_code(frame, recomputed.reset_index(drop=True)),
               label_alignment(frame, settings),
               folds_are_clean(frame, table.folds, settings),
               duplicates(frame, table.folds, columns or feature_columns(settings)),
               feature_label_association(frame, table.folds, columns)]
    return results


def report_text(results: list[CheckResult]) -> str:
    passed = all(r.passed for r in results)
    lines = [f"LEAK REPORT: {'PASSED' if passed else 'FAILED'}", ""]
    for r in results:
        mark = "PASS" if r.passed else "FAIL"
        suffix = f" [columns: {', '.join(r.columns)}]" if r.columns and not r.passed else ""
        lines.append(f"{mark}  {r.name}: {r.details}{suffix}")
    return "\n".join(lines) + "\n"


def failure_summary(results: list[CheckResult]) -> str:
    """One line for the pipeline's FailStep message: each failed check with the columns it names."""
    failed = [r for r in results if not r.passed]
    if not failed:
        return "no leaks found"
    parts = [f"{r.name} ({', '.join(r.columns[:8])}{', ...' if len(r.columns) > 8 else ''})" if r.columns
             else r.name for r in failed]
    return f"{len(failed)} failed check(s): " + "; ".join(parts)


def run_leaks(features_dir: str | Path, bars_dir: str | Path, tweets_dir: str | Path | None,
              output: str | Path, *, cutoffs: int, seed: int, logger: logging.Logger) -> dict[str, Any]:
    timer = StepTimer(logger)
    with timer.block("read_inputs"):
        table = load_feature_table(features_dir)
        bars = validate_bars(read_table(bars_dir, name="bars"), bars_dir)
        raw_tweets = read_table(tweets_dir, name="tweets", allow_empty=True) if tweets_dir else pd.DataFrame()
        tweets = validate_tweets(raw_tweets, tweets_dir or "tweets")
    log_input_size(logger, "features", table.frame, table.folder)
    log_input_size(logger, "bars", bars, bars_dir)
    log_input_size(logger, "tweets", tweets, tweets_dir)
    with timer.block("checks"):
        results = run_checks(table, bars, tweets, cutoffs=cutoffs, seed=seed, timer=timer)
    passed = all(r.passed for r in results)
    report = {"passed": passed,
              "summary": failure_summary(results),
              "checks": [{"name": r.name, "passed": r.passed, "details": r.details, "columns": r.columns}
                         for r in results],
              "features": str(table.folder), "cutoffs": cutoffs, "seed": seed}
    out = Path(output)
    write_json(report, out / "leak_report.json")
    write_text(report_text(results), out / "leak_report.txt")
    write_metrics(out, {"timings_s": timer.as_metrics(), "passed": passed,
                        "failed_checks": [r.name for r in results if not r.passed],
                        "rows": len(table.frame), "bars": len(bars), "tweets": len(tweets)})
    for r in results:
        (logger.info if r.passed else logger.error)("%s %s: %s", "PASS" if r.passed else "FAIL", r.name, r.details)
    return report
