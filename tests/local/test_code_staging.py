"""The code bundle is staged once per digest and every job imports it from that one real path.

What depends on it: Python's bytecode and numba's compiled feature kernels are cached next to the source
and keyed by its path, so a copy per job recompiled the kernels in every BuildFeatures and LeakTests job.
"""

from __future__ import annotations

import json
import os

from pipelines.local.jobs.processing import run_processing_job
from pipelines.local.store import LocalStore

CODE_URI = "s3://bucket/conviction/code/0123456789abcdef"
# The job reports where it imported `probe` from, writes a cache file next to it, and says whether a
# previous job's cache file was already there.
PROGRAM = """
import json, pathlib, sys
import probe
source = pathlib.Path(probe.__file__)
marker = source.with_name("cached.txt")
seen = marker.exists()
marker.write_text("compiled")
out = pathlib.Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
(out / "where.json").write_text(json.dumps({"file": str(source), "seen": seen}))
"""


def _arguments() -> dict:
    return {
        "AppSpecification": {"ContainerEntrypoint": ["python3", "-c", PROGRAM],
                             "ContainerArguments": ["/opt/ml/processing/output"]},
        "Environment": {"PYTHONPATH": "/opt/ml/processing/input/code"},
        "ProcessingInputs": [{"InputName": "code", "S3Input": {
            "S3Uri": CODE_URI, "LocalPath": "/opt/ml/processing/input/code", "S3DataType": "S3Prefix",
            "S3InputMode": "File"}}],
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "out", "S3Output": {
            "S3Uri": "s3://bucket/out", "LocalPath": "/opt/ml/processing/output", "S3UploadMode": "EndOfJob"}}]},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
    }


def test_jobs_share_one_staged_code_folder_and_import_from_its_real_path(tmp_path) -> None:
    store = LocalStore(tmp_path / "s3")
    source = store.path(CODE_URI)
    source.mkdir(parents=True)
    (source / "probe.py").write_text("VALUE = 1\n")

    reports = []
    for job in ("first", "second"):
        run_processing_job(job, _arguments(), tmp_path / "jobs" / job, store)
        reports.append(json.loads((store.path("s3://bucket/out") / "where.json").read_text()))

    shared = (tmp_path / ".code" / "0123456789abcdef").resolve()
    assert [r["file"] for r in reports] == [str(shared / "probe.py")] * 2
    assert [r["seen"] for r in reports] == [False, True]  # the second job found the first one's cache
    link = tmp_path / "jobs" / "second" / "opt" / "ml" / "processing" / "input" / "code"
    assert link.is_symlink() and link.resolve() == shared
    # the store itself is left as uploaded: nothing written into the "S3" prefix
    assert sorted(os.listdir(source)) == ["probe.py"]


def test_other_inputs_are_still_copied_per_job(tmp_path) -> None:
    store = LocalStore(tmp_path / "s3")
    data = store.path("s3://bucket/data/code/notadigest")
    data.mkdir(parents=True)
    (data / "rows.csv").write_text("a\n1\n")
    arguments = _arguments()
    arguments["AppSpecification"]["ContainerEntrypoint"] = ["python3", "-c", "print('ok')"]
    arguments["ProcessingInputs"][0]["S3Input"]["S3Uri"] = "s3://bucket/data/code/notadigest"
    run_processing_job("copy", arguments, tmp_path / "jobs" / "copy", store)
    staged = tmp_path / "jobs" / "copy" / "opt" / "ml" / "processing" / "input" / "code"
    assert not staged.is_symlink() and (staged / "rows.csv").read_text() == "a\n1\n"
    assert not (tmp_path / ".code").exists()
