"""Tiny models built offline from configs, through the same save/load code as production.

- a WordPiece vocabulary written to a file -> BertTokenizerFast (no hub)
- a small BertForSequenceClassification, random or trained for a few seconds on synthetic tweets
  whose sentiment is carried by a handful of words (so int8 agreement is measured on a real head)
- a tiny causal LM (GPT-2 config) with a word-level tokenizer for FinGPT
"""

from __future__ import annotations

import random
from pathlib import Path

POSITIVE = ["beat", "surge", "upgrade", "bullish", "record", "soar", "gain", "strong"]
NEGATIVE = ["miss", "plunge", "downgrade", "bearish", "lawsuit", "crash", "loss", "weak"]
NEUTRAL = ["report", "today", "shares", "volume", "market", "update", "session", "quarter"]
FILLER = ["the", "a", "of", "and", "on", "for", "after", "with", "stock", "price", "earnings", "call",
          "analyst", "week", "news", "trading", "$", "aapl", "msft", "nvda", "jpm", "xom", "tsla", "amzn"]
LABELS = {0: "positive", 1: "negative", 2: "neutral"}


def vocabulary() -> list[str]:
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [str(d) for d in range(10)] + list("$.,!?#")
    pieces = [f"##{c}" for c in chars]
    return list(dict.fromkeys(specials + POSITIVE + NEGATIVE + NEUTRAL + FILLER + chars + pieces))


def synthetic_tweets(n: int, seed: int = 0) -> tuple[list[str], list[int]]:
    """Texts of 4-40 words; the label is set by the sentiment words they contain."""
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        label = rng.randrange(3)
        words = [rng.choice(FILLER + NEUTRAL) for _ in range(rng.randint(3, 38))]
        cue = {0: POSITIVE, 1: NEGATIVE, 2: NEUTRAL}[label]
        for _ in range(rng.randint(1, 3)):
            words.insert(rng.randrange(len(words) + 1), rng.choice(cue))
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


def build_bert_classifier(folder: Path, *, hidden: int = 64, layers: int = 2, heads: int = 2, train: bool = False,
                          seed: int = 0) -> Path:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab_file = folder / "vocab.txt"
    vocab_file.write_text("\n".join(vocabulary()) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab_file), do_lower_case=True)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocabulary()), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=hidden * 4, max_position_embeddings=128,
                        num_labels=3, id2label=LABELS, label2id={v: k for k, v in LABELS.items()})
    model = BertForSequenceClassification(config)
    if train:
        _train(model, tokenizer, seed)
    model.eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _train(model, tokenizer, seed: int, steps: int = 150, batch: int = 32) -> None:
    import torch

    texts, labels = synthetic_tweets(steps * batch // 2, seed=seed + 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    model.train()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: more threads only add sync cost (10x slower on a busy 2-core box)
    try:
        _steps(model, tokenizer, optimizer, texts, labels, steps, batch)
    finally:
        torch.set_num_threads(threads)


def _steps(model, tokenizer, optimizer, texts, labels, steps: int, batch: int) -> None:
    import torch

    for step in range(steps):
        start = (step * batch) % len(texts)
        enc = tokenizer(texts[start:start + batch], padding=True, truncation=True, max_length=64,
                        return_tensors="pt")
        loss = model(**enc, labels=torch.tensor(labels[start:start + batch])).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def build_causal_lm(folder: Path, *, seed: int = 0) -> Path:
    """A 2-layer GPT-2 with a word-level tokenizer whose label words are single tokens."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    words = ["<pad>", "<unk>", "<eos>", "negative", "neutral", "positive", "sentiment", "tweet", ":", "is",
             "what", "the", "of", "this", "answer", "instruction", "input", "#", *FILLER, *POSITIVE, *NEGATIVE,
             *NEUTRAL]
    words = list(dict.fromkeys(words))
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace()])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", pad_token="<pad>",
                                        eos_token="<eos>")
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=len(words), n_positions=256, n_embd=32, n_layer=2, n_head=2,
                        pad_token_id=0, eos_token_id=2, bos_token_id=2)
    GPT2LMHeadModel(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
