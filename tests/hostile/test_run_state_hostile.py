"""Run state left behind by an earlier run, read by the next one (issue 29, class 6): a cache entry that
proves nothing, an emulator journal torn by `kill -9`, a malformed execution record, an output path that is
not a regular file, an interrupt while tuning trials run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.emulator import Emulator
from pipelines.emulator_journal import DROPPED_NAME, JOURNAL_NAME
from pipelines.local.cache import StepCache, output_digests
from pipelines.local.store import LocalStore

ROOT = Path(__file__).resolve().parents[2]


# -- a cache entry with nothing to verify is a miss ---------------------------------------------------------------
def _cache_with_entry(tmp_path: Path, digests) -> tuple[StepCache, LocalStore, list[str]]:
    store = LocalStore(tmp_path / "s3")
    warnings: list[str] = []
    cache = StepCache(tmp_path / "cache", warn=warnings.append)
    cache.save("k", {"step": "BuildFeatures", "properties": {}, "output_digests": digests})
    return cache, store, warnings


@pytest.mark.parametrize(
    ("digests", "says"),
    [
        ({}, "records no outputs to verify"),
        ({"s3://b/features": {}}, "records no files to verify for s3://b/features"),
        ({"s3://b/features": []}, "records no files to verify for s3://b/features"),
        ({"s3://b/features": {"a.parquet": "deadbeef"}}, "malformed digest for s3://b/features a.parquet"),
        ({"s3://b/features": {"a.parquet": [True, "x"]}}, "malformed digest"),
        ({"s3://b/features": {"a.parquet": 7}}, "malformed digest"),
        ([], "has no output digests"),
    ],
)
def test_a_cache_entry_with_nothing_to_verify_is_a_miss_with_a_warning(tmp_path, digests, says):
    cache, store, warnings = _cache_with_entry(tmp_path, digests)
    # the outputs it names are gone (or never were): nothing proves they are intact
    assert cache.lookup("k", None, store=store) is None
    assert len(warnings) == 1 and "cache entry for BuildFeatures" in warnings[0] and says in warnings[0], warnings


def test_a_cache_entry_whose_outputs_are_all_there_is_still_a_hit(tmp_path):
    store = LocalStore(tmp_path / "s3")
    (store.path("s3://b/features")).mkdir(parents=True)
    (store.path("s3://b/features") / "a.parquet").write_bytes(b"x")
    cache, _, warnings = _cache_with_entry(tmp_path, output_digests(store, ["s3://b/features"]))
    assert cache.lookup("k", None, store=store) is not None and warnings == []
    # and deleted, it is a miss
    (store.path("s3://b/features") / "a.parquet").unlink()
    assert cache.lookup("k", None, store=store) is None


# -- the emulator's journal, torn --------------------------------------------------------------------------------
def _journal_with_a_group(state: Path) -> bytes:
    with Emulator(state, warn=lambda m: pytest.fail(m)) as emulator:
        emulator.client("sagemaker").create_model_package_group(ModelPackageGroupName="kept")
    return (state / JOURNAL_NAME).read_bytes()


TORN = [
    pytest.param(b'{"method": "POST", "url": "http://127.0.0.1:1/", "hea', "Unterminated string", id="torn-last-line"),
    pytest.param(b"[1, 2, 3]\n", "a JSON list, not an object", id="json-list"),
    pytest.param(b"42\n", "a JSON int, not an object", id="json-number"),
    pytest.param(b'"text"\n', "a JSON str, not an object", id="json-string"),
    pytest.param(b'{"method": "POST"}\n', "no method and url", id="object-without-url"),
    pytest.param(b'{"method": "POST", "url": "\xe2\x82', "not UTF-8", id="torn-inside-a-utf8-character"),
    pytest.param(b"[" * 100000 + b"\n", "nested too deeply", id="deep-nesting"),
]


@pytest.mark.parametrize(("bad", "why"), TORN)
def test_a_torn_journal_keeps_its_valid_prefix_and_sets_the_rest_aside_with_one_warning(tmp_path, bad, why):
    whole = _journal_with_a_group(tmp_path)
    after = b'{"method": "POST", "url": "http://127.0.0.1:1/", "headers": {}, "body": "", "body_encoded": false}\n'
    (tmp_path / JOURNAL_NAME).write_bytes(whole + bad + (after if bad.endswith(b"\n") else b""))
    warnings: list[str] = []

    with Emulator(tmp_path, warn=warnings.append) as emulator:
        groups = emulator.client("sagemaker").list_model_package_groups()["ModelPackageGroupSummaryList"]

    assert [g["ModelPackageGroupName"] for g in groups] == ["kept"]
    assert len(warnings) == 1 and "\n" not in warnings[0], warnings
    assert f"{tmp_path / JOURNAL_NAME}:2: not a journalled request ({why}" in warnings[0]
    assert "kept the 1 requests before it" in warnings[0] and str(tmp_path / DROPPED_NAME) in warnings[0]
    # nothing lost: the bad line and what followed it are set aside byte for byte, the journal is whole again
    aside = (tmp_path / DROPPED_NAME).read_bytes()
    assert aside.startswith(bad.rstrip(b"\n"))
    assert (after in aside) == bad.endswith(b"\n")
    assert (tmp_path / JOURNAL_NAME).read_bytes().count(b"\n") == 1
    # and the next start is silent
    with Emulator(tmp_path, warn=lambda m: pytest.fail(m)):
        pass


def test_the_emulator_command_and_approve_local_start_on_a_torn_journal_with_one_warning_line(tmp_path):
    state = tmp_path / "runs" / ".emulator"
    state.mkdir(parents=True)
    (state / JOURNAL_NAME).write_bytes(_journal_with_a_group(state) + b'{"method": "PO')
    approve = subprocess.run(
        [sys.executable, "-m", "pipelines.approve", "--local", "--run-dir", str(tmp_path / "runs"), "--list",
         "--group", "kept"],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert approve.returncode == 0, approve.stderr
    assert "Traceback" not in approve.stderr
    warning = [line for line in approve.stderr.splitlines() if "not a journalled request" in line]
    assert len(warning) == 1 and str(state / JOURNAL_NAME) in warning[0], approve.stderr
    assert (state / DROPPED_NAME).read_bytes() == b'{"method": "PO\n'


# -- upsert --output never replaces what the user named -------------------------------------------------------------
def _upsert(target: Path) -> int:
    from pipelines import upsert

    return upsert.main(["--dry-run", "--output", str(target)])


def test_upsert_output_through_a_symlink_writes_its_target_and_keeps_the_link(no_aws_credentials, tmp_path):
    real = tmp_path / "shared" / "pipeline.json"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "pipeline.json"
    link.symlink_to(real)
    assert _upsert(link) == 0
    assert link.is_symlink() and link.resolve() == real
    assert json.loads(real.read_text())["Steps"]
    assert sorted(p.name for p in real.parent.iterdir()) == ["pipeline.json"]  # no temporary left
    # a dangling link: its target is created, the link kept
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "shared" / "new.json")
    assert _upsert(dangling) == 0 and dangling.is_symlink() and (tmp_path / "shared" / "new.json").is_file()


def test_upsert_output_to_a_fifo_writes_through_it_or_refuses_one_line_without_a_reader(no_aws_credentials,
                                                                                         tmp_path, capsys):
    import os
    import threading

    fifo = tmp_path / "definition.fifo"
    os.mkfifo(fifo)
    # no reader: refused on one line, not waited on, the FIFO left a FIFO
    assert _upsert(fifo) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == f"upsert: --output {fifo}: a FIFO with no reader; start the reader first"
    assert stat_is_fifo(fifo)
    # a reader: the definition goes through the FIFO
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    for _ in range(200):  # the reader opens its end
        import time

        time.sleep(0.02)
        if _upsert(fifo) == 0:
            break
    reader.join(timeout=30)
    assert received and json.loads(received[0])["Steps"] and stat_is_fifo(fifo)


def stat_is_fifo(path: Path) -> bool:
    import stat

    return stat.S_ISFIFO(path.lstat().st_mode)


def test_upsert_output_to_dev_null_is_written_through_and_a_folder_is_refused(no_aws_credentials, tmp_path, capsys):
    import os

    if Path("/dev/null").is_char_device() and os.access("/dev/null", os.W_OK):
        assert _upsert(Path("/dev/null")) == 0
        assert Path("/dev/null").is_char_device()
    folder = tmp_path / "out"
    folder.mkdir()
    assert _upsert(folder) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == f"upsert: --output {folder}: is a folder, not a file; name a file"
    assert list(folder.iterdir()) == []
