"""Feature importance for every run: the evaluated model's own gain, written at training time into its
model_meta.json (`feature_importance`, steps/train/algorithms/*.py `feature_importance`).

Why always: SHAP stability runs only with `--feature-analysis`; without it the page said nothing about which
inputs the model leans on (issue 31). The model's own gain is cheaper and biased towards high-cardinality
features, so it is labelled as what it is; the SHAP section below stays the careful reading when it ran.
"""

from __future__ import annotations

from html import escape
from typing import Any

from pipelines.report.collect import ModelResult, ReportData

TOP = 15
BAR = 260  # px of the longest bar


def _importance(meta: dict[str, Any]) -> dict[str, float] | None:
    values = meta.get("feature_importance")
    if not isinstance(values, dict):
        return None
    return {str(k): float(v) for k, v in values.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def _block(model: ModelResult) -> str:
    meta = model.model_meta or {}
    title = f"<h3>{escape(model.name)} ({escape(model.step)}, job {escape(str(model.training_job))})</h3>"
    algorithm = str(meta.get("algorithm") or model.name)
    values = _importance(meta)
    if algorithm == "gru":
        return (title + '<p class="muted" data-importance="none">GRU: a recurrent network has no importance of its '
                "own; run with <code>--feature-analysis</code> for SHAP.</p>")
    if values is None:
        return (title + '<p class="muted" data-importance="none">This model\'s model_meta.json has no '
                "feature_importance (trained before it was written); retrain or run with "
                "<code>--feature-analysis</code>.</p>")
    total = sum(values.values()) or 1.0
    ranked = sorted(values.items(), key=lambda item: -item[1])
    unused = sum(1 for _, v in ranked if v == 0)
    top = ranked[0][1] or 1.0
    rows = "".join(
        f'<tr data-importance-feature="{escape(name)}"><td>{escape(name)}</td><td class=num>{value / total:.1%}</td>'
        f'<td><span class="bar" style="width:{int(BAR * value / top)}px"></span></td></tr>'
        for name, value in ranked[:TOP])
    kind = escape(str(meta.get("feature_importance_type") or "gain"))
    return (title + f'<p class="muted">the model\'s own {kind}, as a share of the total over {len(values)} features'
            f"{f'; {unused} never used' if unused else ''}; top {min(TOP, len(ranked))} shown</p>"
            f'<table data-importance="{escape(model.step)}"><tr><th>feature</th><th>share of {kind}</th>'
            f"<th></th></tr>{rows}</table>")


def importance_section(data: ReportData) -> str:
    models = [m for m in data.models if m.training_job]
    if not models:
        return '<p class="muted">No trained model was evaluated in this run.</p>'
    return "".join(_block(model) for model in models)
