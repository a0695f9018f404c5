"""Where each job step's log is: a relative link to the local runner's `jobs/<job>/job.log`, or the CloudWatch
Logs console for a SageMaker execution (log group /aws/sagemaker/<kind>Jobs, streams named after the job).

Why links: a failed or slow step is read in its log; the report is where a user looks first, so it says where
the log is instead of leaving them to reconstruct the job name (issue 31).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

Link = tuple[str, str]  # (label, href)

_GROUPS = {"Processing": "ProcessingJobs", "Training": "TrainingJobs", "Tuning": "TrainingJobs",
           "Transform": "TransformJobs"}  # fmt: skip


def job_names(step: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(job, parent folder) pairs of a step: its own job, or a tuning step's trials under the tuning job."""
    properties = step.get("properties") or {}
    kind = step.get("type")
    if kind == "Processing" and properties.get("ProcessingJobName"):
        return [(str(properties["ProcessingJobName"]), None)]
    if kind == "Training" and properties.get("TrainingJobName"):
        return [(str(properties["TrainingJobName"]), None)]
    if kind == "Tuning" and properties.get("HyperParameterTuningJobName"):
        tuning = str(properties["HyperParameterTuningJobName"])
        trials = [t.get("TrainingJobName") for t in properties.get("TrainingJobSummaries") or [] if isinstance(t, dict)]
        # SageMaker lists no trials here: its trials' log streams start with the tuning job's name
        return [(str(trial), tuning) for trial in trials if trial] or [(tuning, None)]
    return []


def local_log_links(steps: list[dict[str, Any]], run_folder: Path, report_folder: Path) -> dict[str, list[Link]]:
    """Each job step's `job.log` files that exist, linked relative to the report (so the page and its run folder
    can move together)."""
    links: dict[str, list[Link]] = {}
    for step in steps:
        for job, parent in job_names(step):
            log = run_folder / "jobs" / parent / job / "job.log" if parent else run_folder / "jobs" / job / "job.log"
            if log.is_file():
                href = Path(os.path.relpath(log, report_folder)).as_posix()
                links.setdefault(step["name"], []).append((job, quote(href)))
    return links


def cloudwatch_url(region: str, step_type: str, job: str) -> str | None:
    """The CloudWatch Logs console page of a SageMaker job's log streams (they are named `<job>/…`)."""
    group = _GROUPS.get(step_type)
    if not group or not region:
        return None

    def console(text: str) -> str:  # the console's own escaping of its URL fragment: '%' becomes '$25'
        return quote(text, safe="").replace("%", "$25")

    return (f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logsV2:log-groups/log-group/"
            f"{console('/aws/sagemaker/' + group)}/log-events{console('?logStreamNameFilter=' + job)}")


def sagemaker_log_links(steps: list[dict[str, Any]], region: str) -> dict[str, list[Link]]:
    links: dict[str, list[Link]] = {}
    for step in steps:
        for job, _ in job_names(step):
            url = cloudwatch_url(region, str(step.get("type")), job)
            if url:
                links.setdefault(step["name"], []).append((job, url))
    return links
