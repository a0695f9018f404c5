"""The model registry as approve/deploy see it: packages of a group, their metrics, approval changes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipelines.deployment.environment import DeployError

PENDING, APPROVED, REJECTED = "PendingManualApproval", "Approved", "Rejected"
MAX_PAGES = 100  # 100 pages x 100 packages: more than any group here will hold


@dataclass
class Package:
    arn: str
    group: str
    version: int
    status: str
    created: datetime | None
    description: str = ""
    model_data_url: str | None = None
    statistics_uri: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    approval_description: str = ""

    @property
    def label(self) -> str:
        return f"{self.group}/{self.version}"


def _from_description(described: dict[str, Any]) -> Package:
    containers = described.get("InferenceSpecification", {}).get("Containers", [])
    statistics = described.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {})
    return Package(
        arn=described["ModelPackageArn"], group=described.get("ModelPackageGroupName", ""),
        version=int(described.get("ModelPackageVersion", 0)), status=described.get("ModelApprovalStatus", ""),
        created=described.get("CreationTime"), description=described.get("ModelPackageDescription", ""),
        model_data_url=containers[0].get("ModelDataUrl") if containers else None,
        statistics_uri=statistics.get("S3Uri"), metadata=dict(described.get("CustomerMetadataProperties", {})),
        approval_description=described.get("ApprovalDescription", ""),
    )


def describe_package(sm, arn: str) -> Package:
    return _from_description(sm.describe_model_package(ModelPackageName=arn))


def list_packages(sm, group: str, status: str | None = None) -> list[Package]:
    """Every package of the group (optionally of one approval status), oldest version first."""
    request: dict[str, Any] = {"ModelPackageGroupName": group, "MaxResults": 100, "ModelPackageType": "Versioned"}
    if status:
        request["ModelApprovalStatus"] = status
    summaries: list[dict[str, Any]] = []
    for _ in range(MAX_PAGES):
        page = sm.list_model_packages(**request)
        summaries += page.get("ModelPackageSummaryList", [])
        if not page.get("NextToken"):
            break
        request["NextToken"] = page["NextToken"]
    packages = [describe_package(sm, s["ModelPackageArn"]) for s in summaries]
    if status:  # belt and braces: never hand a package of another status to deploy
        packages = [p for p in packages if p.status == status]
    return sorted(packages, key=lambda p: p.version)


def find_package(sm, group: str, *, version: int | None = None, status: str | None = None) -> Package:
    """Version N of the group, or (version None) the newest package with `status`."""
    if version is not None:
        matches = [p for p in list_packages(sm, group) if p.version == version]
        if not matches:
            raise DeployError(f"model package group {group!r} has no version {version}; "
                              "see `python -m pipelines.approve --list --all`")
        if status and matches[0].status != status:
            raise DeployError(f"{matches[0].label} is {matches[0].status}, not {status}")
        return matches[0]
    packages = list_packages(sm, group, status)
    if not packages:
        what = {PENDING: "awaits approval", APPROVED: "is approved"}.get(status or "", "exists")
        raise DeployError(f"no package in model package group {group!r} {what}")
    return packages[-1]


def set_approval(sm, package: Package, status: str, comment: str | None) -> Package:
    request = {"ModelPackageArn": package.arn, "ModelApprovalStatus": status}
    if comment:
        request["ApprovalDescription"] = comment
    sm.update_model_package(**request)
    return describe_package(sm, package.arn)


def read_statistics(artifacts, package: Package) -> dict[str, Any] | None:
    """The package's ModelQuality statistics (evaluation.json), or None when it has none or it is unreadable."""
    if not package.statistics_uri:
        return None
    try:
        return json.loads(artifacts.read_bytes(package.statistics_uri))
    except Exception:  # a listing must not fail on one package's missing report
        return None


def _figure(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) and not isinstance(value, bool) else "undefined"


def metrics_summary(statistics: dict[str, Any] | None) -> dict[str, Any]:
    """The figures a reviewer approves on: holdout AUC (± sd), accuracy, log loss, IC and the long-short net
    Sharpe of the backtest (where the evaluation has them), and the ensemble's clause."""
    if not statistics:
        return {}
    metrics = statistics.get("binary_classification_metrics", {})
    names = ("auc", "accuracy", "log_loss", "brier", "information_coefficient", "long_short_net_sharpe")
    summary: dict[str, Any] = {name: metrics[name].get("value") for name in names
                               if isinstance(metrics.get(name), dict)}
    if isinstance(metrics.get("auc"), dict):
        summary["auc_sd"] = metrics["auc"].get("standard_deviation")
    summary["algorithm"] = statistics.get("algorithm")
    holdout = statistics.get("holdout", {})
    start, end = str(holdout.get("start", "?"))[:10], str(holdout.get("end", "?"))[:10]
    summary["holdout"] = f"{start}..{end} ({holdout.get('rows')} rows)"
    selection = statistics.get("selection_holdout")
    if isinstance(selection, dict):  # a final-holdout evaluation (the lockbox): what selected it, beside it
        looks = (statistics.get("selection") or {}).get("looks") or {}
        summary["selection_auc"] = (selection.get("auc") or {}).get("value")
        summary["looks"] = looks.get("n")
        summary["holdout"] = (f"final holdout {summary['holdout']}; selection holdout AUC "
                              f"{_figure(summary['selection_auc'])} after {looks.get('n', '?')} looks")
    ensemble = statistics.get("ensemble") or (selection or {}).get("ensemble")
    if isinstance(ensemble, dict):
        summary.update({"best_single_auc": ensemble.get("best_single_auc"),
                        "best_single_algorithm": ensemble.get("best_single_algorithm"),
                        "beats_best_single": ensemble.get("beats_best_single"),
                        "base_models": ",".join(ensemble.get("algorithms", []))})
    return summary
