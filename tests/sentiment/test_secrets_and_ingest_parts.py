"""Secrets Manager reads (moto server), rule packing, ticker extraction, S3 sink and CloudWatch metric."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime

import boto3
import pyarrow.parquet as pq
import pytest
from sentiment_constants import CANARY

from steps.common.secrets import Secret, SecretError, SecretStore
from steps.ingest.metrics import METRIC, NAMESPACE, publish_counts
from steps.ingest.records import tweet_rows
from steps.ingest.rules import build_rules, tickers_of
from steps.ingest.sinks import S3Sink
from steps.ingest.writer import PartitionedTweetWriter


@pytest.mark.moto
def test_secret_is_read_cached_and_never_printed(aws_endpoint, caplog):
    client = boto3.client("secretsmanager", endpoint_url=aws_endpoint)
    client.create_secret(Name="conviction/twitter", SecretString=json.dumps({"bearer_token": CANARY}))
    store = SecretStore(endpoint_url=aws_endpoint, region="us-east-1")
    token = store.get("conviction/twitter", "bearer_token")
    assert token.reveal() == CANARY
    for text in (str(token), repr(token), f"{token}", f"{token!r}", "%s" % token):  # noqa: UP031
        assert CANARY not in text
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(token)
    # Cached: a deleted secret still answers until the TTL or an explicit invalidate.
    client.delete_secret(SecretId="conviction/twitter", ForceDeleteWithoutRecovery=True)
    assert store.get("conviction/twitter", "bearer_token") == token
    store.invalidate("conviction/twitter")
    with pytest.raises(SecretError, match="not found; fix: create it"):
        store.get("conviction/twitter", "bearer_token")


@pytest.mark.moto
@pytest.mark.parametrize(("secret_string", "key", "message"), [
    (json.dumps({"token": CANARY}), "bearer_token", "has no key 'bearer_token' \\(keys: token\\)"),
    ('{"bearer_token": "' + CANARY, "bearer_token", "is not valid JSON"),
    (CANARY, "bearer_token", "is a plain string"),
    (json.dumps({"bearer_token": "  "}), "bearer_token", "is empty"),
])
def test_malformed_secret_errors_name_the_problem_not_the_value(aws_endpoint, secret_string, key, message):
    boto3.client("secretsmanager", endpoint_url=aws_endpoint).create_secret(Name="s", SecretString=secret_string)
    with pytest.raises(SecretError, match=message) as raised:
        SecretStore(endpoint_url=aws_endpoint, region="us-east-1").get("s", key)
    assert CANARY not in str(raised.value) and raised.value.__cause__ is None and raised.value.__context__ is None


def test_secret_repr_is_redacted():
    assert "value=<redacted>" in repr(Secret(CANARY, "x"))


def test_rules_pack_cashtags_within_the_length_limit():
    tickers = [f"T{i:03d}" for i in range(200)]
    rules = build_rules(tickers, max_length=512)
    assert all(len(r.value) <= 512 for r in rules) and len(rules) > 1
    packed = " ".join(r.value for r in rules)
    assert all(f"${t} " in packed or f"${t})" in packed for t in tickers)
    assert len({r.tag for r in rules}) == len(rules)


def test_tickers_from_entities_or_text():
    universe = frozenset({"AAPL", "MSFT", "BRK.B"})
    assert tickers_of({"entities": {"cashtags": [{"tag": "aapl"}, {"tag": "TSLA"}]}}, universe) == ["AAPL"]
    assert tickers_of({"text": "$MSFT and $BRK.B, not US$5 or $TSLA"}, universe) == ["MSFT", "BRK.B"]


@pytest.mark.moto
def test_s3_sink_and_cloudwatch_metric(aws_endpoint):
    s3 = boto3.client("s3", endpoint_url=aws_endpoint)
    s3.create_bucket(Bucket="tweets-bucket")
    writer = PartitionedTweetWriter(S3Sink("s3://tweets-bucket/raw/tweets", s3), flush_every=2,
                                    logger=logging.getLogger("t"))
    tweet = {"id": "1", "text": "$AAPL $MSFT up", "created_at": "2026-03-02T15:00:00Z",
             "entities": {"cashtags": [{"tag": "AAPL"}, {"tag": "MSFT"}]}}
    rows = tweet_rows(tweet, frozenset({"AAPL", "MSFT"}), now=datetime(2026, 3, 2, 15, 0, 5, tzinfo=UTC))
    assert writer.add(rows) == 2 and writer.add(rows) == 0 and writer.due()
    written = writer.flush()
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="tweets-bucket")["Contents"])
    assert [k.rsplit("/", 1)[0] for k in keys] == ["raw/tweets/date=2026-03-02/ticker=AAPL",
                                                    "raw/tweets/date=2026-03-02/ticker=MSFT"]
    table = pq.read_table(io.BytesIO(s3.get_object(Bucket="tweets-bucket", Key=keys[0])["Body"].read()))
    assert table.column("tweet_id").to_pylist() == ["1"]
    restarted = PartitionedTweetWriter(S3Sink("s3://tweets-bucket/raw/tweets", s3))
    assert restarted.load_existing(days=2) == 2 and restarted.add(rows) == 0

    cloudwatch = boto3.client("cloudwatch", endpoint_url=aws_endpoint)
    assert publish_counts(cloudwatch, written) == 2
    metrics = cloudwatch.list_metrics(Namespace=NAMESPACE, MetricName=METRIC)["Metrics"]
    assert sorted(m["Dimensions"][0]["Value"] for m in metrics) == ["AAPL", "MSFT"]
