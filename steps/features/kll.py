"""The KLL quantile sketch as Model Monitor's statistics.json carries it (`distribution.kll.sketch`).

SageMaker Model Monitor's baseline container is built on Deequ, and a numerical feature's `sketch` in its
statistics.json is Deequ's `QuantileNonSample` state: `parameters` `{"c": shrinking factor, "k": sketch
size}` and `data`, one list per compactor level, an item at level h standing for 2**h values. A monitoring
job rebuilds the baseline sketch from that (Deequ's `QuantileNonSample.reconstruct`) and measures drift as
the largest difference between its CDF and the current data's (`Distance.numericalDistance`), so an empty
`data` would leave the drift check nothing to compare with.

This is a port of Deequ's update/condense/compact (awslabs/deequ, src/main/scala/com/amazon/deequ/
analyzers/QuantileNonSample.scala and NonSampleCompactor.scala; defaults from KLLSketch.scala:
DEFAULT_SKETCH_SIZE 2048, DEFAULT_SHRINKING_FACTOR 0.64). Deequ's compactor alternates its offset
deterministically (the random offset is commented out there), so the same values in the same order give
the same sketch. Items are fed in chunks rather than one at a time: `update` condenses only when the item
count exceeds the total capacity, so a chunk that fills exactly that room followed by one condense is
the same sequence of states (tests/steps/test_baseline.py checks it against an item-by-item port).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

SKETCH_SIZE = 2048
SHRINKING_FACTOR = 0.64


@dataclass
class _Compactor:
    """Deequ's NonSampleCompactor: a buffer that, when compacted, passes every other sorted item up."""

    buffer: np.ndarray = field(default_factory=lambda: np.empty(0))
    compressions: int = 0
    offset: int = 0

    def compact(self) -> np.ndarray:
        items = len(self.buffer)
        even = items - items % 2
        if self.compressions % 2 == 1:
            self.offset = 1 - self.offset
        output = np.sort(self.buffer[:even], kind="stable")[self.offset:even:2]
        # Deequ keeps the odd item out: the buffer's last element as it stands, not the largest
        self.buffer = self.buffer[items - 1:items].copy() if items % 2 else np.empty(0)
        self.compressions += 1
        return output


class KLLSketch:
    """Deequ's QuantileNonSample[Double]: `update(values)` in order, then `data()` for statistics.json."""

    def __init__(self, sketch_size: int = SKETCH_SIZE, shrinking_factor: float = SHRINKING_FACTOR) -> None:
        self.sketch_size = sketch_size
        self.shrinking_factor = shrinking_factor
        self.compactors: list[_Compactor] = []
        self._expand()

    def capacity(self, height: int) -> int:
        return 2 * (math.ceil(self.sketch_size * self.shrinking_factor ** height / 2) + 1)

    def _total_capacity(self) -> int:
        return sum(self.capacity(h) for h in range(len(self.compactors)))

    def _size(self) -> int:
        return sum(len(c.buffer) for c in self.compactors)

    def _expand(self) -> None:
        self.compactors.append(_Compactor())

    def _condense(self) -> None:
        for height, compactor in enumerate(self.compactors):
            if len(compactor.buffer) >= self.capacity(height):
                if height + 1 >= len(self.compactors):
                    self._expand()
                output = compactor.compact()
                above = self.compactors[height + 1]
                above.buffer = np.concatenate([above.buffer, output])
                return

    def update(self, values: np.ndarray) -> KLLSketch:
        """Add `values` in order, as Deequ's `update(item)` called once per item would."""
        values = np.asarray(values, dtype="float64")
        position = 0
        while position < len(values):
            # Deequ appends, then condenses once if the count exceeds the capacity: up to `room` items go in
            # untouched, and the one after them triggers a single condense.
            room = self._total_capacity() - self._size()
            take = max(1, room + 1)
            chunk = values[position:position + take]
            level0 = self.compactors[0]
            level0.buffer = np.concatenate([level0.buffer, chunk])
            position += len(chunk)
            if self._size() > self._total_capacity():
                self._condense()
        return self

    def data(self) -> list[list[float]]:
        """`sketch.data`: each level's items, level h weighing 2**h (Deequ's getCompactorItems)."""
        return [[float(v) for v in c.buffer] for c in self.compactors]

    def parameters(self) -> dict[str, float]:
        """`sketch.parameters` as Model Monitor names them: c, the shrinking factor; k, the sketch size."""
        return {"c": float(self.shrinking_factor), "k": float(self.sketch_size)}


def sketch_weight(data: list[list[float]]) -> int:
    """How many values a sketch stands for: sum over levels of 2**h x items (the input count, exactly)."""
    return sum(len(items) << height for height, items in enumerate(data))
