"""The three sentiment labels in one order, whatever order a model's head uses.

FinBERT (ProsusAI) orders its head positive/negative/neutral, other checkpoints differ; reading the
model's own `id2label` and permuting once is what keeps p_pos from silently becoming p_neg.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from steps.common.errors import StepInputError

LABELS = ("positive", "negative", "neutral")
PROB_COLUMNS = ("p_pos", "p_neg", "p_neu")
_ALIASES = {"pos": "positive", "neg": "negative", "neu": "neutral", "bullish": "positive", "bearish": "negative"}


def label_order(id2label: Mapping[int | str, str], source: str) -> list[int]:
    """Indexes of the model's outputs for (positive, negative, neutral)."""
    names = {int(k): _ALIASES.get(str(v).strip().lower(), str(v).strip().lower()) for k, v in id2label.items()}
    index = {name: i for i, name in names.items()}
    missing = [label for label in LABELS if label not in index]
    if missing or len(names) != 3:
        raise StepInputError(
            f"the model's labels are {sorted(names.values())}, expected positive/negative/neutral",
            file=source, column="id2label", fix="use a 3-class sentiment head (FinBERT) or fix config.json id2label",
        )
    return [index[label] for label in LABELS]


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def score_from_probs(probs: np.ndarray) -> np.ndarray:
    """score = p_pos - p_neg, in [-1, 1] (the tweets contract's `score`)."""
    return np.clip(probs[:, 0] - probs[:, 1], -1.0, 1.0)
