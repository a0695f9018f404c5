"""Acceptance (issue 15, class 5 "Loss"): the output disk fails mid-run (ENOSPC from the local sink's
`write_file` seam, injected in-process: tests run as root, where chmod does not stop writes) -> the
ingester retries, keeps its buffer, spills what the output will not take, and every valid tweet is
durable exactly once across output + spill; the exit code says whether anything was spilled and the
message names the spill folder.

The ingester runs in this process (`main(argv)`) against the fake stream server, stopping itself with
`--max-tweets` once every scripted row has been seen; `--max-seconds` is the hang guard. No wall time is
asserted."""

from __future__ import annotations

import errno
import json
import threading
from pathlib import Path

import boto3
import pandas as pd
import pyarrow.dataset as ds
import pytest
from fake_stream_server import FakeStreamServer, ServerState, build_script
from sentiment_constants import CANARY, REPO
from test_ingest_reliability import script_rows

from steps.ingest import sinks
from steps.ingest.__main__ import EXIT_NOT_DURABLE, EXIT_SPILLED, main
from steps.ingest.sinks import LocalSink
from steps.ingest.writer import PartitionedTweetWriter

N_TWEETS = 900
HANG_GUARD_S = 180


class DiskFault:
    """Wraps `sinks.write_file`: writes under `root` fail with ENOSPC while `failing(n)` is true, where n
    counts the writes attempted under `root` (1-based)."""

    def __init__(self, root: Path, failing) -> None:
        self.root, self.failing = root.resolve(), failing
        self.real = sinks.write_file
        self.attempts = 0
        self.refused = 0
        self._lock = threading.Lock()

    def __call__(self, path: Path, body: bytes) -> None:
        if Path(path).resolve().is_relative_to(self.root):
            with self._lock:
                self.attempts += 1
                fail = self.failing(self.attempts)
            if fail:
                self.refused += 1
                raise OSError(errno.ENOSPC, "No space left on device (injected)", str(path))
        self.real(path, body)


def _rows_in(folder: Path) -> pd.DataFrame:
    files = [str(p) for p in folder.rglob("*.parquet") if not p.name.startswith(".")] if folder.exists() else []
    if not files:
        return pd.DataFrame(columns=["tweet_id", "ticker"])
    dataset = ds.dataset(files, format="parquet", partitioning="hive", partition_base_dir=str(folder))
    return dataset.to_table(columns=["tweet_id", "ticker"]).to_pandas()


def _run(tmp_path: Path, aws_endpoint: str, monkeypatch, failing, capsys) -> tuple[int, str, Path, Path, DiskFault]:
    universe = pd.read_csv(REPO / "configs" / "universe.csv")["ticker"].tolist()
    script = build_script(N_TWEETS, universe, seed=5, segments=5)
    boto3.client("secretsmanager", endpoint_url=aws_endpoint).create_secret(
        Name="conviction/twitter", SecretString=json.dumps({"bearer_token": CANARY}))
    output, spill = tmp_path / "tweets", tmp_path / "spill"
    fault = DiskFault(output, failing)
    monkeypatch.setattr(sinks, "write_file", fault)
    rows = script_rows(script)
    with FakeStreamServer(ServerState(bearer=CANARY, script=script, stall_seconds=0.6)) as server:
        code = main(["--output", str(output), "--spill-dir", str(spill), "--endpoint-url", aws_endpoint,
                     "--api-base", server.url, "--flush-every", "100", "--flush-seconds", "0.2",
                     "--max-seconds", str(HANG_GUARD_S), "--max-tweets", str(len(rows)),
                     "--backfill-minutes", "2", "--read-timeout", "0.5", "--backoff-scale", "0.01",
                     "--write-attempts", "3", "--write-backoff", "0.01", "--spill-after", "2", "--no-metrics"])
    stderr = capsys.readouterr().err
    primary, spilled = _rows_in(output), _rows_in(spill)
    both = pd.concat([primary, spilled], ignore_index=True)
    assert not both.duplicated(["tweet_id", "ticker"]).any(), "a row is durable twice"
    assert set(zip(both["tweet_id"], both["ticker"], strict=True)) == rows, "a row was lost"
    assert both["tweet_id"].nunique() == N_TWEETS
    assert not list(tmp_path.rglob(".tmp-*")), "half-written files left behind"
    return code, stderr, output, spill, fault


@pytest.mark.slow
@pytest.mark.moto
def test_a_full_disk_mid_run_spills_and_every_tweet_is_durable_once(tmp_path, aws_endpoint, monkeypatch, capsys):
    # The first 3 partition files land; from then on the output disk is full for good.
    code, stderr, output, spill, fault = _run(tmp_path, aws_endpoint, monkeypatch, lambda n: n > 3, capsys)
    assert fault.refused > 0
    assert code == EXIT_SPILLED
    assert len(_rows_in(output)) > 0 and len(_rows_in(spill)) > 0
    message = [line for line in stderr.splitlines() if line.startswith("ingest: ")]
    assert len(message) == 1 and str(spill) in message[0] and "move them back" in message[0]
    assert f"cp -rn {spill}/. {output}/" in message[0]
    figures = json.loads(next((spill / "_metrics").glob("ingest-*.json")).read_text())
    assert figures["rows_spilled"] == len(_rows_in(spill)) and figures["rows_not_durable"] == 0
    assert figures["rows_written"] == len(_rows_in(output))
    assert not list(output.glob("_metrics/*.json"))  # the full disk refused it; it is in the spill folder
    assert figures["failed_flushes"] >= 2  # a failing flush kept its rows before the spill began


@pytest.mark.slow
@pytest.mark.moto
def test_a_transient_write_failure_is_retried_and_nothing_spills(tmp_path, aws_endpoint, monkeypatch, capsys):
    # Writes 3..7 fail (fewer than one flush's retries and the next flush's): the disk recovers.
    code, stderr, output, spill, fault = _run(tmp_path, aws_endpoint, monkeypatch, lambda n: 3 <= n <= 7, capsys)
    assert fault.refused == 5
    assert code == 0
    assert not spill.exists()
    assert not [line for line in stderr.splitlines() if line.startswith("ingest: ")]
    figures = json.loads(next((output / "_metrics").glob("ingest-*.json")).read_text())
    assert figures["write_failures"] == 5 and figures["rows_spilled"] == 0


class _Refusing:
    def __init__(self) -> None:
        self.calls = 0

    def write(self, key: str, body: bytes) -> None:
        self.calls += 1
        raise OSError(errno.EROFS, "Read-only file system (injected)")

    def describe(self, key: str) -> str:
        return f"refusing://{key}"


def _row(i: int, ticker: str) -> dict:
    stamp = pd.Timestamp("2026-03-01T14:00:00Z") + pd.Timedelta(minutes=i)
    return {"tweet_id": str(i), "ticker": ticker, "created_at": stamp, "text": "t", "author_id": "1", "lang": "en",
            "like_count": 0, "retweet_count": 0, "reply_count": 0, "quote_count": 0, "ingested_at": stamp,
            "engagement_observed_at": stamp}


def test_writer_keeps_its_buffer_while_the_output_fails_then_spills_on_the_final_flush(tmp_path):
    primary = _Refusing()
    spill = LocalSink(tmp_path / "spill")
    writer = PartitionedTweetWriter(primary, flush_every=2, flush_seconds=3600, spill=spill, write_attempts=2,
                                    write_backoff=0.0, spill_after=5)
    writer.add([_row(1, "AAPL"), _row(2, "MSFT")])
    assert writer.flush() == {}
    assert len(writer.buffer) == 2 and writer.rows_spilled == 0 and primary.calls == 2  # retried, then kept
    assert not writer.due()  # failing: the next try waits for the timer, not for the next tweet
    writer.flush(final=True)
    assert writer.buffer == [] and writer.rows_spilled == 2 and writer.files_spilled == 2
    assert sorted(_rows_in(tmp_path / "spill")["tweet_id"]) == ["1", "2"]


def test_writer_reports_rows_it_could_not_make_durable_anywhere(tmp_path):
    writer = PartitionedTweetWriter(_Refusing(), flush_every=1, spill=_Refusing(), write_attempts=1,
                                    write_backoff=0.0)
    writer.add([_row(1, "AAPL")])
    writer.flush(final=True)
    assert len(writer.buffer) == 1 and writer.rows_spilled == 0  # still held, never silently dropped
    assert EXIT_NOT_DURABLE != EXIT_SPILLED != 0
