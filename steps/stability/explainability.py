"""The SHAP values of the stability step as SageMaker Clarify's explainability `analysis.json`.

A model package's `ModelMetrics.Explainability.Report` is read as Clarify's output: Studio and the SDK's
model cards (sagemaker.model_card.evaluation_metric_parsers.ClarifyExplainabilityParser) look for
`explanations.kernel_shap.<label>.global_shap_values` {feature: value} and `expected_value`. The layout,
as documented in the SageMaker developer guide, "Run SageMaker Clarify Processing Jobs", section "Get the
Analysis Results" (awsdocs/amazon-sagemaker-developer-guide, doc_source/clarify-processing-job-run.md;
now https://docs.aws.amazon.com/sagemaker/latest/dg/clarify-processing-job-analysis-results.html):

    {"explanations": {"kernel_shap": {"label0": {"global_shap_values": {"feature_0": 0.0224, ...},
                                                 "expected_value": 0.5082}}}}

A feature's global value here is its mean |SHAP|: per walk-forward fold, the mean absolute SHAP value
over the fold's explained validation rows, then averaged over the folds; `expected_value` is the
explainer's base value averaged over the folds. The SHAP values are
shap's TreeExplainer attributions of each fold's regularised xgboost (steps/stability/select.py), in
log-odds, not Clarify's kernel SHAP of a probability; the key is still `kernel_shap` because that is the
one Clarify writes and its readers look for. The label is `label0`, as in the documented example (the
model has one output, P(up)). Every feature the step explained is listed, selected or not
(stability_report.json says which were kept and why the others were dropped).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from steps.stability.select import FoldImportance

ANALYSIS_FILE = "analysis.json"
LABEL = "label0"


def clarify_analysis(folds: list[FoldImportance], columns: list[str], label: str = LABEL) -> dict[str, Any]:
    """Clarify's explainability analysis.json from the per-fold mean |SHAP| and base values."""
    if not folds:
        raise ValueError("no folds: nothing was explained")
    global_values = {c: float(np.mean([f.mean_abs_shap[c] for f in folds])) for c in columns}
    expected = float(np.mean([f.expected_value for f in folds]))
    return {"explanations": {"kernel_shap": {label: {"global_shap_values": global_values,
                                                     "expected_value": expected}}}}
