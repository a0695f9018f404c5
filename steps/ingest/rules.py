"""Filtered-stream rules from the universe's cashtags, and the tickers a tweet is about.

The v2 API caps one rule's length (512 characters on the Basic/Pro tiers, 1024 on Enterprise), so the
cashtags are packed greedily into as few `($A OR $B ...) <suffix>` rules as fit. Tags carry a common
prefix so that a restart replaces exactly our rules and leaves anybody else's alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from steps.common.errors import StepConfigError

RULE_TAG_PREFIX = "conviction-cashtags"
DEFAULT_RULE_SUFFIX = "lang:en -is:retweet"
_CASHTAG = re.compile(r"(?<![\w$])\$([A-Za-z][A-Za-z.]{0,9})(?![\w])")


@dataclass(frozen=True)
class Rule:
    value: str
    tag: str


def build_rules(tickers: Iterable[str], *, max_length: int = 512, suffix: str = DEFAULT_RULE_SUFFIX) -> list[Rule]:
    """Pack `$TICKER` terms into rules no longer than `max_length` characters (order kept, each once)."""
    unique = list(dict.fromkeys(t.strip().upper() for t in tickers if t.strip()))
    if not unique:
        raise StepConfigError("no tickers to build stream rules from", file="--universe", fix="list tickers")
    tail = f" {suffix}" if suffix else ""
    rules: list[list[str]] = [[]]
    for ticker in unique:
        term = f"${ticker}"
        candidate = [*rules[-1], term]
        if len(_render(candidate, tail)) <= max_length:
            rules[-1] = candidate
            continue
        if len(_render([term], tail)) > max_length:
            raise StepConfigError(
                f"rule length limit {max_length} is too small for {term!r} plus {suffix!r}",
                file="--rule-max-length", fix="raise the limit or shorten the rule suffix",
            )
        rules.append([term])
    return [Rule(_render(terms, tail), f"{RULE_TAG_PREFIX}-{i}") for i, terms in enumerate(rules)]


def _render(terms: list[str], tail: str) -> str:
    body = " OR ".join(terms)
    return (f"({body})" if len(terms) > 1 else body) + tail


def tickers_of(tweet: Mapping[str, Any], universe: frozenset[str]) -> list[str]:
    """The universe tickers a tweet mentions: the API's cashtag entities, else cashtags in the text."""
    entities = tweet.get("entities") or {}
    tags = [str(c.get("tag", "")) for c in entities.get("cashtags") or [] if isinstance(c, Mapping)]
    if not tags:
        tags = _CASHTAG.findall(str(tweet.get("text", "")))
    return [t for t in dict.fromkeys(tag.upper() for tag in tags) if t in universe]
