"""The pipeline, composed from one builder per stage. Offline and deterministic.

    BuildFeatures -> LeakTests -> LeakGate ─ false ─> Fail-leaks
                                     └ true ─> [FeatureStability] -> Tune-<alg> + Evaluate-<alg> (every algorithm)
                                               -> Gate-plausible ─ false ─> Fail-implausible (AUC above the ceiling)
                                                        └ true ─> Gate-models
    Gate-models ─ true ─> BuildEnsemble -> Gate-ensemble ─ true ─> Gate-plausible-ensemble ─ true ─>
                          CheckArtifact -> Gate-artifact ─ true ─> Register
                │                                      └ false ─> Fail-ensemble                 └ false ─> Fail-artifact
                └ false ─> Tune-<alg>-2 (warm start) + Evaluate-<alg>-2 -> Gate-models-2 ─ ... (suffix -2)
                           ... up to gates.max_tuning_attempts rounds; the last false branch is Fail-models

Building makes no AWS call (OfflinePipelineSession) and the JSON depends only on the config and the
code: code is addressed by content hash and no job name carries a timestamp.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from sagemaker.workflow.pipeline import Pipeline
from sagemaker.workflow.pipeline_definition_config import PipelineDefinitionConfig

from pipelines import sdk  # noqa: F401
from pipelines.code_bundle import build_code_bundle
from pipelines.config import PipelineConfig
from pipelines.parameters import build_parameters
from pipelines.session import OfflinePipelineSession, default_boto_session
from pipelines.stages.checks import build_leak_gate, build_leak_step
from pipelines.stages.context import StageContext
from pipelines.stages.ensemble import build_ensemble_chain
from pipelines.stages.features import build_features_step
from pipelines.stages.lockbox import build_seal_step
from pipelines.stages.models import build_model_rounds
from pipelines.stages.registry import Report, build_register_step
from pipelines.stages.sentiment import build_sentiment_stage, scored_tweets_uri
from pipelines.stages.stability import build_stability_step


def get_pipeline(config: PipelineConfig, session: OfflinePipelineSession | None = None) -> Pipeline:
    session = session or OfflinePipelineSession(config)
    with default_boto_session(session.boto_session):
        return _compose(config, session)


def _compose(config: PipelineConfig, session: OfflinePipelineSession) -> Pipeline:
    code = build_code_bundle(config.s3_root, universe=Path(config.universe_path) if config.universe_path else None)
    for upload in code.uploads():
        session.record_upload(upload)
    ctx = StageContext(config=config, session=session, params=build_parameters(config), code=code)

    # --twitter-sentiment: score raw tweets first; BuildFeatures and LeakTests read the scored tweets.
    sentiment_steps, tweets_ctx = [], ctx
    if config.sentiment.enabled:
        sentiment_steps, finbert = build_sentiment_stage(ctx)
        scored = replace(ctx.params, tweets_data_url=scored_tweets_uri(finbert))
        tweets_ctx = replace(ctx, params=scored)

    features = build_features_step(tweets_ctx)
    leaks, leak_report = build_leak_step(tweets_ctx, features)

    leak_file = Report(leaks, "leaks", "leak_report.json")

    # The lockbox: SealLockbox (beside LeakTests) takes the final holdout out of the table every later step reads.
    seal = build_seal_step(ctx, features)
    # --feature-analysis: SHAP stability selection; its `features` output (the same table, manifest narrowed
    # to the selected columns) replaces the sealed table as what every tuning job and the ensemble read.
    stability = build_stability_step(ctx, seal) if config.stability.enabled else None
    training_source = stability or seal
    stability_file = Report(stability, "stability", "stability_report.json") if stability else None

    def register(round_, ensemble, final):
        return build_register_step(ctx, round_, ensemble, final, features, leak_file, stability_file)

    models = build_model_rounds(
        ctx, training_source,
        on_pass=lambda round_: build_ensemble_chain(ctx, round_, training_source, seal, register),
    )
    leak_gate = build_leak_gate(leaks, leak_report, if_steps=[*([stability] if stability else []), *models], ctx=ctx)

    return Pipeline(
        name=config.pipeline.name,
        parameters=ctx.params.as_list(),
        steps=[*sentiment_steps, features, leaks, seal, leak_gate],
        sagemaker_session=session,
        pipeline_definition_config=PipelineDefinitionConfig(use_custom_job_prefix=False),
    )


def definition_json(pipeline: Pipeline) -> str:
    """The definition as published: the SDK's JSON, re-serialised with sorted keys and a stable layout."""
    with default_boto_session(pipeline.sagemaker_session.boto_session):
        built = pipeline.definition()
    return json.dumps(json.loads(built), indent=2, sort_keys=True) + "\n"
