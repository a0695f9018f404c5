"""Model quality live: scores joined with realised labels, AUC and calibration per period, feature drift.

- Labels: a score at t is judged once its label window has closed (`label_end`, H + 1 bars later). The label
  is the batch build's own (build_features on the bars, sentiment off: a label reads closes only), so the
  live AUC means what the holdout AUC means; nothing here restates the label formula.
- Quality per model package and New York day (`daily`) or week ending Friday (`weekly`): rows, AUC (the
  evaluate step's point_metrics), calibration error = mean probability - positive rate (signed: > 0 is
  over-confident in up moves), Brier score.
- Drift: the population stability index of each feature's live rows against the training rows, on ten
  quantile bins of the training values (NaN its own bin; an empty bin counts 1e-4 of the rows):
  PSI = sum((live - train) * ln(live / train)). Customary reading: < 0.1 stable, 0.1-0.25 moderate, > 0.25
  shifted (the alarm's default).
- Metrics (namespace Conviction/Live, dimension ModelPackage): LiveAUC and LiveCalibrationError with
  Window=daily|weekly, timestamped at the period's end; FeaturePSI per Feature and MaxFeaturePSI. The
  alarms on them (pipelines/deployment/live_alarms.py) go to SNS; an EventBridge rule on those alarms can
  start the pipeline (docs/live.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from steps.common.cli import StepArgumentParser, forwarding_getattr, run_main
from steps.common.logging import get_logger
from steps.live.names import NAMESPACE

# The implementation's names, imported on first use: this module stays the command line, light for `--help`.
__getattr__ = forwarding_getattr(__name__, "steps.live.monitoring")


def main(argv: list[str] | None = None) -> int:
    """`python -m steps.live.monitor --scores DIR --bars BARS --features DIR [--tweets DIR] --output DIR
    [--publish]`."""
    parser = StepArgumentParser(prog="python -m steps.live.monitor", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scores", required=True, type=Path)
    parser.add_argument("--bars", required=True, type=Path, help="the bars up to now (labels close with them)")
    parser.add_argument("--features", required=True, type=Path, help="the training features folder")
    parser.add_argument("--tweets", type=Path, default=None,
                        help="the scored tweets the live scorer read: the sent_* features' drift too")
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--publish", action="store_true", help="PutMetricData to CloudWatch (namespace "
                        f"{NAMESPACE})")
    parser.add_argument("--endpoint-url", help="the CloudWatch API's URL (the emulator's, e.g. http://127.0.0.1:5000)")
    parser.add_argument("--region", default=None)
    parser.add_log_format()
    args = parser.parse_args(argv)
    from steps.live.monitoring import run_monitor  # after parsing: --help answers without pandas and polars

    summary = run_monitor(args.scores, args.bars, args.features, args.output, tweets=args.tweets,
                          endpoint_url=args.endpoint_url, region=args.region, publish_metrics=args.publish,
                          logger=get_logger("monitor", args.log_format))
    print(f"{summary['labelled_rows']} of {summary['scored_rows']} scores labelled; max PSI "
          f"{max(summary['psi'].values(), default=float('nan')):.3f}")
    return 0


if __name__ == "__main__":
    run_main(main)
