"""Every tuning trial's out-of-fold predictions, collected round by round for the count of looks.

Why here: the lockbox step (steps.final_holdout) must know every trial that the selection chose from, but a
processing job takes at most 10 inputs (botocore: ProcessingInputs max 10), and four algorithms over three rounds
are twelve tuning jobs. So each Evaluate-<algorithm>-<r> also takes its round's trial archives (one S3 key prefix,
the tuning job's name) and the collection its previous round wrote, and writes the cumulative collection: the
lockbox step then reads one input per algorithm. Nothing here looks at a holdout: the predictions are the
trials' out-of-fold (walk-forward validation) scores that steps.train wrote into each model.tar.gz.

Layout: `trials.parquet`, one row per (ticker, ts) that every collected trial predicted, columns ticker, ts,
label and one float32 column per trial (`<round>/<training job>`); `trials.json` lists the trials by round, the
tuning jobs' own completed counts, the archives without predictions and the sizes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from steps.common.errors import StepInputError
from steps.common.io import read_json, read_table, write_json, write_parquet
from steps.evaluate.signal import read_oof

TRIALS_FILE = "trials.parquet"
TRIALS_MANIFEST = "trials.json"
ARCHIVE = "model.tar.gz"
KEYS = ["ticker", "ts", "label"]


@dataclass(frozen=True)
class TrialsInput:
    """Where a round's trial archives are, the collection of the rounds before it, and the round's name."""

    archives: Path | None
    earlier: Path | None
    round_name: str
    completed: int | None = None


def read_collection(folder: str | Path | None) -> tuple[pd.DataFrame | None, dict[str, Any]]:
    """A previous round's collection (an Evaluate output folder), or nothing."""
    if folder is None:
        return None, {"rounds": {}, "counters": {}, "without_predictions": []}
    root = Path(folder)
    found = sorted(root.rglob(TRIALS_MANIFEST)) if root.is_dir() else []
    if len(found) != 1:
        raise StepInputError(f"{len(found)} {TRIALS_MANIFEST} found", file=root,
                             fix="pass the previous round's Evaluate output folder")
    description = read_json(found[0], name="trials")
    # a collection of no trial (a round whose archives held no predictions) has no table
    table = read_table(found[0].parent / TRIALS_FILE, name="trials") if description.get("trials") else None
    return table, description


def round_predictions(archives: str | Path, round_name: str, logger: logging.Logger
                      ) -> tuple[dict[str, pd.DataFrame], list[str], int]:
    """Each archive's out-of-fold predictions under `archives` (one tuning job's trials), by `<round>/<job>`."""
    root = Path(archives)
    predictions: dict[str, pd.DataFrame] = {}
    missing: list[str] = []
    size = 0
    for archive in sorted(root.rglob(ARCHIVE)) if root.is_dir() else []:
        relative = archive.relative_to(root).parts
        if any(part.startswith(".") for part in relative):
            continue
        job = next((part for part in relative[:-1] if part not in ("output", "model")), archive.parent.name)
        name = f"{round_name}/{job}"
        size += archive.stat().st_size
        oof = read_oof(archive)
        if oof is None:
            missing.append(name)
            continue
        predictions[name] = oof[[*KEYS, "prediction"]].drop_duplicates(["ticker", "ts"])
    logger.info("round %s: %d trial(s) with out-of-fold predictions under %s", round_name, len(predictions), root)
    return predictions, missing, size


def collect(archives: str | Path | None, earlier: str | Path | None, round_name: str, completed: int | None,
            output: str | Path, logger: logging.Logger) -> dict[str, Any]:
    """Write the cumulative collection (earlier rounds' and this round's trials) into `output`."""
    table, description = read_collection(earlier)
    predictions, missing, size = round_predictions(archives, round_name, logger) if archives else ({}, [], 0)
    if completed is not None and len(predictions) + len(missing) < completed:
        raise StepInputError(f"round {round_name}: the tuning job completed {completed} trials but "
                             f"{len(predictions) + len(missing)} archives were found", file=Path(archives or "."),
                             column="trials", fix="pass the tuning job's whole trial prefix (every look counts)")
    for name, frame in predictions.items():
        column = frame.rename(columns={"prediction": name})
        column[name] = column[name].astype("float32")
        table = column if table is None else table.merge(column, on=KEYS, how="inner")
    rounds = dict(description.get("rounds", {}))
    rounds[round_name] = sorted(predictions)
    counters = dict(description.get("counters", {}))
    if completed is not None:
        counters[round_name] = completed
    result = {"rounds": rounds, "counters": counters,
              "without_predictions": [*description.get("without_predictions", []), *missing],
              "trials": sum(len(v) for v in rounds.values()),
              "archive_bytes_read": int(description.get("archive_bytes_read", 0)) + size}
    out = Path(output)
    if table is not None:
        table = table.sort_values(["ts", "ticker"], kind="stable").reset_index(drop=True)
        write_parquet(table, out / TRIALS_FILE)
        result.update({"rows": len(table), "bytes": (out / TRIALS_FILE).stat().st_size,
                       "values": int(len(table) * (table.shape[1] - len(KEYS)))})
    write_json(result, out / TRIALS_MANIFEST)
    logger.info("trials collected: %d over %d round(s), %s rows every trial predicted", result["trials"],
                len(rounds), result.get("rows", 0))
    return result


def trial_matrix(table: pd.DataFrame | None) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """(keys, rows x trials predictions, trial names) of a collection."""
    if table is None:
        return pd.DataFrame(columns=KEYS), np.zeros((0, 0)), []
    names = [c for c in table.columns if c not in KEYS]
    return table[KEYS], table[names].to_numpy(dtype="float64"), names
