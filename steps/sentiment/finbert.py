"""`python -m steps.sentiment.finbert`: the ScoreSentimentFinBERT processing step.

Container paths: `/opt/ml/processing/input/tweets` (raw tweets from steps.ingest: tweet_id, created_at,
ticker, text and the engagement counts; hive folders fine), `/opt/ml/processing/input/model` (an
exported folder: export.json + ONNX + tokenizer; the production image also has one baked in),
optionally `/opt/ml/processing/input/fingpt` (FinGPT scores to combine), output
`/opt/ml/processing/output/tweets` -> `scored.parquet` in the tweets contract (docs/steps.md) +
`metrics.json`.

Incremental (`--cache IN --cache-out OUT`, score_cache.py): scores already computed by this model in an
earlier execution are read from the cache instead of scored again; only the misses reach the model, and
they are added to the cache. Each tweet is scored once however many tickers it names. With several
instances (`--resource-config`, shards.py) each scores its share of the tweets and writes
`shards/<host>/scored.parquet`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from steps.common.cli import StepArgumentParser, forwarding_getattr, run_main
from steps.common.logging import get_logger
from steps.common.settings import parse_step_arguments
from steps.sentiment.settings import FinBertSettings

# The implementation's names, imported on first use: this module stays the command line, light for `--help`.
__getattr__ = forwarding_getattr(__name__, "steps.sentiment.finbert_scoring")


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, FinBertSettings]:
    """Paths and machine knobs as flags; the scoring settings generated from `FinBertSettings` (settings.py)."""
    parser = StepArgumentParser(prog="python -m steps.sentiment.finbert", description=__doc__)
    parser.add_argument("--tweets", required=True, help="raw tweets folder (steps.ingest output)")
    parser.add_argument("--model", required=True, help="exported model folder (steps.sentiment.export)")
    parser.add_argument("--output", required=True)
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads (default: cores)")
    parser.add_argument("--fingpt", default=None, help="FinGPT scores folder to combine (may be empty)")
    parser.add_argument("--cache", default=None, help="scores kept by earlier runs (score_cache.py layout)")
    parser.add_argument("--cache-out", default=None, help="folder for the cache after this run (old + new)")
    parser.add_argument("--resource-config", default=None,
                        help="SageMaker's resourceconfig.json: with several instances each writes shards/<host>/")
    return parse_step_arguments(parser, FinBertSettings, argv)


def main(argv: Sequence[str] | None = None) -> int:
    args, settings = parse_args(argv)
    from steps.sentiment.finbert_scoring import run_finbert  # after parsing: --help answers without pandas

    logger = get_logger("sentiment.finbert", args.log_format)
    run_finbert(args.tweets, args.model, args.output, batch_size=settings.batch_size, threads=args.threads,
                max_length=settings.max_length, fingpt_dir=args.fingpt, combine=settings.combine,
                cache_dir=args.cache, cache_out=args.cache_out, resource_config=args.resource_config, logger=logger)
    return 0


if __name__ == "__main__":
    run_main(main)
