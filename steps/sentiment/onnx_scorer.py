"""FinBERT-style scoring on ONNX Runtime: tokenize once, sort by length, run padded batches.

Why sort: a batch costs as much as its longest member times its size. Tweets run from 5 to ~90
tokens; sorting puts similar lengths together, so the padding (wasted work) nearly vanishes, and the
original order is restored at the end.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from steps.common.errors import StepInputError
from steps.sentiment.labels import label_order, softmax


@dataclass(frozen=True)
class Encoded:
    """Token ids per text (no padding yet), with their lengths."""

    ids: list[list[int]]
    lengths: np.ndarray


def physical_cores() -> int:
    """Cores this process may run on, hyper-threads counted once.

    Why not os.cpu_count(): an int8 GEMM keeps a core's vector units busy, and two threads on the two
    hyper-threads of one core contend for them; ONNX Runtime's own advice is intra-op threads = physical
    cores. Read from sysfs (no psutil dependency); falls back to the logical count."""
    try:
        allowed = os.sched_getaffinity(0)
    except (AttributeError, OSError):
        return os.cpu_count() or 1
    cores = set()
    for cpu in allowed:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add(((topology / "physical_package_id").read_text().strip(),
                       (topology / "core_id").read_text().strip()))
        except OSError:
            return len(allowed) or 1
    return len(cores) or 1


def load_tokenizer(model_dir: str | Path):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise StepInputError(f"cannot load the tokenizer: {str(exc).splitlines()[0]}", file=model_dir,
                             fix="re-export with python -m steps.sentiment.export") from exc


def encode(tokenizer, texts: Sequence[str], max_length: int) -> Encoded:
    ids = tokenizer(list(texts), truncation=True, max_length=max_length, padding=False)["input_ids"]
    return Encoded(ids=ids, lengths=np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids)))


def length_sorted_batches(lengths: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    order = np.argsort(lengths, kind="stable")
    for start in range(0, len(order), batch_size):
        yield order[start:start + batch_size]


def pad_batch(ids: list[list[int]], rows: np.ndarray, pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    width = max(len(ids[i]) for i in rows)
    input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for r, i in enumerate(rows):
        n = len(ids[i])
        input_ids[r, :n] = ids[i]
        mask[r, :n] = 1
    return input_ids, mask


class OnnxSentimentModel:
    """An exported classifier folder (export.json + ONNX + tokenizer) ready to score texts."""

    def __init__(self, model_dir: str | Path, *, model_file: str | None = None, threads: int | None = None,
                 max_length: int = 128) -> None:
        import onnxruntime as ort

        self.model_dir = Path(model_dir)
        manifest_path = self.model_dir / "export.json"
        if not manifest_path.is_file():
            raise StepInputError("no export.json in the model folder", file=self.model_dir,
                                 fix="export it first: python -m steps.sentiment.export --model HF_DIR --output DIR")
        self.manifest = json.loads(manifest_path.read_text())
        self.model_file = model_file or self.manifest["scoring_model"]
        path = self.model_dir / self.model_file
        if not path.is_file():
            raise StepInputError("ONNX file not found", file=path, fix="re-run the export")
        config = json.loads((self.model_dir / "config.json").read_text())
        self.order = label_order(config.get("id2label", {}), str(self.model_dir / "config.json"))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or physical_cores()
        options.inter_op_num_threads = 1
        # A BERT graph is one chain of ops: parallel execution mode only adds scheduling; every thread goes
        # to the ops themselves (intra-op).
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.tokenizer = load_tokenizer(self.model_dir)
        self.pad_id = self.tokenizer.pad_token_id or 0
        limit = int(self.manifest.get("max_position_embeddings") or max_length)
        self.max_length = min(max_length, limit)

    @property
    def name(self) -> str:
        return f"{self.manifest.get('model_name', 'finbert')}:{self.model_file}"

    def logits(self, input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feeds = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        return self.session.run(None, {k: v for k, v in feeds.items() if k in self.input_names})[0]

    def predict_proba(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """(n, 3) probabilities in (positive, negative, neutral) order, in the texts' order."""
        encoded = encode(self.tokenizer, texts, self.max_length)
        probs = np.zeros((len(texts), 3), dtype=np.float64)
        for rows in length_sorted_batches(encoded.lengths, batch_size):
            input_ids, mask = pad_batch(encoded.ids, rows, self.pad_id)
            probs[rows] = softmax(self.logits(input_ids, mask).astype(np.float64))[:, self.order]
        return probs
