"""The leak checks. Each returns a CheckResult; none raises on a leak (the report says it).

(a) truncation_invariance: the *code* — features recomputed from inputs cut at random instants equal
    the full computation on every row at or before the cut.
(b) table_matches_code: the *table* — the given features equal a recomputation from the inputs with the
    manifest's settings; a column the code does not produce cannot be verified, and fails.
(c) label_alignment: every label window ends after its row (label_end > ts) and labels match returns.
(d) folds: chronological, purged and embargoed train rows, holdout outside every fold.
(e) duplicates: no (ticker, ts) twice, no row or identical feature vector in two of train/validation/holdout.
(f) feature_label_association: no single feature separates the labels implausibly well (AUC > 0.75 or
    < 0.25 on development rows): the usual symptom of a label or future return copied into a feature.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from steps.common.folds import Folds, bar_interval, fold_masks, holdout_mask
from steps.features.build import feature_columns
from steps.features.settings import FeatureSettings
from steps.leaks.compare import compare_frames

BuildFn = Callable[..., pd.DataFrame]
ASSOCIATION_LIMIT = 0.75


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


def truncation_invariance(full: pd.DataFrame, bars: pd.DataFrame, tweets: pd.DataFrame,
                          settings: FeatureSettings, sectors: Mapping[str, str] | None,
                          cutoffs: list[pd.Timestamp], build: BuildFn) -> CheckResult:
    columns = feature_columns(settings)
    bad_columns: dict[str, dict[str, object]] = {}
    row_problems = []
    compared = 0
    for cutoff in cutoffs:
        truncated = build(bars[bars["ts"] <= cutoff], tweets[tweets["created_at"] <= cutoff], settings,
                          sectors=sectors, keep_unlabelled=True)
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
    if passed:
        details = (f"{len(cutoffs)} cut-offs, {compared} rows at or before them: every feature equals the full "
                   "computation")
    else:
        parts = [f"{c} differs on {p['rows']} rows (first {p['example']}, cut-off {p['cutoff']})"
                 for c, p in bad_columns.items()]
        details = "features change when later data is removed (look-ahead in the code): " + "; ".join(
            parts + row_problems)
    return CheckResult("truncation_invariance", passed, details, sorted(bad_columns),
                       {"cutoffs": [str(c) for c in cutoffs], "rows_compared": compared})


def table_matches_code(table: pd.DataFrame, recomputed: pd.DataFrame) -> CheckResult:
    keys = ["ticker", "ts"]
    produced = set(recomputed.columns)
    unverifiable = [c for c in table.columns if c not in produced]
    not_in_table = [c for c in recomputed.columns if c not in table.columns]
    keyed_table = table.set_index(keys).index
    keyed_code = recomputed.set_index(keys).index
    only_table = int((~keyed_table.isin(keyed_code)).sum())
    only_code = int((~keyed_code.isin(keyed_table)).sum())
    shared = [c for c in table.columns if c in produced and c not in keys]
    problems = compare_frames(recomputed, table, shared)
    failed = sorted(set(problems) | set(unverifiable))
    passed = not failed and only_table == 0 and only_code == 0
    parts = []
    if unverifiable:
        parts.append(f"columns not produced by steps.features cannot be verified: {', '.join(unverifiable)}")
    for column, problem in problems.items():
        parts.append(f"{column} differs from the recomputation on {problem['rows']} rows (first {problem['example']})")
    if only_table or only_code:
        parts.append(f"{only_table} rows only in the table, {only_code} rows only in the recomputation")
    details = "; ".join(parts) if parts else f"{len(table)} rows x {len(shared)} columns equal the recomputation"
    if not_in_table:
        details += f" (not in the table, not checked: {', '.join(not_in_table)})"
    return CheckResult("table_matches_code", passed, details, failed,
                       {"unverifiable": unverifiable, "rows_only_in_table": only_table,
                        "rows_only_in_recomputation": only_code})


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


def folds_are_clean(table: pd.DataFrame, folds: Folds, settings: FeatureSettings) -> CheckResult:
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
    vectors = pd.util.hash_pandas_object(table[columns], index=False).to_numpy()
    holdout = holdout_mask(table, folds)
    in_folds = np.zeros(len(table), dtype=bool)
    for fold, (train, validation) in zip(folds.folds, fold_masks(table, folds), strict=True):
        shared = np.intersect1d(vectors[train], vectors[validation])
        if len(shared):
            problems.append(f"fold {fold.fold}: {len(shared)} identical feature vectors in train and validation")
        in_folds |= train | validation
    shared_holdout = np.intersect1d(vectors[in_folds], vectors[holdout])
    if len(shared_holdout):
        problems.append(f"{len(shared_holdout)} identical feature vectors in the folds and the holdout")
    passed = not problems
    details = "; ".join(problems) if problems else "no repeated rows or feature vectors across train/validation/holdout"
    return CheckResult("duplicates", passed, details, [] if passed else ["ticker", "ts"])


def feature_label_association(table: pd.DataFrame, folds: Folds, columns: list[str]) -> CheckResult:
    development = ~holdout_mask(table, folds)
    labels = table.loc[development, "label"].to_numpy()
    suspicious = {}
    if len(np.unique(labels)) == 2:
        for column in columns:
            values = table.loc[development, column].to_numpy(dtype="float64", na_value=np.nan)
            ok = ~np.isnan(values)
            if ok.sum() < 50 or len(np.unique(labels[ok])) < 2:
                continue
            auc = float(roc_auc_score(labels[ok], values[ok]))
            if abs(auc - 0.5) > ASSOCIATION_LIMIT - 0.5:
                suspicious[column] = round(auc, 4)
    passed = not suspicious
    details = (f"no single feature has AUC outside [{1 - ASSOCIATION_LIMIT:.2f}, {ASSOCIATION_LIMIT:.2f}]"
               if passed else f"implausibly predictive alone (AUC): {suspicious}")
    return CheckResult("feature_label_association", passed, details, sorted(suspicious), {"auc": suspicious})
