"""The feature settings as command-line arguments: one declaration for steps.features and steps.leaks.

The leak step must check a table against the settings the pipeline was *configured* with, not against the
ones the table's own manifest claims (a table built with a smaller ingest lag would otherwise vouch for
itself). So both steps take the same flags, with the same defaults, and the pipeline passes both the same
values from configs/pipeline.yaml (pipelines/stages/features.py `feature_settings_arguments`).
"""

from __future__ import annotations

import argparse

from steps.common.cli import parse_bool, parse_int_list
from steps.features.settings import FeatureSettings

_DEFAULTS = FeatureSettings()


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    """Every FeatureSettings field the pipeline configures, defaulting to FeatureSettings' own defaults."""
    d = _DEFAULTS
    parser.add_argument("--frequency", choices=["1min", "1d"], default=d.frequency)
    parser.add_argument("--windows", type=parse_int_list, default=list(d.windows))
    parser.add_argument("--sample-every-bars", type=int, default=d.sample_every_bars)
    parser.add_argument("--label-horizon-bars", type=int, default=d.label_horizon_bars)
    parser.add_argument("--label-dead-zone", type=float, default=d.label_dead_zone)
    parser.add_argument("--ingest-lag-seconds", type=float, default=d.ingest_lag_seconds)
    parser.add_argument("--include-sentiment", type=parse_bool, default=d.include_sentiment)
    parser.add_argument("--n-folds", type=int, default=d.n_folds)
    parser.add_argument("--train-days", type=int, default=d.train_days)
    parser.add_argument("--validation-days", type=int, default=d.validation_days)
    parser.add_argument("--embargo-bars", type=int, default=d.embargo_bars)
    parser.add_argument("--holdout-days", type=int, default=d.holdout_days)
    parser.add_argument("--daily-window", type=int, default=d.daily_window,
                        help="sessions in the window of the *_daily indicators (1-minute bars)")


def settings_from_args(args: argparse.Namespace) -> FeatureSettings:
    return FeatureSettings(
        frequency=args.frequency, windows=tuple(args.windows), sample_every_bars=args.sample_every_bars,
        label_horizon_bars=args.label_horizon_bars, label_dead_zone=args.label_dead_zone,
        ingest_lag_seconds=args.ingest_lag_seconds, include_sentiment=args.include_sentiment,
        n_folds=args.n_folds, train_days=args.train_days, validation_days=args.validation_days,
        embargo_bars=args.embargo_bars, holdout_days=args.holdout_days, daily_window=args.daily_window,
    )
