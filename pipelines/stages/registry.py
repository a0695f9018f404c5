"""Register[-r]: the ensemble artifact as a model package in the group, awaiting approval (or the status given).

ModelMetrics, each in the format Studio reads in that place:
- ModelQuality.Statistics: FinalHoldout's evaluation.json (Model Monitor's model-quality shape): the final
  holdout's figures, the lockbox scored once after the rounds, with the selection holdout's beside them,
  labelled (`selection_holdout`), and the looks counted (`selection`);
- ModelDataQuality.Statistics / .Constraints: Model Monitor's statistics.json / constraints.json of the
  training rows (steps/features/baseline.py), written by FeatureStability over the selected columns when
  the pipeline has that step, else by LeakTests over every feature column: the columns the models take;
- Explainability.Report: FeatureStability's analysis.json, its SHAP values in Clarify's format (only when
  the pipeline has that step).
DriftCheckBaselines.ModelDataQuality names the same two baseline files: the baseline a data-quality
monitoring schedule for this package's endpoint starts from.

The project's own reports are not metrics in any of those formats; they stay reachable as customer
metadata URIs: `leak_report` (LeakTests' leak_report.json) and, with FeatureStability, `stability_report`.
Customer metadata also holds the algorithms ("+"-joined: pipelines/model_metadata.py), the code digest,
the data range, the features manifest, the final holdout's IC, Rank IC and net Sharpe (`holdout_*`), and
`final_auc`, `selection_auc`, `looks`, `selection_dsr`, `pbo` (final_holdout.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from sagemaker.drift_check_baselines import DriftCheckBaselines
from sagemaker.model_metrics import MetricsSource, ModelMetrics
from sagemaker.workflow.functions import Join, JsonGet
from sagemaker.workflow.step_collections import RegisterModel
from sagemaker.workflow.steps import ProcessingStep

from pipelines import sdk  # noqa: F401
from pipelines.model_metadata import encode_list
from pipelines.stages.checks import BASELINE_OUTPUT
from pipelines.stages.context import StageContext
from pipelines.stages.ensemble import Ensemble
from pipelines.stages.final_holdout import FinalHoldout
from pipelines.stages.models import ModelRound
from pipelines.stages.signal import registry_metadata
from pipelines.stages.stability import EXPLAINABILITY_FILE
from pipelines.stages.tuning import build_estimator


@dataclass(frozen=True)
class Report:
    """A JSON report one step writes: the step, its output name and the file in that output."""

    step: ProcessingStep
    output_name: str
    file_name: str

    @property
    def uri(self) -> Join:
        output = self.step.properties.ProcessingOutputConfig.Outputs[self.output_name].S3Output.S3Uri
        return Join(on="/", values=[output, self.file_name])


STATISTICS_FILE = "statistics.json"  # steps/features/baseline.py, in the `baseline` output
CONSTRAINTS_FILE = "constraints.json"


def _json_source(uri: Join) -> MetricsSource:
    return MetricsSource(s3_uri=uri, content_type="application/json")


def baseline_reports(leak_report: Report, stability_report: Report | None) -> tuple[Report, Report]:
    """(statistics, constraints): FeatureStability's over the selected columns when it runs, else LeakTests'."""
    step = stability_report.step if stability_report else leak_report.step
    return Report(step, BASELINE_OUTPUT, STATISTICS_FILE), Report(step, BASELINE_OUTPUT, CONSTRAINTS_FILE)


def build_register_step(
    ctx: StageContext,
    round_: ModelRound,
    ensemble: Ensemble,
    final: FinalHoldout,
    features_step: ProcessingStep,
    leak_report: Report,
    stability_report: Report | None = None,
) -> RegisterModel:
    statistics, constraints = baseline_reports(leak_report, stability_report)
    explainability = Report(stability_report.step, "stability", EXPLAINABILITY_FILE) if stability_report else None
    metrics = ModelMetrics(
        model_statistics=_json_source(Join(on="/", values=[final.output_uri, "evaluation.json"])),
        model_data_statistics=_json_source(statistics.uri),
        model_data_constraints=_json_source(constraints.uri),
        explainability=_json_source(explainability.uri) if explainability else None,
    )
    drift_baselines = DriftCheckBaselines(
        model_data_statistics=_json_source(statistics.uri), model_data_constraints=_json_source(constraints.uri)
    )
    manifest = Report(features_step, "features", "manifest.json")
    reports = {"leak_report": leak_report.uri}
    if stability_report:
        reports["stability_report"] = stability_report.uri
    return RegisterModel(
        name=f"Register{round_.suffix}",
        estimator=build_estimator(ctx, round_.algorithms[0]),
        image_uri=ctx.config.images.serving,
        model_data=ensemble.artifact_uri,
        content_types=["text/csv", "application/json"],
        response_types=["application/json"],
        inference_instances=ctx.config.instances.inference,
        transform_instances=ctx.config.instances.transform,
        model_package_group_name=ctx.config.registry.model_package_group,
        approval_status=ctx.params.model_approval_status,
        model_metrics=metrics,
        drift_check_baselines=drift_baselines,
        description=f"stacking ensemble of {', '.join(round_.algorithms)} from pipeline {ctx.config.pipeline.name}",
        # Metadata values allow letters, numbers, spaces and _.:/=+-@ only: a list is "+"-joined, never ",".
        customer_metadata_properties={
            "algorithms": encode_list(round_.algorithms),
            "tuning_round": str(round_.number),
            "grouping": ctx.config.training.grouping,
            "code_digest": ctx.code.digest,
            "pipeline": ctx.config.pipeline.name,
            "data_start": JsonGet(s3_uri=manifest.uri, json_path="data_range.rows_start"),
            "data_end": JsonGet(s3_uri=manifest.uri, json_path="data_range.rows_end"),
            # The feature list is in the manifest (`feature_columns`); a metadata value holds 256 characters.
            "features_manifest": manifest.uri,
            # The project's own reports, not metrics in a format ModelMetrics has a place for (module docstring).
            **reports,
            # The final holdout's IC, Rank IC and long-short net Sharpe, and the final and selection AUCs, the looks,
            # the DSR and the PBO (strings the step writes within the value pattern).
            **registry_metadata(final.step, final.evaluation),
            **final.metadata(),
        },
    )
