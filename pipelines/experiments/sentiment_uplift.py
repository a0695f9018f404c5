"""`python -m pipelines.experiments.sentiment_uplift`: does tweet sentiment add out-of-time AUC?

The seed's "mini-HPO smoke test (AAPL only) with --include-sentiment; require AUC uplift >= +0.02".
The same pipeline definition runs twice on one ticker's data with identical folds, seeds and tuning
budget, once with `IncludeSentiment=true` and once with `false`; the holdout AUCs (each with its
bootstrap interval) and the uplift (a paired day-block bootstrap on the same holdout rows) are written
to docs/optimal_hyperparameters.md with the best hyperparameters found. Numbers are recorded as
measured: an uplift below the requirement is reported as such, with exit code 3.

    python -m pipelines.experiments.sentiment_uplift --ticker AAPL [--algorithm xgboost] [--days 120]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.cli_options import add_endpoint_argument
from pipelines.config import DEFAULT_CONFIG, REPO_ROOT, ConfigError, load_config

if TYPE_CHECKING:  # the runner, pandas and the report load when an experiment runs, not for `--help`
    import pandas as pd

    from pipelines.report.collect import ModelResult, ReportData, TuningResult
    from pipelines.report.sources import LocalStoreSource
    from steps.common.bootstrap import PairedDifference

REQUIRED_UPLIFT = 0.02
DOC = REPO_ROOT / "docs" / "optimal_hyperparameters.md"
EXIT_BELOW_REQUIREMENT = 3


@dataclass(frozen=True)
class Arm:
    include_sentiment: bool
    model: ModelResult
    tuning: TuningResult


@dataclass(frozen=True)
class UpliftResult:
    ticker: str
    algorithm: str
    days: int
    with_sentiment: Arm
    without_sentiment: Arm
    uplift: PairedDifference
    holdout_rows: int

    @property
    def meets_requirement(self) -> bool:
        return self.uplift.difference >= REQUIRED_UPLIFT


def _one_ticker_universe(ticker: str, config, folder: Path) -> Path:
    sectors = {m.ticker: m.sector for m in config.universe}
    if ticker not in sectors:
        raise ConfigError(f"--ticker {ticker}: not in the universe ({config.data.universe_csv}); pick one listed there")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"universe-{ticker}.csv"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows([("ticker", "sector"), (ticker, sectors[ticker])])
    path.write_text(buffer.getvalue())
    return path


def experiment_config(ticker: str, algorithm: str, days: int, trials: int, run_dir: Path, config_path: Path):
    """One ticker, a budget for a laptop, folds sized to the days, everything else as configured."""
    base = load_config(config_path)
    universe = _one_ticker_universe(ticker, base, run_dir)
    prefix = f"s3://{base.pipeline.bucket}/experiments/sentiment-uplift/{ticker}/{days}d"
    holdout = max(10, days // 6)
    validation = max(5, days // 12)
    train = max(15, days - holdout - 3 * validation - 5)
    overrides = {
        "algorithms": [algorithm],
        "data": {"input_data_url": f"{prefix}/bars/", "tweets_data_url": f"{prefix}/tweets/"},
        "sample_data": {"days": days, "seed": 7, "tickers": "all", "universe": str(universe)},
        "folds": {"n_folds": 3, "train_days": train, "validation_days": validation, "holdout_days": holdout},
        "tuning": {"max_jobs": trials, "max_parallel_jobs": 2},
    }
    return load_config(config_path, overrides=overrides)


def _arm(data: ReportData, include_sentiment: bool) -> Arm:
    models = [m for m in data.models if m.folder]
    if not models or not data.tunings:
        status = data.record.get("status")
        raise RuntimeError(f"the run with IncludeSentiment={include_sentiment} produced no evaluated model ({status})")
    return Arm(include_sentiment, models[0], data.tunings[0])


def _holdout(source: LocalStoreSource, model: ModelResult) -> pd.DataFrame:
    import pandas as pd

    blob = source.read_bytes(f"{model.folder}/holdout_predictions.parquet")
    if blob is None:
        raise RuntimeError(f"{model.folder}/holdout_predictions.parquet is missing")
    return pd.read_parquet(io.BytesIO(blob))


def run_experiment(ticker: str, algorithm: str, days: int, trials: int, run_dir: Path,
                   config_path: Path = DEFAULT_CONFIG, echo=print,
                   endpoint_url: str | None = None) -> UpliftResult:  # fmt: skip
    import pandas as pd

    from pipelines.local.executor import RunOptions, default_cores
    from pipelines.local.runner import run_config
    from pipelines.report.collect import collect
    from pipelines.report.sources import LocalStoreSource
    from steps.common.bootstrap import paired_auc_difference

    config = experiment_config(ticker, algorithm, days, trials, run_dir, config_path)
    source = LocalStoreSource(run_dir / "s3")
    arms = []
    for include in (True, False):
        echo(f"--- {ticker} {algorithm}: IncludeSentiment={str(include).lower()} ---")
        options = RunOptions(
            run_dir=run_dir,
            parameters={"IncludeSentiment": str(include).lower(), "MinModelAUC": "0.5", "MinEnsembleAUC": "0.5"},
            cores=default_cores(),
            echo=echo,
            aws_endpoint=endpoint_url,
        )
        result = run_config(config, options)
        record = json.loads(Path(result.record.path).read_text())
        arms.append(_arm(collect(record, source), include))
    with_sentiment, without = arms
    a, b = _holdout(source, with_sentiment.model), _holdout(source, without.model)
    joined = a.merge(b, on=["ticker", "ts"], suffixes=("_with", "_without"))
    if len(joined) != len(a) or len(joined) != len(b):
        raise RuntimeError("the two runs scored different holdout rows; folds or features differ beyond sentiment")
    days_index = pd.to_datetime(joined["ts"], utc=True).dt.tz_convert("America/New_York").dt.date
    uplift = paired_auc_difference(joined["label_with"], joined["prediction_with"], joined["prediction_without"],
                                   days_index.to_numpy(), resamples=500, seed=0)  # fmt: skip
    return UpliftResult(ticker, algorithm, days, with_sentiment, without, uplift, len(joined))


def _auc_text(model: ModelResult) -> str:
    ci = model.ci95
    return f"{model.auc:.4f} ({ci[0]:.4f}–{ci[1]:.4f})" if ci else f"{model.auc:.4f}"


def result_markdown(result: UpliftResult, command: str) -> str:
    u = result.uplift
    verdict = "meets" if result.meets_requirement else "does NOT meet"
    lines = [
        f"### {result.ticker} · {result.algorithm} · {result.days} days of generated 1-minute bars",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d} with `{command}` (holdout: {result.holdout_rows} rows).",
        "",
        "| features | holdout AUC (95% CI) | best validation AUC | trials |",
        "| --- | --- | --- | --- |",
    ]
    for arm in (result.with_sentiment, result.without_sentiment):
        label = "with sentiment" if arm.include_sentiment else "without sentiment"
        best = f"{arm.tuning.best_value:.4f}" if arm.tuning.best_value is not None else "–"
        lines.append(f"| {label} | {_auc_text(arm.model)} | {best} | {len(arm.tuning.trials)} |")
    lines += [
        "",
        f"**Uplift {u.difference:+.4f}** (paired day-block bootstrap 95% CI {u.ci_low:+.4f} to {u.ci_high:+.4f}, "
        f"{u.resamples} resamples): {verdict} the required +{REQUIRED_UPLIFT:.2f}."
        + (" The interval includes zero: on this much holdout data the uplift is not distinguishable from none."
           if u.ci_low <= 0 <= u.ci_high else ""),
        "",
        "Best hyperparameters (by the walk-forward validation objective, never the holdout):",
        "",
        "| hyperparameter | with sentiment | without sentiment |",
        "| --- | --- | --- |",
    ]
    with_hp = result.with_sentiment.tuning.best_hyperparameters
    without_hp = result.without_sentiment.tuning.best_hyperparameters
    for name in sorted(set(with_hp) | set(without_hp)):
        lines.append(f"| {name} | {_short(with_hp.get(name))} | {_short(without_hp.get(name))} |")
    return "\n".join(lines) + "\n"


def _short(value: Any) -> str:
    try:
        return f"{float(value):.4g}"
    except (TypeError, ValueError):
        return "–" if value is None else str(value)


def write_doc(section: str, key: str, doc: Path = DOC) -> None:
    """Replace (or add) this experiment's block between its markers; the rest of the page is kept."""
    begin, end = f"<!-- uplift:{key}:begin -->", f"<!-- uplift:{key}:end -->"
    text = doc.read_text() if doc.exists() else _DOC_HEADER
    block = f"{begin}\n{section}{end}"
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    partial = doc.with_name(f".{doc.name}.partial")
    partial.write_text(text)
    os.replace(partial, doc)


_DOC_HEADER = """# Optimal hyperparameters and the sentiment uplift

Written by `python -m pipelines.experiments.sentiment_uplift`; each block below is replaced when the
experiment is re-run for the same ticker, algorithm and length. The data is the generated sample market
(`steps.sample_data`), not real prices: these figures test the pipeline and the sentiment path, they do
not forecast real markets.

XGBoost defaults (the enhanced pipeline's): max_depth 4, min_child_weight 10, subsample 0.8,
colsample_bytree 0.8, eta 0.1, num_round 1000 with early stopping after 50 rounds, eval_metric auc.
Search ranges: max_depth 3–6, eta 0.01–0.3 (log), subsample 0.6–1.0, colsample_bytree 0.6–1.0,
gamma 0–5, lambda 0–10, alpha 0–10 (`configs/hpo/xgboost.yaml`).
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.experiments.sentiment_uplift",
                                     description=__doc__.splitlines()[0])  # fmt: skip
    parser.add_argument("--ticker", default="AAPL")
    parser.add_argument("--algorithm", default="xgboost")
    parser.add_argument("--days", type=int, default=120, help="trading days of generated data (default 120)")
    parser.add_argument("--trials", type=int, default=6, help="tuning trials per arm (default 6)")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--run-dir", type=Path, default=Path("runs") / "experiments")
    parser.add_argument("--no-doc", action="store_true", help="print the result only; leave the docs page alone")
    add_endpoint_argument(parser, "the AWS API endpoint of the runs' registry (default: their embedded emulator)")
    args = parser.parse_args(argv)
    try:
        result = run_experiment(args.ticker, args.algorithm, args.days, args.trials, args.run_dir.resolve(),
                                args.config, endpoint_url=args.endpoint_url)  # fmt: skip
    except ConfigError as exc:
        print(f"sentiment_uplift: {exc}", file=sys.stderr)
        return 2
    command = (f"python -m pipelines.experiments.sentiment_uplift --ticker {args.ticker} --algorithm {args.algorithm}"
               f" --days {args.days} --trials {args.trials}")  # fmt: skip
    section = result_markdown(result, command)
    print(section)
    if not args.no_doc:
        write_doc(section, f"{args.ticker}:{args.algorithm}:{args.days}")
        print(f"written to {DOC}")
    return 0 if result.meets_requirement else EXIT_BELOW_REQUIREMENT


if __name__ == "__main__":
    sys.exit(main())
