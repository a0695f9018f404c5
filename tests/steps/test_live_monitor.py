"""Live model quality on the emulator (moto on 127.0.0.1): a degraded model raises the live-AUC alarm, a shifted
feature raises the drift alarm, the honest replay raises neither; the retrain rule matches the alarms."""

from __future__ import annotations

import json
import operator
from pathlib import Path

import boto3
import numpy as np
import pandas as pd
import pytest
from moto.events.models import EventPattern

from pipelines.deployment.invoker import LocalServeInvoker
from pipelines.deployment.live_alarms import NAMESPACE, live_alarm_requests, retrain_rule_requests
from steps.common.folds import load_folds
from steps.common.validation import validate_bars, validate_tweets
from steps.features.catalogue import feature_columns
from steps.features.engine import FeatureEngine
from steps.features.parity import replay_features
from steps.live.model_client import HttpModel
from steps.live.monitor import drift, join_labels, metric_data, psi, publish, quality, realised_labels
from steps.live.scorer import LiveScorer, replay
from steps.live.training import load_training_manifest

ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/conviction/3"
COMPARE = {"LessThanThreshold": operator.lt, "GreaterThanThreshold": operator.gt}


class Inverted:
    """A degraded model: the served model's probabilities turned around from `start` on (its labels flipped)."""

    def __init__(self, model: HttpModel, start: pd.Timestamp) -> None:
        self.model, self.start = model, start

    def score(self, rows: pd.DataFrame, columns: list[str]) -> np.ndarray:
        p = self.model.score(rows, columns)
        return 1.0 - p if rows["ts"].iloc[0] >= self.start else p


@pytest.fixture(scope="module")
def replays(features_dir: Path, model_dir: Path, market):
    training = load_training_manifest(features_dir)
    bars = validate_bars(market.bars, "bars")
    tweets = validate_tweets(market.tweets, "tweets")
    holdout_start = load_folds(features_dir / "folds.json").holdout_start
    invoker = LocalServeInvoker(start_timeout_s=60)
    invoker.attach("monitor", model_dir)
    out = {}
    try:
        served = HttpModel(invoker.url("monitor"))
        for name, model in (("honest", served), ("degraded", Inverted(served, holdout_start))):
            engine = FeatureEngine(training.settings, training.sectors, expected=list(training.sectors or []))
            scorer = LiveScorer(engine, model, training.columns, ARN, holdout_start)
            replay(scorer, bars, tweets, training.settings)
            out[name] = scorer.table()
    finally:
        invoker.close()
    labels = realised_labels(bars, training.settings)
    return out, labels, training, bars, tweets


def _state(alarm: dict, values: list[float]) -> str:
    """CloudWatch's verdict on the last EvaluationPeriods datapoints (every one breaching: ALARM)."""
    recent = values[-alarm["EvaluationPeriods"]:]
    if len(recent) < alarm["EvaluationPeriods"]:
        return "INSUFFICIENT_DATA"
    return "ALARM" if all(COMPARE[alarm["ComparisonOperator"]](v, alarm["Threshold"]) for v in recent) else "OK"


def _datapoints(cloudwatch, alarm: dict) -> list[float]:
    """The alarm's metric as CloudWatch stores it (read back from the emulator), oldest first."""
    answer = cloudwatch.get_metric_statistics(
        Namespace=alarm["Namespace"], MetricName=alarm["MetricName"], Dimensions=alarm["Dimensions"],
        StartTime=pd.Timestamp("2024-01-01", tz="UTC"), EndTime=pd.Timestamp("2030-01-01", tz="UTC"),
        Period=alarm["Period"], Statistics=[alarm["Statistic"]])
    points = sorted(answer["Datapoints"], key=lambda p: p["Timestamp"])
    return [p[alarm["Statistic"]] for p in points]


def test_psi_is_zero_for_the_same_rows_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(size=5000)
    assert psi(train, train) == pytest.approx(0.0, abs=1e-12)
    assert psi(train, rng.normal(size=5000)) < 0.02
    assert psi(train, rng.normal(loc=1.0, size=5000)) > 0.25
    assert psi(train, np.full(100, np.nan)) > 1.0  # a feature gone missing live is drift too


def test_a_degraded_model_raises_the_live_auc_alarm_and_a_shifted_feature_the_drift_alarm(
        replays, aws_endpoint: str, features_dir: Path) -> None:
    scores, labels, training, bars, tweets = replays
    cloudwatch = boto3.client("cloudwatch", endpoint_url=aws_endpoint, region_name="us-east-1")
    sns = boto3.client("sns", endpoint_url=aws_endpoint, region_name="us-east-1")
    topic = sns.create_topic(Name="conviction-alarms")["TopicArn"]
    table = pd.read_parquet(features_dir / "features.parquet")
    holdout_start = load_folds(features_dir / "folds.json").holdout_start
    training_rows = table[table["ts"] < holdout_start]
    live_rows = replay_features(bars, tweets, training.settings, training.sectors)
    live_rows = live_rows[live_rows["ts"] >= holdout_start]
    shifted = live_rows.assign(ret_60=live_rows["ret_60"] + 3 * training_rows["ret_60"].std())
    verdicts = {}
    for name, family, rows in (("honest", "honest", live_rows), ("degraded", "degraded", live_rows),
                               ("shifted", "shifted", shifted)):
        arn = f"{ARN}-{family}"
        package_scores = scores["degraded" if name == "degraded" else "honest"].assign(model_package_arn=arn)
        joined = join_labels(package_scores, labels)
        daily = quality(joined, "daily")
        psis, skipped = drift(training_rows, rows, training.columns)
        assert "rsi_daily" in skipped and "ret_60" in psis  # 4 tickers x 5 days: 20 daily values, no sample
        publish(cloudwatch, metric_data([daily, quality(joined, "weekly")], psis, arn, pd.Timestamp.now(tz="UTC")))
        alarms = {a["MetricName"]: a for a in live_alarm_requests(family, arn, topic, min_auc=0.60)}
        for alarm in alarms.values():
            cloudwatch.put_metric_alarm(**alarm)
        verdicts[name] = {metric: _state(alarm, _datapoints(cloudwatch, alarm)) for metric, alarm in alarms.items()}
        verdicts[name]["days"] = len(daily)
        verdicts[name]["auc"] = daily["auc"].round(3).tolist()
    assert verdicts["degraded"]["days"] >= 3
    assert verdicts["degraded"]["LiveAUC"] == "ALARM", verdicts
    assert verdicts["honest"]["LiveAUC"] == "OK", verdicts
    assert verdicts["shifted"]["MaxFeaturePSI"] == "ALARM", verdicts
    # The alarm is the shift's doing: ret_60's PSI as stored, unshifted against shifted, either side of the bar.
    # (The unshifted holdout's largest PSI is not a usable control here: 4 tickers x 5 days do not sample the
    # slow features, ret_daily / sent_daily reach ~0.45; docs/live.md.)
    bar = alarms["MaxFeaturePSI"]["Threshold"]
    stored = {}
    for family in ("honest", "shifted"):
        dims = [{"Name": "ModelPackage", "Value": f"conviction/3-{family}"}, {"Name": "Feature", "Value": "ret_60"}]
        stored[family] = max(_datapoints(cloudwatch, {"Namespace": NAMESPACE, "MetricName": "FeaturePSI",
                                                      "Dimensions": dims, "Period": 86_400, "Statistic": "Maximum"}))
    assert stored["honest"] < bar < stored["shifted"], stored
    names = [a["AlarmName"] for a in cloudwatch.describe_alarms(AlarmNamePrefix="degraded-")["MetricAlarms"]]
    assert sorted(names) == ["degraded-feature-drift", "degraded-live-auc"]
    described = cloudwatch.describe_alarms(AlarmNames=["degraded-live-auc"])["MetricAlarms"][0]
    assert described["AlarmActions"] == [topic] and described["Namespace"] == NAMESPACE


def test_the_retrain_rule_matches_a_live_alarm_entering_alarm_only(aws_endpoint: str) -> None:
    events = boto3.client("events", endpoint_url=aws_endpoint, region_name="us-east-1")
    pipeline = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/conviction"
    role = "arn:aws:iam::123456789012:role/eventbridge-start-pipeline"
    put_rule, put_targets = retrain_rule_requests("conviction", ["conviction-live-auc", "conviction-feature-drift"],
                                                  pipeline, role)
    events.put_rule(**put_rule)
    events.put_targets(**put_targets)
    assert events.list_targets_by_rule(Rule=put_rule["Name"])["Targets"][0]["Arn"] == pipeline

    def event(alarm: str, state: str) -> dict:
        return {"id": "1", "account": "123456789012", "source": "aws.cloudwatch", "time": "2026-11-30T21:00:00Z",
                "region": "us-east-1", "resources": [], "detail-type": "CloudWatch Alarm State Change",
                "detail": {"alarmName": alarm, "state": {"value": state}}}

    # moto's server does not answer TestEventPattern; its rule matcher (what routes events to targets) does.
    stored = events.describe_rule(Name=put_rule["Name"])["EventPattern"]
    pattern = EventPattern.load(stored)
    assert pattern.matches_event(event("conviction-live-auc", "ALARM"))
    assert pattern.matches_event(event("conviction-feature-drift", "ALARM"))
    assert not pattern.matches_event(event("conviction-live-auc", "OK"))
    assert not pattern.matches_event(event("conviction-5xx-errors", "ALARM"))


def test_the_monitor_command_labels_scores_and_publishes_to_the_emulator(replays, aws_endpoint: str, sample_dir: Path,
                                                                          features_dir: Path, tmp_path: Path) -> None:
    from steps.common.cli import main_guard
    from steps.live.monitor import main

    scores = replays[0]["honest"]
    (tmp_path / "scores").mkdir()
    scores.to_parquet(tmp_path / "scores" / "scores.parquet", index=False)
    assert main(["--scores", str(tmp_path / "scores"), "--bars", str(sample_dir / "bars"), "--features",
                 str(features_dir), "--output", str(tmp_path / "monitor"), "--publish", "--endpoint-url", aws_endpoint,
                 "--region", "us-east-1"]) == 0
    summary = json.loads((tmp_path / "monitor" / "monitor.json").read_text())
    assert 0 < summary["labelled_rows"] < summary["scored_rows"] == len(scores)  # the last windows are still open
    assert summary["published"][ARN] == 2 * len(summary["quality"]) + len(summary["psi"]) + 1  # AUC + calibration
    cloudwatch = boto3.client("cloudwatch", endpoint_url=aws_endpoint, region_name="us-east-1")
    names = {m["MetricName"] for m in cloudwatch.list_metrics(Namespace=NAMESPACE)["Metrics"]}
    assert {"LiveAUC", "LiveCalibrationError", "FeaturePSI", "MaxFeaturePSI"} <= names
    no_scores = ["--scores", str(tmp_path / "nothing"), "--bars", str(sample_dir / "bars"), "--features",
                 str(features_dir), "--output", str(tmp_path / "m2")]
    assert main_guard(main, no_scores) == 2 and not (tmp_path / "m2" / "monitor.json").exists()


def test_a_monitor_that_cannot_publish_fails_on_one_line_and_writes_nothing(replays, sample_dir: Path,
                                                                            features_dir: Path, tmp_path: Path,
                                                                            no_aws_credentials) -> None:
    from steps.common.cli import main_guard
    from steps.live.monitor import main

    (tmp_path / "scores").mkdir()
    replays[0]["honest"].to_parquet(tmp_path / "scores" / "scores.parquet", index=False)
    args = ["--scores", str(tmp_path / "scores"), "--bars", str(sample_dir / "bars"), "--features", str(features_dir),
            "--output", str(tmp_path / "monitor"), "--publish", "--endpoint-url", "http://127.0.0.1:9",
            "--region", "us-east-1"]
    assert main_guard(main, args) == 2
    assert not (tmp_path / "monitor" / "monitor.json").exists()


def _write_scores(replays, folder: Path) -> Path:
    folder.mkdir(parents=True)
    replays[0]["honest"].to_parquet(folder / "scores.parquet", index=False)
    return folder


def test_with_the_tweets_the_sentiment_features_get_a_psi_and_a_turned_sentiment_feed_shows(
        replays, sample_dir: Path, features_dir: Path, tmp_path: Path) -> None:
    """Without --tweets the sentiment columns are named as not computed (never silently absent); with the tweets
    they are measured like the others, and a feed whose every tweet turned positive (a sentiment model gone
    wrong) moves them far more than the honest feed does."""
    from steps.live.monitor import run_monitor

    training = load_training_manifest(features_dir)
    without = set(feature_columns(training.settings.replace(include_sentiment=False)))
    sentiment = [c for c in training.columns if c not in without]  # sent_* and tweet_count_*
    assert any(c.startswith("sent_") for c in sentiment) and any(c.startswith("tweet_count") for c in sentiment)
    scores = _write_scores(replays, tmp_path / "scores")
    bare = run_monitor(scores, sample_dir / "bars", features_dir, tmp_path / "bare")
    assert sorted(bare["psi_not_computed"]) == sorted(sentiment)
    assert not set(sentiment) & set(bare["psi"])

    honest = run_monitor(scores, sample_dir / "bars", features_dir, tmp_path / "honest",
                         tweets=sample_dir / "tweets")
    assert honest["psi_not_computed"] == {}
    measured = [c for c in sentiment if c in honest["psi"]]
    assert measured, honest["psi_skipped"]

    turned = replays[4].assign(p_pos=0.98, p_neg=0.01, p_neu=0.01, score=0.97)
    (tmp_path / "turned").mkdir()
    turned.to_parquet(tmp_path / "turned" / "tweets.parquet", index=False)
    shifted = run_monitor(scores, sample_dir / "bars", features_dir, tmp_path / "shifted", tweets=tmp_path / "turned")
    # The intraday windows: honest 0.02-0.05, turned 2-8 here. (sent_daily is measured too, but 4 tickers x 5
    # days hold 20 of its values: its honest PSI is ~0.4, the small-sample noise docs/live.md describes.)
    intraday = [c for c in measured if not c.endswith("_daily")]
    assert intraday and all(honest["psi"][c] < 0.25 < shifted["psi"][c] for c in intraday), \
        {c: (honest["psi"][c], shifted["psi"][c]) for c in intraday}
    assert (tmp_path / "shifted" / "monitor.json").is_file()
