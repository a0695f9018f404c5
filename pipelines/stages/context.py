"""What every stage builder needs: config, session, parameters, code, and the shared job settings."""

from __future__ import annotations

from dataclasses import dataclass

from sagemaker.network import NetworkConfig
from sagemaker.processing import ProcessingInput, Processor
from sagemaker.workflow.execution_variables import ExecutionVariables
from sagemaker.workflow.functions import Join
from sagemaker.workflow.retry import (
    SageMakerJobExceptionTypeEnum,
    SageMakerJobStepRetryPolicy,
    StepExceptionTypeEnum,
    StepRetryPolicy,
)
from sagemaker.workflow.steps import CacheConfig, ProcessingStep

from pipelines import sdk  # noqa: F401
from pipelines.code_bundle import PROCESSING_CODE_DIR, CodeBundle
from pipelines.config import PipelineConfig
from pipelines.parameters import PipelineParameters
from pipelines.session import OfflinePipelineSession

PROCESSING_ROOT = "/opt/ml/processing"


@dataclass(frozen=True)
class StageContext:
    config: PipelineConfig
    session: OfflinePipelineSession
    params: PipelineParameters
    code: CodeBundle

    @property
    def cache(self) -> CacheConfig:
        return CacheConfig(enable_caching=self.config.caching.enabled, expire_after=self.config.caching.expire_after)

    @property
    def retry_policies(self) -> list:
        """Throttling and capacity shortages are transient; retrying them is never a wrong answer."""
        retries = self.config.retries
        common = {
            "max_attempts": retries.max_attempts,
            "interval_seconds": retries.interval_seconds,
            "backoff_rate": retries.backoff_rate,
        }
        return [
            StepRetryPolicy(
                exception_types=[StepExceptionTypeEnum.THROTTLING, StepExceptionTypeEnum.SERVICE_FAULT],
                **common,
            ),
            SageMakerJobStepRetryPolicy(
                exception_types=[
                    SageMakerJobExceptionTypeEnum.CAPACITY_ERROR,
                    SageMakerJobExceptionTypeEnum.RESOURCE_LIMIT,
                    SageMakerJobExceptionTypeEnum.INTERNAL_ERROR,
                ],
                **common,
            ),
        ]

    def output_uri(self, step_name: str, output_name: str) -> Join:
        """Where a step's output lands: under the project prefix, one folder per execution."""
        return Join(
            on="/",
            values=[
                self.config.s3_root,
                "executions",
                ExecutionVariables.PIPELINE_EXECUTION_ID,
                step_name,
                output_name,
            ],
        )

    def s3(self, *parts: str) -> str:
        return "/".join([self.config.s3_root, *parts])

    def processor(self, step_module: str, job_name: str) -> Processor:
        """A processor that runs `python3 -m <step_module>` from the code input, ahead of the image's copy."""
        return Processor(
            role=self.config.pipeline.role_arn,
            image_uri=self.config.images.processing,
            instance_count=1,
            instance_type=self.params.processing_instance_type,
            entrypoint=["python3", "-m", step_module],
            volume_size_in_gb=self.config.instances.volume_size_gb,
            max_runtime_in_seconds=self.config.instances.max_runtime_seconds,
            base_job_name=job_name,
            sagemaker_session=self.session,
            env={"PYTHONPATH": PROCESSING_CODE_DIR, "PYTHONUNBUFFERED": "1"},
            tags=[{"Key": k, "Value": v} for k, v in sorted(self.config.pipeline.tags.items())],
            volume_kms_key=self.config.security.kms_key_id,
            output_kms_key=self.config.security.kms_key_id,
            network_config=self.network_config(),
        )

    def network_config(self) -> NetworkConfig | None:
        security = self.config.security
        if not (security.subnets or security.network_isolation):
            return None
        return NetworkConfig(
            enable_network_isolation=security.network_isolation,
            subnets=security.subnets or None,
            security_group_ids=security.security_group_ids or None,
            encrypt_inter_container_traffic=True if security.subnets else None,
        )

    def estimator_security(self) -> dict:
        """The same settings for training and tuning jobs, as Estimator keyword arguments."""
        security = self.config.security
        kwargs: dict = {"enable_network_isolation": security.network_isolation}
        if security.kms_key_id:
            kwargs.update(volume_kms_key=security.kms_key_id, output_kms_key=security.kms_key_id)
        if security.subnets:
            kwargs.update(subnets=security.subnets, security_group_ids=security.security_group_ids)
            kwargs["encrypt_inter_container_traffic"] = True
        return kwargs

    def processing_step(self, name: str, step_args, property_files: list | None = None, **extra) -> ProcessingStep:
        """A job step with the project's cache and retry settings (every processing stage uses this)."""
        return ProcessingStep(
            name=name,
            step_args=step_args,
            property_files=property_files,
            cache_config=self.cache,
            retry_policies=self.retry_policies,
            **extra,
        )

    def code_input(self) -> ProcessingInput:
        return ProcessingInput(source=self.code.s3_uri, destination=PROCESSING_CODE_DIR, input_name="code")
