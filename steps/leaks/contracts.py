"""settings_contract: the table was built with the settings the pipeline is configured with.

The contract comes from the configuration (the pipeline passes configs/pipeline.yaml's feature and fold
settings to steps.leaks as arguments), never from the table under test: a table whose manifest says it was
built with an ingest lag of 0 s must not be recomputed, recounted and purged with 0 s when the configuration
requires 60 s. Every setting the manifest records is compared with the configured one, and any difference
(or a setting missing from either side) fails the check, naming the settings.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from steps.features.settings import FeatureSettings
from steps.leaks.checks.common import CheckResult

NAME = "settings_contract"


def _same(configured: Any, recorded: Any) -> bool:
    """Equal as the settings mean them: 60 and 60.0 are one lag; lists and tuples of windows compare by value."""
    if isinstance(configured, bool) or isinstance(recorded, bool):
        return configured is recorded
    if isinstance(configured, int | float) and isinstance(recorded, int | float):
        return math.isclose(float(configured), float(recorded), rel_tol=0.0, abs_tol=1e-12)
    if isinstance(configured, list | tuple) and isinstance(recorded, list | tuple):
        return len(configured) == len(recorded) and all(_same(a, b) for a, b in zip(configured, recorded, strict=True))
    return configured == recorded


def settings_contract(recorded: Any, configured: FeatureSettings | None, manifest: str | Path) -> CheckResult:
    """Compare the manifest's `settings` (what the table says it was built with) with the configured settings."""
    if configured is None:
        return CheckResult(NAME, False, "no configured settings were given, so the table's own manifest would be its "
                           "contract; pass the feature settings of configs/pipeline.yaml (the pipeline does)",
                           ["settings"])
    if not isinstance(recorded, dict):
        return CheckResult(NAME, False, f"{manifest} records no 'settings' to hold to the configuration", ["settings"])
    expected = configured.to_json()
    differences: dict[str, dict[str, Any]] = {}
    for key in sorted(set(expected) | set(recorded)):
        if key == "extra" and not expected.get(key) and not recorded.get(key):
            continue
        if key not in recorded:
            differences[key] = {"configured": expected[key], "table": "(missing)"}
        elif key not in expected:
            differences[key] = {"configured": "(not a setting)", "table": recorded[key]}
        elif not _same(expected[key], recorded[key]):
            differences[key] = {"configured": expected[key], "table": recorded[key]}
    if not differences:
        return CheckResult(NAME, True, f"the table's {len(expected)} recorded settings equal the configured ones "
                           f"(ingest lag {configured.ingest_lag_seconds:g}s, horizon {configured.label_horizon_bars} "
                           "bars)", [], {"configured": expected})
    parts = [f"{key} {d['table']!r} in the table, {d['configured']!r} configured" for key, d in differences.items()]
    return CheckResult(NAME, False, "the table was built with other settings than the configuration requires: "
                       + "; ".join(parts) + f" ({manifest}); rebuild the features with the configured settings",
                       sorted(differences), {"configured": expected, "differences": differences})
