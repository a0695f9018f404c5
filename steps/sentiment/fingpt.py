"""`python -m steps.sentiment.fingpt`: batch LLM sentiment by constrained label log-probabilities.

Runs as the `ScoreSentimentFinGPT` training job on managed spot (Processing jobs have no spot), so it
must survive being stopped at any moment and resumed on another instance:
- the tweets are put in one stable order (tweet_id, ticker) and cut into fixed shards;
- each shard's scores are written atomically to `<checkpoint>/shards/shard-NNNNN.parquet` and
  `progress.json` records the shards done; SageMaker syncs the checkpoint folder to `checkpoint_s3_uri`
  and restores it on restart, so a resumed job skips finished shards;
- a fingerprint of the input, the model and the prompt guards against resuming someone else's work;
- batches inside a shard are fixed too, so the numbers do not depend on where the job stopped.

Scoring: for each label word (negative / neutral / positive) the log-probability the model gives the
word's tokens right after the FinGPT instruction prompt; p_* = softmax over those three. No text is
generated or parsed. Base model + optional LoRA adapter (peft) from folders: nothing downloads.

SageMaker contract: channels `tweets`, `model`, optional `adapter` and `cache` (SM_CHANNEL_*), checkpoints
in /opt/ml/checkpoints, the final table in `<checkpoint>/scores/fingpt_scores.parquet` (read by the
FinBERT step to combine) and in SM_MODEL_DIR.

Incremental (`--cache`, score_cache.py): each distinct tweet text is scored once per model digest (base
model, adapter, prompt, max length); tweets the cache holds are not scored again, and the new entries are
left in `<checkpoint>/scores/_cache/` for ScoreSentimentFinBERT to add to the cache (a training job has
no output prefix of its own to add files to). With several instances (SM_HOSTS) each scores its share of
the tweet objects in `<checkpoint>/<host>/` and writes `scores/<host>/fingpt_scores.parquet`.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from pathlib import Path

from steps.common.cli import StepArgumentParser, forwarding_getattr, run_main
from steps.common.logging import get_logger
from steps.common.settings import parse_step_arguments
from steps.sentiment.settings import FinGptSettings
from steps.sentiment.shards import training_shard

# The implementation's names, imported on first use: this module stays the command line, light for `--help`.
__getattr__ = forwarding_getattr(__name__, "steps.sentiment.fingpt_scoring")


def _env_path(name: str, default: str | None) -> str | None:
    return os.environ.get(name, default)


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, FinGptSettings]:
    """Channels and paths as flags (SageMaker's SM_CHANNEL_* by default); the scoring settings generated from
    `FinGptSettings` (settings.py)."""
    parser = StepArgumentParser(prog="python -m steps.sentiment.fingpt", description=__doc__)
    parser.add_argument("--tweets", default=_env_path("SM_CHANNEL_TWEETS", None), help="raw tweets folder")
    parser.add_argument("--model", default=_env_path("SM_CHANNEL_MODEL", None), help="base causal LM folder")
    parser.add_argument("--adapter", default=_env_path("SM_CHANNEL_ADAPTER", None), help="LoRA adapter folder")
    parser.add_argument("--cache", default=_env_path("SM_CHANNEL_CACHE", None),
                        help="scores kept by earlier runs (score_cache.py layout)")
    parser.add_argument("--checkpoint", default="/opt/ml/checkpoints", help="progress folder (synced to S3)")
    parser.add_argument("--output", default=_env_path("SM_MODEL_DIR", "/opt/ml/model"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--max-shards", type=int, default=None, help="stop after this many shards (bounded runs)")
    args, settings = parse_step_arguments(parser, FinGptSettings, argv)
    for name in ("tweets", "model"):
        if not getattr(args, name):
            parser.error(f"--{name} is required (or the SM_CHANNEL_{name.upper()} channel)")
    if args.adapter and not Path(args.adapter).joinpath("adapter_config.json").is_file():
        parser.error(f"--adapter {args.adapter}: no adapter_config.json (a peft save_pretrained folder)")
    return args, settings


def main(argv: Sequence[str] | None = None) -> int:
    args, settings = parse_args(argv)
    from steps.sentiment.fingpt_scoring import run_fingpt  # after parsing: --help answers without pandas

    logger = get_logger("sentiment.fingpt", args.log_format)
    started = time.perf_counter()
    metrics = run_fingpt(args.tweets, args.model, args.checkpoint, args.output, adapter_dir=args.adapter,
                         shard_size=settings.shard_size, batch_size=settings.batch_size,
                         max_length=settings.max_length, device=args.device, max_shards=args.max_shards,
                         cache_dir=args.cache, shard=training_shard(os.environ), logger=logger)
    logger.info("FinGPT: %s in %.1fs", {k: v for k, v in metrics.items() if k != "timings"},
                time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    run_main(main)
