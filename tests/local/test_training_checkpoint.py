"""Training jobs honour ContainerArguments and CheckpointConfig (what the FinGPT spot step relies on)."""

from __future__ import annotations

from pipelines.local.jobs.training import run_training_job
from pipelines.local.store import LocalStore

# A job that does one unit of work per run, keeps its progress in the checkpoint folder, and fails until
# three units are done: like a spot job interrupted twice.
PROGRAM = """
import pathlib, sys
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
progress = pathlib.Path(args["--checkpoint"]) / "progress.txt"
done = int(progress.read_text()) if progress.exists() else 0
progress.parent.mkdir(parents=True, exist_ok=True)
progress.write_text(str(done + 1))
print(f"units:done={done + 1}")
sys.exit(0 if done + 1 >= 3 else 1)
"""


def _definition(checkpoint_uri: str) -> dict:
    return {
        "AlgorithmSpecification": {
            "ContainerEntrypoint": ["python3", "-c", PROGRAM],
            "ContainerArguments": ["--checkpoint", "/opt/ml/checkpoints"],
            "MetricDefinitions": [{"Name": "units", "Regex": r"units:done=(\d+)"}],
            "TrainingInputMode": "File",
        },
        "CheckpointConfig": {"LocalPath": "/opt/ml/checkpoints", "S3Uri": checkpoint_uri},
        "InputDataConfig": [],
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/out"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
    }


def test_checkpoint_survives_failed_attempts_and_arguments_are_mapped(tmp_path):
    store = LocalStore(tmp_path / "s3")
    definition = _definition("s3://bucket/checkpoints/job")
    statuses = []
    for attempt in range(3):
        described = run_training_job(f"job-{attempt}", definition, {}, tmp_path / f"job-{attempt}", store)
        statuses.append(described["TrainingJobStatus"])
    assert statuses == ["Failed", "Failed", "Completed"]
    assert (store.path("s3://bucket/checkpoints/job") / "progress.txt").read_text() == "3"
    assert described["FinalMetricDataList"][0]["Value"] == 3.0
    # the container path reached the program as the job folder's copy, never the host's /opt/ml
    assert (tmp_path / "job-2" / "opt" / "ml" / "checkpoints" / "progress.txt").read_text() == "3"
