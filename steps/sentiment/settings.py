"""The sentiment steps' settings, declared once: configs/pipeline.yaml's `sentiment.finbert:` and `sentiment.fingpt:`
sections embed `FinBertScoring` and `FinGptSettings` (beside where each job runs), `sentiment.combine` is
`FinBertSettings.combine`, the steps' command lines are generated from `FinBertSettings` / `FinGptSettings`, and
the pipeline passes them as `--settings` JSON (pipelines/stages/sentiment.py).

Paths, channels and machine knobs (`--threads`, `--device`, `--max-shards`) stay plain flags: they say where a
run reads and writes, not what it computes, and the pipeline never sets them.
"""

from __future__ import annotations

import typing
from typing import Literal

from pydantic import Field

from steps.common.settings import StepSettings

CombinePolicy = Literal["finbert", "fingpt", "mean"]
COMBINE_POLICIES: tuple[str, ...] = typing.get_args(CombinePolicy)


class FinBertScoring(StepSettings):
    """How ScoreSentimentFinBERT batches and truncates tweets: configs/pipeline.yaml `sentiment.finbert:`."""

    batch_size: int = Field(32, ge=1, le=1024, description="tweets per ONNX Runtime batch")
    max_length: int = Field(128, ge=8, le=512,
                            description="tokens kept of each tweet (part of the score cache's model digest)")


class FinBertSettings(FinBertScoring):
    """The command line of steps.sentiment.finbert. `combine` sits a level up in the config (`sentiment.combine`):
    it chooses between the two models' scores rather than tuning FinBERT."""

    combine: CombinePolicy = Field("mean", description="with FinGPT scores: finbert (ignore them), fingpt (theirs "
                                                       "where present) or mean (of both where both scored)")


class FinGptSettings(StepSettings):
    """The command line of steps.sentiment.fingpt and configs/pipeline.yaml `sentiment.fingpt:` (beside the job's
    instance, spot and model settings). Shard and batch size are part of the checkpoint's fingerprint: a resumed
    job with other values is refused rather than mixing two batchings."""

    shard_size: int = Field(256, ge=1, description="tweets per checkpointed shard (a spot reclaim loses at most one)")
    batch_size: int = Field(8, ge=1, description="prompts per forward pass of the language model")
    max_length: int = Field(256, ge=16, le=8192,
                            description="prompt tokens kept, the last ones (part of the score cache's model digest)")
