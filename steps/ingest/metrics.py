"""Tweets ingested per ticker as a CloudWatch metric (the dashboard's tweet-volume widget reads it)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

NAMESPACE = "Conviction/Ingestion"
METRIC = "TweetsIngested"


def publish_counts(client: Any, counts: Mapping[str, int], *, namespace: str = NAMESPACE,
                   logger: logging.Logger | None = None) -> int:
    """PutMetricData per ticker (batches of 1000, the API's limit); failures are logged, not fatal:
    losing a dashboard point must not stop ingestion."""
    data = [
        {"MetricName": METRIC, "Dimensions": [{"Name": "Ticker", "Value": t}], "Value": float(n), "Unit": "Count"}
        for t, n in sorted(counts.items()) if n
    ]
    sent = 0
    for start in range(0, len(data), 1000):
        try:
            client.put_metric_data(Namespace=namespace, MetricData=data[start:start + 1000])
            sent += len(data[start:start + 1000])
        except Exception as exc:  # metrics are best effort by design
            (logger or logging.getLogger(__name__)).warning("CloudWatch put_metric_data failed: %s",
                                                            type(exc).__name__)
    return sent
