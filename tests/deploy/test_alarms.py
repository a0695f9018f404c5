"""The endpoint's alarms, evaluated as CloudWatch evaluates them: an idle endpoint raises none, trouble does.

CloudWatch semantics used (docs: "Using Amazon CloudWatch alarms", treating missing data): each of the last
EvaluationPeriods periods is breaching or not; a period with no data is breaching only under
TreatMissingData=breaching, not breaching under notBreaching, and leaves the state as it is under
ignore/missing; the alarm goes to ALARM when every evaluated period breaches.
"""

from __future__ import annotations

import operator

import pytest

from pipelines.config import load_config
from pipelines.deployment.monitoring import alarm_requests

COMPARE = {
    "GreaterThanThreshold": operator.gt,
    "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}


def alarm_state(alarm: dict, datapoints: list[float | None]) -> str:
    """ALARM, OK or INSUFFICIENT_DATA for the last EvaluationPeriods datapoints (None: no data that period)."""
    recent = datapoints[-alarm["EvaluationPeriods"]:]
    verdicts = []
    for value in recent:
        if value is None:
            treat = alarm.get("TreatMissingData", "missing")
            if treat in {"missing", "ignore"}:
                continue
            verdicts.append(treat == "breaching")
        else:
            verdicts.append(COMPARE[alarm["ComparisonOperator"]](value, alarm["Threshold"]))
    if not verdicts:
        return "INSUFFICIENT_DATA"
    return "ALARM" if len(verdicts) == len(recent) and all(verdicts) else "OK"


@pytest.fixture(scope="module")
def alarms() -> dict[str, dict]:
    deploy = load_config().deploy
    requests = alarm_requests(deploy, "conviction-ensemble-v5-20261130-120000", "arn:aws:sns:us-east-1:1:t")
    return {a["MetricName"]: a for a in requests}


def test_an_idle_endpoint_raises_no_alarm(alarms):
    # No requests all night: no datapoints for any metric
    for alarm in alarms.values():
        assert alarm_state(alarm, [None] * 12) != "ALARM", alarm["AlarmName"]


def test_errors_and_latency_raise_their_alarms(alarms):
    periods = alarms["Invocation5XXErrors"]["EvaluationPeriods"]
    assert alarm_state(alarms["Invocation5XXErrors"], [3.0] * periods) == "ALARM"
    assert alarm_state(alarms["Invocation4XXErrors"], [50.0] * periods) == "ALARM"
    latency_ms = load_config().deploy.alarms.max_model_latency_ms
    assert alarm_state(alarms["ModelLatency"], [latency_ms * 1000 * 1.2] * periods) == "ALARM"  # microseconds
    # and a healthy busy endpoint raises none
    assert alarm_state(alarms["Invocation5XXErrors"], [0.0] * periods) == "OK"
    assert alarm_state(alarms["ModelLatency"], [latency_ms * 1000 * 0.5] * periods) == "OK"


def test_a_burst_followed_by_silence_does_not_keep_the_alarm_firing(alarms):
    periods = alarms["Invocation5XXErrors"]["EvaluationPeriods"]
    assert alarm_state(alarms["Invocation5XXErrors"], [5.0] * periods + [None] * periods) == "OK"


def test_deploy_help_says_what_the_dry_run_does(capsys):
    from pipelines import deploy

    with pytest.raises(SystemExit):
        deploy.main(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "create the SNS topic" in help_text and "publish one test alert" in help_text
