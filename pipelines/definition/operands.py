"""What a condition's operand *is*, in two or three words, for the one-line gate summaries.

A resolved condition holds numbers only ("0.6643 GreaterThanOrEqualTo 0.6 -> True"), which does not say what was
checked. The operand's expression does: a pipeline parameter (MinModelAUC), or a figure a step's report holds
(Evaluate-xgboost's AUC). Known report paths get their reader's name; any other path its last segment.
"""

from __future__ import annotations

from typing import Any

# evaluation.json, check_report.json and leak_report.json paths the gates read, by what a reader calls them
KNOWN_PATHS = {
    "binary_classification_metrics.auc.value": "AUC",
    "binary_classification_metrics.long_short_net_sharpe.value": "net Sharpe",
    "ensemble.beats_best_single": "beats the best single model",
    "selection.selection_holdout.dsr.dsr": "DSR",
    "selection.pbo.pbo": "PBO",
    "passed": "passed",
}
SYMBOLS = {"GreaterThanOrEqualTo": ">=", "GreaterThan": ">", "LessThanOrEqualTo": "<=", "LessThan": "<",
           "Equals": "=="}


def operand_label(expression: Any) -> str | None:
    """'MinModelAUC', 'Evaluate-xgboost AUC', 'LeakTests passed'; None for a literal."""
    if not isinstance(expression, dict) or len(expression) != 1:
        return None
    (kind, spec), = expression.items()
    if kind == "Get" and isinstance(spec, str):
        if spec.startswith("Parameters."):
            return spec.removeprefix("Parameters.")
        parts = spec.split(".")
        return " ".join(parts[1:3]) if parts[0] == "Steps" and len(parts) > 2 else spec
    if kind == "Std:JsonGet" and isinstance(spec, dict):
        path = str(spec.get("Path", ""))
        source = spec.get("PropertyFile", {})
        step = ""
        if isinstance(source, dict) and isinstance(source.get("Get"), str):
            parts = source["Get"].split(".")
            step = parts[1] if len(parts) > 1 else ""
        name = KNOWN_PATHS.get(path) or next((p for p in reversed(path.split(".")) if p != "value"), path)
        return f"{step} {name}".strip()
    return None
