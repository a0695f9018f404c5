"""Write a generated market in the bars/tweets layout of docs/steps.md, plus GENERATED.md."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from steps.common.errors import StepInputError
from steps.common.io import atomic_dir, write_json, write_text
from steps.common.names import read_universe_rows
from steps.sample_data.generator import NULL_NOTE, GeneratedMarket

DEFAULT_UNIVERSE = Path("configs/universe.csv")


def load_universe(path: str | Path | None, tickers: int | str = "all") -> pd.DataFrame:
    """The universe CSV (ticker, sector), cut to the first `tickers` rows."""
    source = Path(path) if path else DEFAULT_UNIVERSE
    if not source.is_file():
        raise StepInputError("universe file not found", file=source,
                             fix="pass --universe pointing at a CSV with ticker,sector columns")
    # names checked (steps.common.names): each ticker becomes a ticker=X/ folder under --output
    universe = pd.DataFrame(read_universe_rows(source), columns=["ticker", "sector"])
    if tickers != "all":
        count = int(tickers)
        if not 1 <= count <= len(universe):
            raise StepInputError(f"--tickers {count} is outside 1..{len(universe)}", file=source,
                                 column="ticker", fix=f"use a number up to {len(universe)} or 'all'")
        universe = universe.head(count)
    return universe.reset_index(drop=True)


def _generated_md(market: GeneratedMarket) -> str:
    bars, tweets = market.bars, market.tweets
    params = "\n".join(f"| `{key}` | {value} |" for key, value in market.params.as_dict().items())
    return f"""# GENERATED DATA — not market data

Everything in this folder was produced by `python -m steps.sample_data` (module
`steps/sample_data/generator.py`, whose docstring describes the model). No row is a real price or a real
tweet. Use it to exercise the pipeline; never to judge a trading idea.

- seed: {market.seed}
- frequency: {market.frequency}
- tickers: {bars['ticker'].nunique()} ({', '.join(market.universe['ticker'].head(8))}, ...)
- bars: {len(bars)} rows, {bars['ts'].min()} .. {bars['ts'].max()} (UTC; weekdays, no holiday calendar)
- tweets: {len(tweets)} rows, model = "sample-generator"

| parameter | value |
| --- | --- |
{params}
{NULL_NOTE if market.params.is_null else ""}"""


def write_market(market: GeneratedMarket, output: str | Path) -> dict[str, int]:
    """Write `bars/` (hive-partitioned by ticker), `tweets/`, GENERATED.md and generator.json.

    Each folder is assembled under a temporary name and renamed into place.
    """
    root = Path(output)
    root.mkdir(parents=True, exist_ok=True)
    with atomic_dir(root / "bars") as folder:
        table = pa.Table.from_pandas(market.bars, preserve_index=False)
        pq.write_to_dataset(table, root_path=str(folder), partition_cols=["ticker"],
                            basename_template="part-{i}.parquet")
    with atomic_dir(root / "tweets") as folder:
        market.tweets.to_parquet(folder / "part-0.parquet", index=False)
    write_json({"seed": market.seed, "frequency": market.frequency, "params": market.params.as_dict(),
                "tickers": market.universe["ticker"].tolist(), "generated": True},
               root / "generator.json")
    write_text(_generated_md(market), root / "GENERATED.md")
    return {"bars": len(market.bars), "tweets": len(market.tweets)}
