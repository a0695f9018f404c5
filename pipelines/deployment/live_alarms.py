"""Alarms on live model quality (-> SNS) and the EventBridge rule that retrains on them, as request bodies.

The metrics come from steps/live/monitor.py (namespace Conviction/Live). Two alarms per model package:
- `<family>-live-auc`: the daily LiveAUC below MinModelAUC - margin, for `periods` days running (a single
  day's AUC over ~56 x 26 rows moves by a few points; one bad day is noise, a run of them is not);
- `<family>-feature-drift`: MaxFeaturePSI above the threshold (0.25: "shifted" in the customary reading).
Missing data is not breaching (no labels yet, a holiday). The rule matches either alarm entering ALARM and
starts the SageMaker pipeline (EventBridge's SageMaker pipeline target, with a role EventBridge assumes).
"""

from __future__ import annotations

import json
from typing import Any

NAMESPACE = "Conviction/Live"
DAY_S = 86_400


def package_dimension(model_package_arn: str) -> str:
    """steps.live.monitor's ModelPackage dimension: the ARN's last two path parts (group/version)."""
    return "/".join(model_package_arn.split("/")[-2:])[-255:]


def live_alarm_requests(family: str, model_package_arn: str, topic_arn: str, *, min_auc: float,
                        auc_margin: float = 0.05, auc_periods: int = 3, psi_threshold: float = 0.25
                        ) -> list[dict[str, Any]]:
    if not 0 <= auc_margin < min_auc <= 1 or auc_periods < 1 or psi_threshold <= 0:
        raise ValueError("need 0 <= auc_margin < min_auc <= 1, auc_periods >= 1, psi_threshold > 0")
    package = package_dimension(model_package_arn)
    common = {"Namespace": NAMESPACE, "Period": DAY_S, "AlarmActions": [topic_arn], "OKActions": [topic_arn],
              "TreatMissingData": "notBreaching"}
    floor = round(min_auc - auc_margin, 6)
    return [
        {**common, "AlarmName": f"{family}-live-auc", "MetricName": "LiveAUC", "Statistic": "Minimum",
         "Dimensions": [{"Name": "ModelPackage", "Value": package}, {"Name": "Window", "Value": "daily"}],
         "EvaluationPeriods": auc_periods, "ComparisonOperator": "LessThanThreshold", "Threshold": floor,
         "AlarmDescription": f"{package}: live AUC below {floor:g} (MinModelAUC {min_auc:g} - {auc_margin:g}) "
                             f"for {auc_periods} days"},
        {**common, "AlarmName": f"{family}-feature-drift", "MetricName": "MaxFeaturePSI", "Statistic": "Maximum",
         "Dimensions": [{"Name": "ModelPackage", "Value": package}], "EvaluationPeriods": 1,
         "ComparisonOperator": "GreaterThanThreshold", "Threshold": psi_threshold,
         "AlarmDescription": f"{package}: a feature's live PSI against the training rows above {psi_threshold:g}"},
    ]


def retrain_rule_requests(family: str, alarm_names: list[str], pipeline_arn: str, role_arn: str
                          ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(PutRule, PutTargets): a live-quality alarm entering ALARM starts the pipeline."""
    rule = f"{family}-retrain-on-live-alarm"
    pattern = {"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"],
               "detail": {"alarmName": sorted(alarm_names), "state": {"value": ["ALARM"]}}}
    put_rule = {"Name": rule, "EventPattern": json.dumps(pattern), "State": "ENABLED",
                "Description": "retrain when live AUC falls or features drift (steps.live.monitor)"}
    put_targets = {"Rule": rule, "Targets": [{"Id": "pipeline", "Arn": pipeline_arn, "RoleArn": role_arn,
                                              "SageMakerPipelineParameters": {"PipelineParameterList": []}}]}
    return put_rule, put_targets
