"""Selection on null markets: how often is a model registered where nothing can be learnt, and what AUC does it
report? With the final holdout's gate (the lockbox) and without it, from the same runs (prints; asserts nothing).

    .venv/bin/python benchmarks/bench_selection.py [--seeds 20] [--tickers 8] [--max-trials 2] [--first-seed 100]

Each seed is a null market (`steps.sample_data --signal 0`: labels independent of every input by construction),
run through the whole quick pipeline locally with the gates lowered to the null's 95th percentile, so that a
model passes a gate by luck one time in twenty and the re-tuning rounds actually run. The percentile is the
Mann-Whitney null of an AUC on the holdout's row counts (0.5 + 1.645 sd), counted on a features build of the
first seed: the rows are not independent (one time's tickers share the market), so the true null is wider; the
script prints the empirical 95th percentile of the round-1 AUCs beside it.

Per run, from its execution record:
- without the lockbox gate: the run registers when every selection gate passed (Gate-artifact true); the AUC it
  would report is the ensemble's selection-holdout AUC;
- with the lockbox gate: the run registers when Gate-final also passed; the AUC it reports is the final holdout's.
For both, the final holdout's AUC of the models that passed selection: what those models are worth out of sample.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipelines.config import load_config
from pipelines.local.executor import RunOptions
from pipelines.local.runner import run_config


def null_quantile(positives: int, negatives: int, z: float = 1.6449) -> float:
    """0.5 + z x the sd of the Mann-Whitney AUC under the null with independent rows (Hanley and McNeil)."""
    if positives < 1 or negatives < 1:
        return 0.5
    return 0.5 + z * math.sqrt((positives + negatives + 1) / (12.0 * positives * negatives))


def _quiet_logger() -> logging.Logger:
    logger = logging.getLogger("bench_selection.features")
    logger.setLevel(logging.WARNING)
    return logger


def holdout_counts(config, seed: int, tickers: int) -> dict[str, tuple[int, int]]:
    """Positives and negatives of the selection and the final holdout, on a features build of one null seed."""
    import pandas as pd

    from steps.common.folds import final_holdout_mask, holdout_mask
    from steps.features.run import run_features
    from steps.features.table import load_feature_table
    from steps.sample_data.generator import MarketParams, generate_market
    from steps.sample_data.writer import write_market

    with tempfile.TemporaryDirectory(prefix="bench-selection-counts-") as scratch:
        root = Path(scratch)
        universe = pd.read_csv(config.universe_path).head(tickers)
        universe.to_csv(root / "universe.csv", index=False)
        days = (config.folds.train_days + config.folds.n_folds * config.folds.validation_days
                + config.folds.holdout_days + config.folds.final_holdout_days + 2)
        market = generate_market(universe, days=max(days, config.sample_data.days), seed=seed,
                                 params=MarketParams().with_signal(0.0))
        write_market(market, root / "data")
        run_features(root / "data" / "bars", root / "data" / "tweets", root / "features", config.feature_settings(),
                     universe=root / "universe.csv", logger=_quiet_logger())
        table = load_feature_table(root / "features")
        counts = {}
        for name, mask in (("selection", holdout_mask), ("final", final_holdout_mask)):
            labels = table.frame.loc[mask(table.frame, table.folds), "label"]
            counts[name] = (int(labels.sum()), int((labels == 0).sum()))
        return counts


def _auc(record_steps: dict[str, Any], store_root: Path, step: str, output: str) -> float | None:
    entry = record_steps.get(step)
    if not entry or entry.status != "Succeeded":
        return None
    uri = entry.outputs.get(output, "")
    path = store_root / uri.removeprefix("s3://") / "evaluation.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text())["binary_classification_metrics"]["auc"]["value"]


def one_run(seed: int, tickers: int, max_trials: int, gates: dict[str, str], keep: Path | None) -> dict[str, Any]:
    overrides = {"sample_data": {"signal": 0, "seed": seed, "tickers": tickers}}
    config = load_config(profile="quick", overrides=overrides)
    run_dir = Path(tempfile.mkdtemp(prefix=f"bench-selection-{seed}-", dir=keep))
    started = time.monotonic()
    result = run_config(config, RunOptions(run_dir=run_dir, parameters=gates, use_cache=False,
                                           max_trials=max_trials, echo=lambda _: None))
    steps = result.steps
    store = run_dir / "s3"
    passed_selection = None
    final_step = None
    for suffix in ("", "-2", "-3"):
        gate = steps.get(f"Gate-artifact{suffix}")
        if gate and gate.properties == {"Outcome": True}:
            passed_selection, final_step = suffix, f"FinalHoldout{suffix}"
    rounds = max((int(n.rsplit("-", 1)[1]) if n.rsplit("-", 1)[1].isdigit() else 1)
                 for n, s in steps.items() if n.startswith("Evaluate-") and s.status == "Succeeded")
    first_round = [_auc(steps, store, n, "evaluation") for n in steps
                   if n.startswith("Evaluate-") and not n[len("Evaluate-"):].rpartition("-")[2].isdigit()]
    row = {
        "seed": seed, "wall": time.monotonic() - started, "status": result.record.status, "rounds": rounds,
        "round1_auc": [a for a in first_round if a is not None],
        "passed_selection": passed_selection is not None,
        "selection_auc": _auc(steps, store, f"BuildEnsemble{passed_selection}", "ensemble")
        if passed_selection is not None else None,
        "final_auc": _auc(steps, store, final_step, "final") if final_step else None,
        "registered": result.record.model_package_arn is not None,
    }
    if final_step and steps.get(final_step) and steps[final_step].status == "Succeeded":
        path = store / steps[final_step].outputs["final"].removeprefix("s3://") / "evaluation.json"
        selection = json.loads(path.read_text())["selection"]
        row.update(looks=selection["looks"]["n"], pbo=(selection["pbo"] or {}).get("pbo"),
                   dsr=((selection["selection_holdout"]["dsr"]) or {}).get("dsr"))
    return row


def _mean_se(values: list[float]) -> str:
    if not values:
        return "none"
    if len(values) == 1:
        return f"{values[0]:.4f} (one run)"
    return f"{statistics.fmean(values):.4f} ± {statistics.stdev(values) / math.sqrt(len(values)):.4f} (n={len(values)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=100)
    parser.add_argument("--tickers", type=int, default=8)
    parser.add_argument("--max-trials", type=int, default=2)
    parser.add_argument("--keep", default=None, help="keep the runs under this folder (default: a temporary one)")
    args = parser.parse_args()
    config = load_config(profile="quick")
    counts = holdout_counts(config, args.first_seed, args.tickers)
    selection_gate = null_quantile(*counts["selection"])
    final_gate = null_quantile(*counts["final"])
    gates = {"MinModelAUC": f"{selection_gate:.4f}", "MinEnsembleAUC": f"{selection_gate:.4f}",
             "MinFinalAUC": f"{final_gate:.4f}"}
    print(f"null markets: {args.seeds} seeds from {args.first_seed}, {args.tickers} tickers, quick profile, "
          f"{args.max_trials} trials per tuning job, up to {config.gates.max_tuning_attempts} rounds; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"selection holdout {counts['selection']} (positives, negatives): MinModelAUC = MinEnsembleAUC = "
          f"{selection_gate:.4f}; final holdout {counts['final']}: MinFinalAUC = {final_gate:.4f}")
    keep = Path(args.keep) if args.keep else None
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        row = one_run(seed, args.tickers, args.max_trials, gates, keep)
        rows.append(row)
        print(f"seed {seed}: {row['status']:<9} rounds {row['rounds']} round-1 AUC "
              f"{', '.join(f'{a:.4f}' for a in row['round1_auc'])}; passed selection {row['passed_selection']}"
              + (f" (selection AUC {row['selection_auc']:.4f}, final AUC {row['final_auc']:.4f}, looks "
                 f"{row.get('looks')}, DSR {row.get('dsr')}, PBO {row.get('pbo')})" if row["passed_selection"] else "")
              + f"; registered {row['registered']}; {row['wall']:.0f} s", flush=True)
    n = len(rows)
    selected = [r for r in rows if r["passed_selection"]]
    registered = [r for r in rows if r["registered"]]
    round1 = sorted(a for r in rows for a in r["round1_auc"])
    empirical = round1[min(len(round1) - 1, math.ceil(0.95 * len(round1)) - 1)] if round1 else float("nan")
    print(f"\nround-1 holdout AUC over the seeds: mean {statistics.fmean(round1):.4f}, empirical 95th percentile "
          f"{empirical:.4f} (the gate: {selection_gate:.4f})")
    print(f"{'':<24}{'registered':>16}  {'AUC reported at registration':<34}  final-holdout AUC of those")
    print(f"{'without the lockbox':<24}{len(selected):>6}/{n} ({len(selected) / n:6.1%})  "
          f"{_mean_se([r['selection_auc'] for r in selected]):<34}  {_mean_se([r['final_auc'] for r in selected])}")
    print(f"{'with the lockbox gate':<24}{len(registered):>6}/{n} ({len(registered) / n:6.1%})  "
          f"{_mean_se([r['final_auc'] for r in registered]):<34}  {_mean_se([r['final_auc'] for r in registered])}")
    print(f"rounds run: mean {statistics.fmean(r['rounds'] for r in rows):.2f}; wall "
          f"{sum(r['wall'] for r in rows):.0f} s; load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
