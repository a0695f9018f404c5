"""The pipeline's typed parameters: what a Studio user may change per execution without republishing."""

from __future__ import annotations

from dataclasses import dataclass

from sagemaker.workflow.parameters import (
    ParameterBoolean,
    ParameterFloat,
    ParameterInteger,
    ParameterString,
)

from pipelines import sdk  # noqa: F401
from pipelines.config import PipelineConfig


@dataclass(frozen=True)
class PipelineParameters:
    input_data_url: ParameterString
    tweets_data_url: ParameterString
    include_sentiment: ParameterBoolean
    min_model_auc: ParameterFloat
    min_ensemble_auc: ParameterFloat
    model_approval_status: ParameterString
    max_tuning_jobs: ParameterInteger
    max_parallel_jobs: ParameterInteger
    processing_instance_type: ParameterString
    training_instance_type: ParameterString
    gru_instance_type: ParameterString
    feature_instance_count: ParameterInteger

    def as_list(self) -> list:
        values = [getattr(self, name) for name in self.__dataclass_fields__]
        return [value for value in values if value is not None]


def build_parameters(config: PipelineConfig) -> PipelineParameters:
    return PipelineParameters(
        input_data_url=ParameterString("InputDataUrl", default_value=config.data.input_data_url),
        tweets_data_url=ParameterString("TweetsDataUrl", default_value=config.data.tweets_data_url),
        include_sentiment=ParameterBoolean("IncludeSentiment", default_value=config.features.include_sentiment),
        min_model_auc=ParameterFloat("MinModelAUC", default_value=config.gates.min_model_auc),
        min_ensemble_auc=ParameterFloat("MinEnsembleAUC", default_value=config.gates.min_ensemble_auc),
        model_approval_status=ParameterString(
            "ModelApprovalStatus",
            default_value=config.registry.approval_status,
            enum_values=["PendingManualApproval", "Approved", "Rejected"],
        ),
        max_tuning_jobs=ParameterInteger("MaxTuningJobs", default_value=config.tuning.max_jobs),
        max_parallel_jobs=ParameterInteger("MaxParallelJobs", default_value=config.tuning.max_parallel_jobs),
        processing_instance_type=ParameterString("ProcessingInstanceType", default_value=config.instances.processing),
        training_instance_type=ParameterString("TrainingInstanceType", default_value=config.instances.training),
        gru_instance_type=ParameterString("GruInstanceType", default_value=config.instances.gru),
        feature_instance_count=ParameterInteger("FeatureInstanceCount", default_value=config.features.instance_count),
    )
