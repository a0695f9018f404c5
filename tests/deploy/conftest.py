"""A real (tiny) ensemble artifact in a local run folder's S3 store, and registry helpers against moto server."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from pipelines.config import PipelineConfig, load_config
from pipelines.emulator import emulator_client
from pipelines.local.registry import register_model_package

LOG = logging.getLogger("test")
UNIVERSE = pd.DataFrame({"ticker": ["AAPL", "MSFT", "JPM", "XOM"],
                         "sector": ["Information Technology", "Information Technology", "Financials", "Energy"]})


@pytest.fixture(scope="session")
def ensemble_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """steps.ensemble's output folder over one tiny xgboost model (market -> features -> train -> evaluate)."""
    from steps.ensemble.run import run_ensemble
    from steps.evaluate.run import run_evaluation
    from steps.features.run import run_features
    from steps.features.settings import FeatureSettings
    from steps.sample_data.generator import generate_market
    from steps.sample_data.writer import write_market
    from steps.train.algorithms import get_algorithm
    from steps.train.run import run_training

    root = tmp_path_factory.mktemp("deploy_artifact")
    write_market(generate_market(UNIVERSE, days=30, seed=3), root / "sample")
    UNIVERSE.to_csv(root / "universe.csv", index=False)
    settings = FeatureSettings(n_folds=3, train_days=10, validation_days=4, holdout_days=5, embargo_bars=30)
    run_features(root / "sample" / "bars", root / "sample" / "tweets", root / "features", settings,
                 universe=root / "universe.csv", logger=LOG)
    algorithm = get_algorithm("xgboost")
    params = {**algorithm.defaults(), "num_round": 40, "early_stopping_rounds": 10, "nthread": 1}
    run_training(root / "features", root / "models" / "xgboost", root / "train_out", algorithm, params, LOG)
    run_evaluation(root / "models" / "xgboost", root / "features", root / "evaluations" / "xgboost", None, LOG,
                   bootstrap=5)
    run_ensemble(root / "models", root / "evaluations", root / "features", root / "ensemble", LOG, bootstrap=5)
    return root / "ensemble"


@pytest.fixture
def config() -> PipelineConfig:
    return load_config(profile="quick")


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return tmp_path / "runs"


@pytest.fixture
def register(aws_endpoint: str, run_dir: Path, ensemble_output: Path, config: PipelineConfig) -> Callable[[], str]:
    """Register one more package as the pipeline's Register step does; its files go to the local S3 store."""
    counter = {"n": 0}

    def _register() -> str:
        counter["n"] += 1
        key = f"{config.pipeline.prefix}/executions/e{counter['n']}/BuildEnsemble/ensemble"
        target = run_dir / "s3" / config.pipeline.bucket / key
        shutil.copytree(ensemble_output, target)
        uri = f"s3://{config.pipeline.bucket}/{key}"
        arguments = {
            "ModelPackageGroupName": config.registry.model_package_group,
            "ModelPackageDescription": f"ensemble {counter['n']}",
            "ModelApprovalStatus": "PendingManualApproval",
            "InferenceSpecification": {
                "Containers": [{"Image": config.images.serving, "ModelDataUrl": f"{uri}/model.tar.gz"}],
                "SupportedContentTypes": ["text/csv", "application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
                "SupportedRealtimeInferenceInstanceTypes": list(config.instances.inference),
            },
            "ModelMetrics": {"ModelQuality": {"Statistics": {"ContentType": "application/json",
                                                             "S3Uri": f"{uri}/evaluation.json"}}},
            "CustomerMetadataProperties": {"algorithm": "ensemble"},
        }
        client = emulator_client("sagemaker", aws_endpoint)
        return register_model_package("Register", arguments, client)["ModelPackageArn"]

    return _register
