"""CloudWatch alarms (-> SNS) and the dashboard for an endpoint, as request bodies (data, then one call each)."""

from __future__ import annotations

import json
from typing import Any

from pipelines.config import Deploy

SAGEMAKER_NAMESPACE = "AWS/SageMaker"
ENDPOINT_NAMESPACE = "/aws/sagemaker/Endpoints"
VARIANT = "AllTraffic"


def family_name(deploy: Deploy) -> str:
    """The endpoint name without its timestamp: alarms keep one name and follow the newest endpoint."""
    return deploy.endpoint_name_template.split("{timestamp}")[0].rstrip("-_") or "endpoint"


def alarm_requests(deploy: Deploy, endpoint_name: str, topic_arn: str) -> list[dict[str, Any]]:
    """Errors and latency, each treating missing data as not breaching: an idle endpoint raises nothing."""
    a = deploy.alarms
    family = family_name(deploy)
    dimensions = [{"Name": "EndpointName", "Value": endpoint_name}, {"Name": "VariantName", "Value": VARIANT}]
    common = {"Namespace": SAGEMAKER_NAMESPACE, "Dimensions": dimensions, "Period": a.period_seconds,
              "EvaluationPeriods": a.evaluation_periods, "AlarmActions": [topic_arn], "OKActions": [topic_arn]}
    return [
        {**common, "AlarmName": f"{family}-5xx-errors", "MetricName": "Invocation5XXErrors", "Statistic": "Sum",
         "ComparisonOperator": "GreaterThanThreshold", "Threshold": a.max_5xx_errors,
         "TreatMissingData": "notBreaching",
         "AlarmDescription": f"{endpoint_name}: more than {a.max_5xx_errors:g} 5xx errors per {a.period_seconds}s"},
        {**common, "AlarmName": f"{family}-model-latency", "MetricName": "ModelLatency", "ExtendedStatistic": "p99",
         # ModelLatency is reported in microseconds.
         "ComparisonOperator": "GreaterThanThreshold", "Threshold": a.max_model_latency_ms * 1000.0,
         "TreatMissingData": "notBreaching",
         "AlarmDescription": f"{endpoint_name}: p99 model latency above {a.max_model_latency_ms:g} ms"},
        {**common, "AlarmName": f"{family}-4xx-errors", "MetricName": "Invocation4XXErrors", "Statistic": "Sum",
         "ComparisonOperator": "GreaterThanThreshold", "Threshold": a.max_4xx_errors,
         "TreatMissingData": "notBreaching",
         "AlarmDescription": f"{endpoint_name}: more than {a.max_4xx_errors:g} refused requests (4xx) per "
                             f"{a.period_seconds}s"},
    ]


def dashboard_body(deploy: Deploy, endpoint_name: str, region: str) -> dict[str, Any]:
    dims = ["EndpointName", endpoint_name, "VariantName", VARIANT]
    tweet = deploy.tweet_metric
    period = deploy.alarms.period_seconds

    def widget(x: int, y: int, title: str, metrics: list[list[Any]], stat: str = "Sum") -> dict[str, Any]:
        return {"type": "metric", "x": x, "y": y, "width": 12, "height": 6,
                "properties": {"title": title, "region": region, "stat": stat, "period": period, "view": "timeSeries",
                               "metrics": metrics}}

    search = (f"SEARCH('{{{tweet.namespace},{tweet.dimension}}} MetricName=\"{tweet.name}\"', 'Sum', {period})")
    return {"widgets": [
        widget(0, 0, f"Invocations - {endpoint_name}", [[SAGEMAKER_NAMESPACE, "Invocations", *dims]]),
        widget(12, 0, "Errors (4xx / 5xx)", [[SAGEMAKER_NAMESPACE, "Invocation4XXErrors", *dims],
                                             [SAGEMAKER_NAMESPACE, "Invocation5XXErrors", *dims]]),
        widget(0, 6, "Model latency (microseconds)",
               [[SAGEMAKER_NAMESPACE, "ModelLatency", *dims, {"stat": "p50"}],
                [SAGEMAKER_NAMESPACE, "ModelLatency", *dims, {"stat": "p99"}],
                [SAGEMAKER_NAMESPACE, "OverheadLatency", *dims, {"stat": "p99"}]], stat="p50"),
        widget(12, 6, "Instance CPU / memory (%)", [[ENDPOINT_NAMESPACE, "CPUUtilization", *dims],
                                                    [ENDPOINT_NAMESPACE, "MemoryUtilization", *dims]],
               stat="Average"),
        {"type": "metric", "x": 0, "y": 12, "width": 24, "height": 6,
         "properties": {"title": "Tweet volume (tweets ingested per ticker)", "region": region, "stat": "Sum",
                        "period": period, "view": "timeSeries", "stacked": True,
                        "metrics": [[{"expression": search, "id": "tweets", "label": "${PROP('Dim.Ticker')}"}]]}},
    ]}


def dashboard_request(deploy: Deploy, endpoint_name: str, region: str) -> dict[str, Any]:
    body = dashboard_body(deploy, endpoint_name, region)
    return {"DashboardName": deploy.dashboard, "DashboardBody": json.dumps(body)}
