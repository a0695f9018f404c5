"""Reading tables and writing outputs atomically.

Every output is written to a temporary name in the destination folder and renamed into place with
`os.replace`, which is atomic on one filesystem: a step that fails leaves either the previous file or
nothing, never half a file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from steps.common.artifact_json import read_artifact_json
from steps.common.errors import StepInputError

_PARQUET_SUFFIXES = (".parquet", ".pq")
_CSV_SUFFIXES = (".csv", ".csv.gz")
# Columns that hold names (tickers, sectors): read as text, never as a missing value or a number.
NAME_COLUMNS = ("ticker", "symbol", "sector")
# pandas' default missing-value spellings (pandas.read_csv's na_values documentation), kept for the other columns.
_PANDAS_NA = ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>",
              "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null")


def data_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """(parquet files, CSV files) under `folder`, sorted; hidden and `_`-prefixed paths (`_SUCCESS`, `.tmp-*`,
    `_universe.csv`) are not data. Public: the feature step lists a folder's partitions with it too."""
    parquet: list[Path] = []
    csv: list[Path] = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or any(part.startswith((".", "_")) for part in path.relative_to(folder).parts):
            continue
        name = path.name.lower()
        if name.endswith(_PARQUET_SUFFIXES):
            parquet.append(path)
        elif name.endswith(_CSV_SUFFIXES):
            csv.append(path)
    return parquet, csv


def hive_dataset(files: list[Path], base: Path) -> ds.Dataset:
    """The parquet files under `base` as one hive-partitioned dataset, refusing a file whose own column
    disagrees with its folder (`ticker=MSFT/` holding rows that say AAPL): pyarrow lets the folder name win
    silently. The one home of this check: every reader of a partitioned folder opens it here."""
    dataset = ds.dataset([str(p) for p in files], format="parquet", partitioning="hive",
                         partition_base_dir=str(base))
    for fragment in dataset.get_fragments():
        keys = ds.get_partition_keys(fragment.partition_expression)
        for key in (k for k in keys if k in fragment.physical_schema.names):
            said = {str(v) for v in pq.read_table(fragment.path, columns=[key]).column(key).unique().to_pylist()}
            if said - {str(keys[key])}:
                other = ", ".join(sorted(said - {str(keys[key])})[:3])
                raise StepInputError(f"sits in the folder {key}={keys[key]} but its {key} column says {other}",
                                     file=fragment.path, column=key,
                                     fix=f"move the file to the folder its rows name, or fix its {key} column")
    return dataset


def read_csv_names(path: str | Path, *, skiprows: int = 0, name_columns: tuple[str, ...] = NAME_COLUMNS,
                   **options: Any) -> pd.DataFrame:
    """pandas.read_csv, with ticker/symbol/sector columns read as text: the ticker `NA` (or `NULL`, `nan`)
    stays a ticker instead of becoming a missing value; only an empty cell is missing there. Every other column
    keeps pandas' missing-value spellings."""
    header = pd.read_csv(path, skiprows=skiprows, nrows=0, **options).columns
    names = [c for c in header if str(c).strip().lower() in name_columns]
    if not names:
        return pd.read_csv(path, skiprows=skiprows, **options)
    missing = {c: ([""] if c in names else list(_PANDAS_NA)) for c in header}
    return pd.read_csv(path, skiprows=skiprows, keep_default_na=False, na_values=missing,
                       dtype={c: str for c in names}, **options)


def read_table(path: str | Path, *, name: str = "table", allow_empty: bool = False) -> pd.DataFrame:
    """Read a parquet file, a (hive-partitioned) parquet folder, or CSV file(s) into pandas.

    Hidden and `_`-prefixed files (`_SUCCESS`, `.tmp-*`) are skipped. A folder with no data files is an
    error unless `allow_empty` (tweets may legitimately be absent).
    """
    source = Path(path)
    if not source.exists():
        if allow_empty:
            return pd.DataFrame()
        raise StepInputError(f"{name} not found", file=source, fix=f"pass the folder that holds the {name}")
    if source.is_file():
        parquet, csv = ([source], []) if source.name.lower().endswith(_PARQUET_SUFFIXES) else ([], [source])
    else:
        parquet, csv = data_files(source)
    if parquet and csv:  # reading one format would silently drop the other's rows (tickers)
        raise StepInputError(
            f"the {name} folder holds both parquet ({len(parquet)}) and CSV ({len(csv)}) files, e.g. "
            f"{csv[0].name}",
            file=source,
            fix="keep one format per folder (convert the CSV files, or move them to their own folder)",
        )
    if not parquet and not csv:
        if allow_empty:
            return pd.DataFrame()
        raise StepInputError(
            f"no parquet or CSV files in the {name} folder",
            file=source,
            fix=f"point the argument at the folder holding the {name} files",
        )
    try:
        if parquet:
            table = pq.read_table(source) if source.is_file() else hive_dataset(parquet, source).to_table()
            frame = table.to_pandas()
        else:
            frame = pd.concat([read_csv_names(p) for p in csv], ignore_index=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, OSError) as exc:
        raise StepInputError(
            f"cannot read {name}: {str(exc).splitlines()[0]}", file=source, fix="rewrite the file(s)"
        ) from exc
    # Hive partition keys come back as dictionary/categorical columns: plain strings are what the
    # contract says.
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.CategoricalDtype):
            frame[column] = frame[column].astype(str)
    return frame


def read_json(path: str | Path, *, name: str = "JSON file") -> dict[str, Any]:
    """The JSON object in `path`, bounded and strict (steps.common.artifact_json); one line otherwise."""
    return read_artifact_json(path, name=name)


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it is renamed onto `target`."""
    destination = Path(target)
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.parent / f".tmp-{uuid.uuid4().hex}-{destination.name}"
    try:
        yield temporary
        os.replace(temporary, destination)
    finally:
        if temporary.exists():
            temporary.unlink()


def write_parquet(frame: pd.DataFrame, target: str | Path) -> Path:
    """Write one parquet file atomically."""
    with atomic_path(target) as temporary:
        frame.to_parquet(temporary, index=False)
    return Path(target)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return _finite(float(value))
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return _finite(value)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def write_json(payload: Any, target: str | Path) -> Path:
    """Write JSON atomically (NaN/inf become null: JSON has no such numbers)."""
    text = json.dumps(_clean(payload), indent=2, default=_json_default, sort_keys=False)
    write_text(text + "\n", target)
    return Path(target)


def write_text(text: str, target: str | Path) -> Path:
    with atomic_path(target) as temporary:
        temporary.write_text(text)
    return Path(target)


def write_metrics(folder: str | Path, metrics: dict[str, Any]) -> Path:
    """Write the step's `metrics.json` (timings, row counts, its own figures) into `folder`."""
    return write_json(metrics, Path(folder) / "metrics.json")


@contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside `target`; on success it replaces `target` as a whole."""
    destination = Path(target)
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".tmp-{destination.name}-", dir=destination.parent))
    try:
        yield temporary
        if destination.exists():
            backup = destination.parent / f".old-{uuid.uuid4().hex}-{destination.name}"
            os.replace(destination, backup)
            os.replace(temporary, destination)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(temporary, destination)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)


MANIFEST_FILES = "files"  # the manifest key listing what the step wrote: {name: {"bytes": n, "sha256": hex}}


def file_digest(path: str | Path) -> dict[str, Any]:
    """Size and sha256 of one file (what a manifest lists, and what a reader checks against)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"bytes": Path(path).stat().st_size, "sha256": digest.hexdigest()}


def describe_files(folder: str | Path, names: list[str]) -> dict[str, dict[str, Any]]:
    """The manifest's `files` entry for `names` (paths relative to `folder`), written last by a step."""
    return {name: file_digest(Path(folder) / name) for name in names}


def check_files(folder: str | Path, listing: Any, manifest: str | Path, *, fix: str) -> None:
    """Refuse (one line naming the file) a folder whose files disagree with the manifest's `files`."""
    root = Path(folder)
    if not isinstance(listing, dict) or not listing:
        raise StepInputError(f"lists no files (no '{MANIFEST_FILES}' entry)", file=manifest, fix=fix)
    for name, expected in listing.items():
        if Path(name).is_absolute() or ".." in Path(name).parts:  # a listing names files inside its folder only
            raise StepInputError(f"lists {name!r}, outside its folder", file=manifest, fix=fix)
        path = root / name
        if not path.is_file():
            raise StepInputError(f"is listed in {Path(manifest).name} but missing", file=path, fix=fix)
        size = path.stat().st_size
        if not isinstance(expected, dict) or size != expected.get("bytes"):
            raise StepInputError(f"has {size} bytes, {Path(manifest).name} lists "
                                 f"{expected.get('bytes') if isinstance(expected, dict) else expected}: "
                                 "not the file that run wrote", file=path, fix=fix)
        if file_digest(path)["sha256"] != expected.get("sha256"):
            raise StepInputError(f"sha256 differs from the one {Path(manifest).name} lists: not the file that run "
                                 "wrote", file=path, fix=fix)


def clear_outputs(folder: str | Path, names: list[str], *, temporaries: bool = True) -> None:
    """Remove what a previous run left under `names` in `folder` (files or folders), and (`temporaries`) the
    `.tmp-*`/`.old-*` a crashed write left there."""
    root = Path(folder)
    if not root.is_dir():
        return
    for name in names:
        path = root / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    for leftover in [*root.glob(".tmp-*"), *root.glob(".old-*")] if temporaries else []:
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


OUTPUT_MANIFEST = "manifest.json"  # beside a step's outputs: what it wrote, written last


def write_manifest(folder: str | Path, names: list[str], *, step: str, **extra: Any) -> Path:
    """Write `manifest.json` listing `names` (already written in `folder`) with sizes and sha256, LAST: the
    folder is complete once it is there, and a reader (check_manifest) takes nothing it does not list."""
    payload = {"manifest_version": 1, "step": step, **extra, MANIFEST_FILES: describe_files(folder, names)}
    return write_json(payload, Path(folder) / OUTPUT_MANIFEST)


def check_manifest(folder: str | Path, *, what: str, fix: str, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """The manifest of a step's output folder, once every file it lists is there as written.

    One line naming the file otherwise: no manifest (the writer did not finish, or it is not that step's
    output), a listed file missing or changed, or a `required` file the manifest does not list."""
    root = Path(folder)
    path = root / OUTPUT_MANIFEST
    if not path.is_file():
        raise StepInputError(f"not found: the {what} folder is incomplete (its writer did not finish) or was not "
                             "written by that step", file=path, fix=fix)
    manifest = read_json(path, name=f"{what} manifest")
    listing = manifest.get(MANIFEST_FILES) if isinstance(manifest, dict) else None
    check_files(root, listing, path, fix=fix)
    for name in required:
        if name not in listing:
            raise StepInputError(f"lists no {name}", file=path, fix=fix)
    return manifest
