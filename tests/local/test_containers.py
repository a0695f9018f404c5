"""Container mode's side of the contract, against a stand-in `docker` CLI that records what it is asked and
plays a job (tests/containers/test_images.py runs the real images): what SageMaker gives a job and nothing
more, the failure file as FailureReason, metrics through the definition's regex, one-line refusals."""

from __future__ import annotations

import json
import os
import stat
import sys
import tarfile
from pathlib import Path

import pytest

from pipelines.local.errors import LocalRunError, StepFailed
from pipelines.local.jobs.containers import ContainerRuntime, linked_folders, read_job_message
from pipelines.local.jobs.processing import run_processing_job
from pipelines.local.jobs.training import run_training_job
from pipelines.local.store import LocalStore

IMAGE_URI = "000000000000.dkr.ecr.us-east-1.amazonaws.com/conviction-cpu:0.1.0"

# A docker CLI stand-in: `version`, `image inspect` (images named in images.txt beside it), `rm -f`, and
# `run`, which records its arguments and the values of its `-e` names, then plays the job that play.json says.
FAKE_DOCKER = r'''
import json, os, sys
from pathlib import Path
here = Path(__file__).parent
argv = sys.argv[1:]
if argv[:1] == ["version"]:
    sys.exit(0 if (here / "daemon-up").exists() and print("28.2.2") is None else 1)
if argv[:2] == ["image", "inspect"]:
    known = (here / "images.txt").read_text().split()
    sys.exit(0 if argv[-1] in known and print("sha256:0") is None else 1)
if argv[:2] == ["rm", "-f"]:
    with open(here / "removed.txt", "a") as f:
        f.write(argv[2] + "\n")
    sys.exit(0)
assert argv[0] == "run", argv
rest, mounts, names, options = argv[1:], [], [], {}
while rest[0].startswith("-"):
    if rest[0] == "--rm":
        rest = rest[1:]
        continue
    flag, value = rest[0], rest[1]
    rest = rest[2:]
    if flag == "-v":
        mounts.append(value)
    elif flag == "-e":
        names.append(value)
    else:
        options[flag] = value
image, command = rest[0], rest[1:]
ml = Path(next(m.split(":")[0] for m in mounts if m.split(":")[1] == "/opt/ml"))
record = {"image": image, "command": command, "mounts": mounts, "options": options,
          "env": {n: os.environ.get(n) for n in names}, "argv": argv}
with open(here / "runs.jsonl", "a") as f:
    f.write(json.dumps(record) + "\n")
play = json.loads((here / "play.json").read_text())
if play["job"] == "train":
    hyperparameters = json.loads((ml / "input/config/hyperparameters.json").read_text())
    (ml / "model").mkdir(exist_ok=True)
    (ml / "model/model.json").write_text(json.dumps(hyperparameters))
    print("validation:auc=0.7123;")
elif play["job"] == "fail":
    (ml / "output").mkdir(exist_ok=True)
    (ml / "output/failure").write_text(play["failure"])
    print("Traceback (most recent call last): ...")
    sys.exit(3)
elif play["job"] == "process":
    out = ml / "processing/output/result"
    out.mkdir(parents=True, exist_ok=True)
    (out / "done.txt").write_text("ok")
    (ml / "output").mkdir(exist_ok=True)
    (ml / "output/message").write_text("processed 3 files")
'''


@pytest.fixture
def docker(tmp_path, monkeypatch):
    folder = tmp_path / "fake-docker"
    folder.mkdir()
    script = folder / "docker"
    script.write_text(f"#!{sys.executable}\n{FAKE_DOCKER}")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    (folder / "daemon-up").write_text("")
    (folder / "images.txt").write_text("conviction-cpu:0.1.0\n")
    (folder / "play.json").write_text(json.dumps({"job": "train"}))
    monkeypatch.setenv("CONVICTION_DOCKER", str(script))
    return folder


def runs(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "runs.jsonl").read_text().splitlines()]


def training_definition(**extra) -> dict:
    return {
        "AlgorithmSpecification": {
            "TrainingImage": IMAGE_URI,
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "validation:auc", "Regex": r"validation:auc=([0-9.]+);"}],
        },
        "InputDataConfig": [
            {"ChannelName": "train", "DataSource": {"S3DataSource": {"S3Uri": "s3://bucket/features/"}}}
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/models"},
        "Environment": {"CONVICTION_SETTING": "value with spaces", "PYTHONPATH": "/opt/ml/input/data/code"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        **extra,
    }


@pytest.fixture
def store(tmp_path):
    store = LocalStore(tmp_path / "s3")
    features = store.path("s3://bucket/features/part-0.parquet")
    features.parent.mkdir(parents=True)
    features.write_bytes(b"rows")
    return store


def test_a_training_job_gets_what_sagemaker_gives_a_custom_image_and_nothing_more(docker, store, tmp_path):
    described = run_training_job(
        "train-job-1", training_definition(EnableNetworkIsolation=True), {"eta": "0.1", "max_depth": "4"},
        tmp_path / "jobs" / "train-job-1", store, threads=1, containers=ContainerRuntime(),
    )  # fmt: skip
    (call,) = runs(docker)
    assert call["image"] == "conviction-cpu:0.1.0"  # the URI's repository and tag, as `make images` tags them
    assert call["command"] == ["train"]  # hyperparameters only in hyperparameters.json, as SageMaker passes them
    assert call["options"]["--network"] == "none"
    assert call["options"]["--cpus"] == "1"
    ml_root = (tmp_path / "jobs" / "train-job-1" / "opt" / "ml").resolve()
    assert f"{ml_root}:/opt/ml" in call["mounts"]
    assert call["env"] == {
        "CONVICTION_SETTING": "value with spaces",
        "PYTHONPATH": "/opt/ml/input/data/code",  # a container path, not rewritten to the host's
        "TRAINING_JOB_NAME": "train-job-1",
        "TRAINING_JOB_ARN": "arn:aws:sagemaker:local:000000000000:training-job/train-job-1",
        "OMP_NUM_THREADS": "1",
    }
    assert not any(name.startswith("SM_") for name in call["env"])
    assert "value with spaces" not in " ".join(call["argv"]), "environment values stay off the command line"
    config = ml_root / "input" / "config"
    assert json.loads((config / "hyperparameters.json").read_text()) == {"eta": "0.1", "max_depth": "4"}
    assert json.loads((config / "resourceconfig.json").read_text())["current_host"] == "algo-1"
    assert set(json.loads((config / "inputdataconfig.json").read_text())) == {"train"}
    # the metric comes from the container's log through the definition's regex
    assert described["TrainingJobStatus"] == "Completed"
    assert [(m["MetricName"], m["Value"]) for m in described["FinalMetricDataList"]] == [("validation:auc", 0.7123)]
    with tarfile.open(store.path(described["ModelArtifacts"]["S3ModelArtifacts"])) as archive:
        assert archive.getnames() == ["model.json"]
    assert (docker / "removed.txt").read_text().split() == [call["argv"][call["argv"].index("--name") + 1]]


def test_a_job_that_writes_the_failure_file_fails_with_that_text_as_failure_reason(docker, store, tmp_path):
    (docker / "play.json").write_text(json.dumps({"job": "fail", "failure": "features: column sent_5m missing"}))
    described = run_training_job(
        "train-job-2", training_definition(), {}, tmp_path / "jobs" / "train-job-2", store,
        containers=ContainerRuntime(),
    )  # fmt: skip
    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"].startswith("AlgorithmError: features: column sent_5m missing\n(exit code 3;")
    assert "ModelArtifacts" not in described


def test_the_failure_file_is_read_up_to_sagemakers_1024_characters(tmp_path):
    path = tmp_path / "failure"
    assert read_job_message(path) is None
    path.write_text("x" * 5000)
    assert read_job_message(path) == "x" * 1024
    path.write_bytes(b"\xff\xfe not utf-8")
    assert read_job_message(path).endswith("not utf-8")


def test_a_processing_job_runs_its_entrypoint_in_its_image_with_the_code_folder_mounted(docker, store, tmp_path):
    (docker / "play.json").write_text(json.dumps({"job": "process"}))
    code = store.path("s3://bucket/code/0123456789abcdef/steps/__init__.py")
    code.parent.mkdir(parents=True)
    code.write_text("")
    arguments = {
        "AppSpecification": {
            "ImageUri": IMAGE_URI,
            "ContainerEntrypoint": ["python3", "-m", "steps.features"],
            "ContainerArguments": ["--output", "/opt/ml/processing/output/result"],
        },
        "ProcessingInputs": [
            {"InputName": "code", "S3Input": {"S3Uri": "s3://bucket/code/0123456789abcdef",
                                              "LocalPath": "/opt/ml/processing/input/code"}},
        ],
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "result", "S3Output": {
            "S3Uri": "s3://bucket/result", "LocalPath": "/opt/ml/processing/output/result"}}]},
        "Environment": {"PYTHONPATH": "/opt/ml/processing/input/code"},
        "NetworkConfig": {"EnableNetworkIsolation": False},
    }
    job_root = tmp_path / "runs" / "exec" / "jobs" / "build-features-1"
    described = run_processing_job("BuildFeatures", arguments, job_root, store, ContainerRuntime())
    (call,) = runs(docker)
    assert call["options"]["--entrypoint"] == "python3"
    assert call["command"] == ["-m", "steps.features", "--output", "/opt/ml/processing/output/result"]
    assert "--network" not in call["options"]
    shared = (job_root / "opt/ml/processing/input/code").resolve()
    assert shared != (job_root / "opt/ml/processing/input/code").absolute()  # a link to the shared folder
    assert f"{shared}:{shared}:ro" in call["mounts"], "the link's target is mounted so it resolves inside"
    assert json.loads((job_root / "opt/ml/config/resourceconfig.json").read_text())["hosts"] == ["algo-1"]
    assert described["ExitMessage"] == "processed 3 files"
    assert store.path("s3://bucket/result/done.txt").read_text() == "ok"


def test_a_processing_job_that_fails_says_its_message(docker, store, tmp_path):
    (docker / "play.json").write_text(json.dumps({"job": "fail", "failure": "unused"}))
    arguments = {"AppSpecification": {"ImageUri": IMAGE_URI, "ContainerEntrypoint": ["python3", "-m", "steps.x"]},
                 "NetworkConfig": {"EnableNetworkIsolation": True}}  # fmt: skip
    with pytest.raises(StepFailed, match="processing job exited with code 3"):
        run_processing_job("Step", arguments, tmp_path / "job", store, ContainerRuntime())
    assert runs(docker)[0]["options"]["--network"] == "none"


def test_an_image_that_is_not_built_is_one_line_naming_make_images(docker):
    runtime = ContainerRuntime()
    refusal = r"^--containers: image .*conviction-gpu:0\.1\.0 is not on this machine.*make images"
    with pytest.raises(LocalRunError, match=refusal):
        runtime.local_image(IMAGE_URI.replace("cpu", "gpu"))
    assert runtime.local_image(IMAGE_URI) == "conviction-cpu:0.1.0"


def test_a_missing_docker_or_a_stopped_daemon_is_one_line_saying_what_to_run(docker, monkeypatch, tmp_path):
    (docker / "daemon-up").unlink()
    with pytest.raises(LocalRunError, match=r"the Docker daemon is not running.*dockerd &") as caught:
        ContainerRuntime().check()
    assert "\n" not in str(caught.value)
    monkeypatch.setenv("CONVICTION_DOCKER", str(tmp_path / "no-such-docker"))
    with pytest.raises(LocalRunError, match=r"needs Docker: no .* on PATH"):
        ContainerRuntime().check()


def test_run_with_containers_refuses_before_any_step_when_the_daemon_is_down(docker, tmp_path, capsys):
    from pipelines.run import main

    (docker / "daemon-up").unlink()
    code = main(["--profile", "quick", "--containers", "--run-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: --containers: the Docker daemon is not running")
    assert len(err.strip().splitlines()) == 1
    assert not any((tmp_path / "runs").glob("*/execution.json")), "nothing ran"


def test_linked_folders_are_the_targets_outside_the_mount(tmp_path):
    root = tmp_path / "opt" / "ml"
    (root / "input" / "data" / "train").mkdir(parents=True)
    outside = tmp_path / "shared" / "code"
    outside.mkdir(parents=True)
    (root / "input" / "data" / "code").symlink_to(outside, target_is_directory=True)
    (root / "input" / "data" / "inside").symlink_to(root / "input" / "data" / "train", target_is_directory=True)
    assert linked_folders(root) == [outside.resolve()]
    assert os.path.isdir(root / "input" / "data" / "code")


def test_a_run_folder_whose_path_docker_would_misread_is_refused_in_one_line(docker, store, tmp_path):
    with pytest.raises(LocalRunError, match=r"cannot be mounted \(':' or ',' in the path\)"):
        run_training_job("job", training_definition(), {}, tmp_path / "a:b" / "job", store,
                         containers=ContainerRuntime())  # fmt: skip


def test_a_jobs_own_path_variable_does_not_change_which_docker_runs(docker, store, tmp_path, monkeypatch):
    monkeypatch.setenv("CONVICTION_DOCKER", "docker")  # found on PATH, as usual
    monkeypatch.setenv("PATH", f"{docker}{os.pathsep}{os.environ['PATH']}")
    definition = training_definition()
    definition["Environment"]["PATH"] = "/nowhere"
    described = run_training_job("job-path", definition, {}, tmp_path / "job", store, containers=ContainerRuntime())
    assert described["TrainingJobStatus"] == "Completed"
    assert runs(docker)[0]["env"]["PATH"] == "/nowhere"  # the job gets it; the CLI was found before
