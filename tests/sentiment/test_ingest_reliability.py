"""Acceptance: 10,000 tweets through a faulty fake v2 stream, a SIGTERM mid-flush and a restart ->
every valid tweet exactly once in the Parquet output, malformed lines counted.

Time is not asserted (a loaded machine is slower, not wrong); the run takes ~20 s and each
phase has a hang guard over ten times that (`HANG_GUARD_S`), enforced as a timeout on the wait, and the
ingest process stops itself after `--max-seconds` beyond it. The elapsed time is printed (`pytest -s`)."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from pathlib import Path

import boto3
import pandas as pd
import pyarrow.dataset as ds
import pytest
from fake_stream_server import FakeStreamServer, ServerState, build_script
from sentiment_constants import CANARY, REPO

N_TWEETS = 10_000
HANG_GUARD_S = 300  # per phase: ~15x the whole test's usual ~20 s, so only a hang trips it


class StepProcess:
    """`python -m steps.ingest` as a child process whose stderr is read line by line on a thread."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.lines: list[str] = []
        self.flush_lines = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)
            if " flush " in line:
                self.flush_lines += 1

    def wait_for(self, predicate, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert self.proc.poll() is None, "ingest exited early:\n" + "".join(self.lines[-30:])
            if time.monotonic() >= deadline:  # a hang guard far above the usual time, not a timing assertion
                pytest.fail(f"hang guard ({timeout:.0f} s):\n" + "".join(self.lines[-30:]))
            time.sleep(0.005)

    def terminate_and_wait(self, timeout: float = 120) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code


def _read_output(folder: Path) -> pd.DataFrame:
    files = [str(p) for p in folder.rglob("*.parquet") if not p.name.startswith(".")]
    dataset = ds.dataset(files, format="parquet", partitioning="hive", partition_base_dir=str(folder))
    return dataset.to_table().to_pandas()


@pytest.mark.slow
@pytest.mark.moto
def test_every_valid_tweet_exactly_once_through_faults_and_a_restart(tmp_path, aws_endpoint, step_env, python):
    universe = pd.read_csv(REPO / "configs" / "universe.csv")["ticker"].tolist()
    script = build_script(N_TWEETS, universe, seed=11)
    boto3.client("secretsmanager", endpoint_url=aws_endpoint).create_secret(
        Name="conviction/twitter", SecretString=json.dumps({"bearer_token": CANARY}))
    output = tmp_path / "tweets"
    started = time.monotonic()
    with FakeStreamServer(ServerState(bearer=CANARY, script=script)) as server:
        def argv(run: int) -> list[str]:
            return [python, "-m", "steps.ingest", "--output", str(output), "--endpoint-url", aws_endpoint,
                    "--api-base", server.url, "--flush-every", "300", "--flush-seconds", "0.5",
                    "--max-seconds", str(2 * HANG_GUARD_S), "--backfill-minutes", "2", "--read-timeout", "1.0",
                    "--backoff-scale", "0.01", "--no-metrics", "--metrics-file", str(tmp_path / f"run{run}.json")]

        first = StepProcess(argv(1), step_env)
        first.wait_for(lambda: first.flush_lines >= 4, timeout=HANG_GUARD_S)
        assert first.terminate_and_wait() == 0  # SIGTERM right after a flush began: flush completes, exit 0
        sent_before_restart = server.state.furthest
        assert 0 < sent_before_restart < len(script.lines)

        second = StepProcess(argv(2), step_env)
        second.wait_for(lambda: server.state.script_done_at is not None
                        and time.monotonic() - server.state.script_done_at > 1.0, timeout=HANG_GUARD_S)
        assert second.terminate_and_wait() == 0
        state = server.state
    elapsed = time.monotonic() - started

    out = _read_output(output)
    rows = script_rows(script)
    assert not out.duplicated(["tweet_id", "ticker"]).any(), "a tweet was written twice"
    assert set(zip(out["tweet_id"], out["ticker"], strict=True)) == rows
    assert out["tweet_id"].nunique() == N_TWEETS
    assert not list(output.rglob(".tmp-*")), "half-written files left behind"

    first_run, second_run = (json.loads((tmp_path / f"run{k}.json").read_text()) for k in (1, 2))
    malformed = first_run["malformed_lines"] + second_run["malformed_lines"]
    assert script.malformed_lines <= malformed <= state.malformed_sent
    assert first_run["duplicates_dropped"] + second_run["duplicates_dropped"] > 0
    assert second_run["rows_loaded_for_dedupe"] == first_run["rows_written"] > 0
    # The scripted faults really happened and were survived.
    assert state.refused == {"429": 2, "503": 2}
    assert first_run["rate_limit_waits"] or second_run["rate_limit_waits"]
    assert first_run["network_errors"] + second_run["network_errors"] >= 3
    assert first_run["keep_alives"] + second_run["keep_alives"] > 0
    assert state.unauthorized == 0
    assert all(len(rule["value"]) <= 512 and rule["tag"].startswith("conviction-cashtags") for rule in state.rules)
    # The canary bearer token went only into Authorization headers.
    logs = "".join(first.lines + second.lines)
    assert CANARY not in logs
    assert all(CANARY.encode() not in p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    print(f"ingest reliability: {N_TWEETS} tweets, {len(script.lines)} lines, {state.connections} connections, "
          f"{state.lines_sent} lines sent, malformed counted {malformed}, {elapsed:.1f}s")


def script_rows(script) -> set[tuple[str, str]]:
    rows = set()
    for line in script.lines:
        try:
            payload = json.loads(line)
        except ValueError:
            continue
        for tag in payload["data"]["entities"]["cashtags"]:
            rows.add((payload["data"]["id"], tag["tag"]))
    return rows
