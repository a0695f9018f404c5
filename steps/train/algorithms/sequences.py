"""Each row's input sequence (its ticker's last K feature rows) as a window into one flat matrix.

Why not an array of sequences: materialising rows x K x features float32 is K copies of the table (3.3 GB
at five years and K = 8, 6.7 GB at K = 16), and standardising and every fold slice copied it again; a GRU
trial went above 10 GB. Here the feature rows are stored once and a row's sequence is K positions into
them, so slicing rows for a fold slices the small position array, and a mini-batch's sequences are
gathered when the batch is drawn. Gathering is indexing, so the numbers are those of the materialised
array, bit for bit.

No torch here: the fold loop, the loader and the tests use this without the GRU's library.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


def position_dtype(count: int) -> np.dtype:
    """int32 for positions below 2**31 (half of int64's memory), else int64."""
    return np.dtype(np.int32) if count < np.iinfo(np.int32).max else np.dtype(np.int64)


def sequence_indices(frame: pd.DataFrame, length: int) -> np.ndarray:
    """(rows, length) positions into `frame`: each row's ticker history, oldest first; -1 where none."""
    order = np.lexsort((frame["ts"].to_numpy(), frame["ticker"].to_numpy()))
    tickers = frame["ticker"].to_numpy()[order]
    starts = np.r_[0, np.flatnonzero(tickers[1:] != tickers[:-1]) + 1]
    position_in_ticker = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    indices = np.full((len(frame), length), -1, dtype=position_dtype(len(frame)))
    for lag in range(length):
        has = position_in_ticker >= lag
        rows = order[has]
        indices[rows, length - 1 - lag] = order[np.flatnonzero(has) - lag]
    return indices


@dataclass(frozen=True)
class SequenceMatrix:
    """Row i's sequence is `rows[windows[i]]` (oldest first); `x[selection]` selects rows, sharing `rows`.

    rows: (source rows, features) float32; where a row has no history its window points at an all-NaN
    row (the last one, as `design_matrix` builds it). windows: (n, K) positions into `rows`.
    """

    rows: np.ndarray
    windows: np.ndarray

    def __post_init__(self) -> None:
        if self.rows.ndim != 2 or self.windows.ndim != 2:
            raise ValueError(f"rows must be 2-D and windows 2-D, got {self.rows.shape} and {self.windows.shape}")

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, columns: list[str], length: int) -> SequenceMatrix:
        """Every row of `frame` with its ticker's history (a frame without ticker/ts: each row alone)."""
        flat = np.empty((len(frame) + 1, len(columns)), dtype="float32")
        flat[:-1] = frame[columns].to_numpy(dtype="float32", na_value=np.nan)
        flat[-1] = np.nan  # "no such row": zero once standardised, as a missing value is
        if "ticker" in frame.columns and "ts" in frame.columns:
            windows = sequence_indices(frame, length)
        else:  # a bare serving request: each row is its own, short, history
            windows = np.full((len(frame), length), -1, dtype=position_dtype(len(frame)))
            windows[:, -1] = np.arange(len(frame))
        windows[windows < 0] = len(frame)  # explicit, so torch indexing never meets a negative position
        return cls(flat, windows)

    @classmethod
    def from_sequences(cls, sequences: np.ndarray) -> SequenceMatrix:
        """Wrap materialised (n, K, features) sequences (each window its own K rows; no memory saved)."""
        if sequences.ndim != 3:
            raise ValueError(f"sequences must be (rows, length, features), got shape {sequences.shape}")
        n, length, features = sequences.shape
        rows = np.ascontiguousarray(sequences, dtype="float32").reshape(n * length, features)
        return cls(rows, np.arange(n * length, dtype=position_dtype(n * length)).reshape(n, length))

    def __len__(self) -> int:
        return len(self.windows)

    @property
    def shape(self) -> tuple[int, int, int]:
        """The shape the materialised array would have: (rows, K, features)."""
        return (len(self.windows), self.windows.shape[1], self.rows.shape[1])

    def __getitem__(self, selection: Any) -> SequenceMatrix:
        if isinstance(selection, (int, np.integer)):
            selection = [selection]
        return SequenceMatrix(self.rows, self.windows[selection])

    def gather(self, selection: Any = slice(None)) -> np.ndarray:
        """The selected rows' sequences, materialised: (n, K, features) float32."""
        return self.rows[self.windows[selection]]

    def last(self) -> np.ndarray:
        """Each row's own features (the last step of its sequence): (n, features) float32."""
        return self.rows[self.windows[:, -1]]

    def compact(self) -> SequenceMatrix:
        """A copy holding only the rows the windows reach, renumbered (a fold's share, not the table)."""
        needed = np.zeros(len(self.rows), dtype=bool)
        needed[self.windows.ravel()] = True
        renumber = (np.cumsum(needed) - 1).astype(self.windows.dtype)
        return SequenceMatrix(self.rows[needed], renumber[self.windows])
