"""Issue 29, class 1: a value that becomes a path must be a name, not a path.

Tickers (universe files), sectors, and hosts (resource configs, SM_HOSTS) go into folder names; data URLs
go into the local S3 store's paths. Each test plants several variants, asserts one line naming the input,
exit 2 where a program runs, and that nothing was written under the output or beside it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipelines.config import DEFAULT_CONFIG, ConfigError, load_config
from steps.common.errors import StepInputError
from steps.common.names import read_universe_rows, safe_name

REPO = Path(__file__).resolve().parents[2]

PATH_TICKERS = ["T/../../x", "..", ".", "/etc/passwd", "../x", ".hidden", "-rf", "a\\..\\b", "A B", "x" * 64,
                "TICKER\ttab"]
PATH_HOSTS = ["../../x", "..", "/tmp/x", "algo-1/../../y", "", ".algo", "a" * 64]


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("ticker", ["T/../../x", "..", "/abs/x", "../x"])
def test_sample_data_by_ticker_refuses_a_ticker_that_is_a_path_and_writes_nothing(tmp_path: Path, ticker):
    universe = tmp_path / "in" / "universe.csv"
    universe.parent.mkdir()
    universe.write_text(f"ticker,sector\nAAPL,Information Technology\n{ticker},Energy\n")
    output = tmp_path / "deep" / "out"
    before = _files(tmp_path)
    result = subprocess.run([sys.executable, "-m", "steps.sample_data", "--output", str(output), "--days", "2",
                             "--universe", str(universe), "--by-ticker"], capture_output=True, text=True,
                            cwd=REPO, timeout=120)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert str(universe) in lines[0] and "line 3" in lines[0] and "column 'ticker'" in lines[0]
    assert "not a plain name" in lines[0]
    assert _files(tmp_path) == before  # nothing under --output, nothing beside it


@pytest.mark.parametrize("ticker", PATH_TICKERS)
def test_every_universe_reader_refuses_a_ticker_that_is_not_a_name(tmp_path: Path, ticker):
    universe = tmp_path / "universe.csv"
    universe.write_text(f'ticker,sector\nAAPL,Energy\n"{ticker}",Energy\n')
    from steps.features.inputs import load_sectors
    from steps.import_prices.run import load_sectors as import_sectors
    from steps.ingest.run import read_universe
    from steps.sample_data.writer import load_universe

    for reader in (read_universe_rows, load_sectors, read_universe, load_universe, import_sectors):
        with pytest.raises(StepInputError) as error:
            reader(universe)
        assert f"{universe} line 3: column 'ticker'" in str(error.value), reader
        assert "\n" not in str(error.value)


def test_a_safe_name_is_returned_as_written():
    for name in ("AAPL", "BRK.B", "BF-B", "^GSPC", "algo-1", "NA", "x" * 63):
        assert safe_name(name, "ticker", "here") == name
    for name in (None, 7, ["a"], "a/b", "a\x00b", "é"):
        with pytest.raises(StepInputError, match="here: column 'ticker'"):
            safe_name(name, "ticker", "here")


@pytest.mark.parametrize("text, problem", [
    ("ticker,sector\nAAPL,Energy\nAAPL,Utilities\n", "gives AAPL two sectors"),
    ("ticker,sector\nAAPL,Energy\nAAPL,Energy\n", "lists AAPL again"),
    ("ticker,sector\nAAPL,Energy\nMSFT,\n", "MSFT is on a line without a sector"),
    ("ticker,sector\nAAPL,Energy\nMSFT\n", "MSFT is on a line without a sector"),
    ("ticker,sector\nAAPL,../../x\n", "is not a sector name"),
    ("ticker,sector\nAAPL,/etc\n", "is not a sector name"),
    ("ticker,sector\n", "no tickers"),
    ("ticker\nAAPL\n", "missing column"),
])
def test_a_universe_that_is_wrong_is_refused_in_one_line_by_the_config_too(tmp_path: Path, text, problem):
    path = _config_with_universe(tmp_path, text.encode())
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert problem in message and "universe.csv" in message and "\n" not in message


@pytest.mark.parametrize("body, problem", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not UTF-8"),
    (b"ticker,sector\nAA\x00PL,Energy\n", "NUL bytes"),
    (b"ticker,sector\n" + b"A,Energy\n" * 2_000_000, "more than a universe"),
])
def test_a_universe_that_is_not_text_or_is_huge_is_one_line(tmp_path: Path, body, problem):
    path = _config_with_universe(tmp_path, body)
    with pytest.raises(ConfigError, match=problem):
        load_config(path)


def test_a_ticker_named_na_stays_the_ticker_na(tmp_path: Path):
    universe = tmp_path / "u.csv"
    universe.write_text("ticker,sector\nNA,Financials\nNULL,Energy\nnan,Utilities\n")
    assert read_universe_rows(universe) == [("NA", "Financials"), ("NULL", "Energy"), ("nan", "Utilities")]


def _config_with_universe(tmp_path: Path, body: bytes) -> Path:
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    (tmp_path / "configs" / "hpo").mkdir(parents=True)
    for hpo in (REPO / "configs" / "hpo").glob("*.yaml"):
        (tmp_path / "configs" / "hpo" / hpo.name).write_text(hpo.read_text())
    (tmp_path / "configs" / "universe.csv").write_bytes(body)
    path = tmp_path / "configs" / "pipeline.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


# --- hosts ----------------------------------------------------------------------------------------------


def _resource_config(tmp_path: Path, current, hosts) -> Path:
    path = tmp_path / "config" / "resourceconfig.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"current_host": current, "hosts": hosts}))
    return path


@pytest.mark.parametrize("host", PATH_HOSTS)
def test_a_host_that_is_a_path_is_refused_by_every_shard_reader(tmp_path: Path, host):
    from steps.features.run import current_shard
    from steps.sentiment.shards import processing_shard, training_shard

    for current, hosts in ((host, ["algo-1", host]), ("algo-1", ["algo-1", host])):
        config = _resource_config(tmp_path, current, hosts)
        for read in (current_shard, processing_shard):
            with pytest.raises(StepInputError) as error:
                read(config)
            assert str(config) in str(error.value) and "\n" not in str(error.value)
        with pytest.raises(StepInputError, match="SM_HOSTS"):
            training_shard({"SM_HOSTS": json.dumps(hosts), "SM_CURRENT_HOST": current})


@pytest.mark.parametrize("current, hosts", [
    ("algo-1", "algo-1,algo-2"), ("algo-1", []), ("algo-3", ["algo-1", "algo-2"]),
    ("algo-1", ["algo-1", "algo-1"]), (1, [1, 2]), ("algo-1", ["algo-1", None]),
])
def test_a_malformed_host_list_is_one_line_naming_the_resource_config(tmp_path: Path, current, hosts):
    from steps.features.run import current_shard
    from steps.sentiment.shards import processing_shard

    config = _resource_config(tmp_path, current, hosts)
    for read in (current_shard, processing_shard):
        with pytest.raises(StepInputError) as error:
            read(config)
        assert str(config) in str(error.value)


def test_the_features_step_with_a_host_that_is_a_path_writes_nothing_outside_its_output(tmp_path: Path):
    """The issue's case end to end: `current_host` ../../x moved the shard outside --output."""
    data = tmp_path / "data"
    subprocess.run([sys.executable, "-m", "steps.sample_data", "--output", str(data), "--days", "3",
                    "--tickers", "2"], check=True, capture_output=True, cwd=REPO, timeout=120)
    config = _resource_config(tmp_path, "../../x", ["algo-1", "../../x"])
    output = tmp_path / "job" / "out"
    before = _files(tmp_path)
    result = subprocess.run([sys.executable, "-m", "steps.features", "--bars", str(data / "bars"),
                             "--output", str(output), "--resource-config", str(config)],
                            capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "column 'hosts'" in result.stderr and str(config) in result.stderr
    assert [p for p in _files(tmp_path) if p not in before and not p.startswith("job")] == []
    assert not output.exists() or _files(output) == []


# --- data URLs -------------------------------------------------------------------------------------------

BAD_S3_URLS = [
    ("s3://../x/", "bucket '..'"),
    ("s3://./x", "bucket '.'"),
    ("s3://bucket/a/../../b/", "'..' segment"),
    ("s3://bucket/../x", "'..' segment"),
    ("s3://bucket//etc/", "empty or '.' segment"),
    ("s3://bucket/./x/", "empty or '.' segment"),
    ("s3://Bucket/x/", "not an S3 bucket name"),
    ("s3://my_bucket/x/", "not an S3 bucket name"),
    ("s3://ab/x/", "not an S3 bucket name"),
    ("s3://my..bucket/x/", "two adjacent dots"),
    ("s3://192.168.0.1/x/", "IP address"),
    ("s3://xn--bucket/x/", "reserves"),
    ("s3://bucket-s3alias/x/", "reserves"),
    ("s3://bucket/a\nb/", "control character"),
    ("s3://bucket/" + "k" * 1025, "1024 bytes"),
    ("s3:///x/", "not an S3 bucket name"),
]


@pytest.mark.parametrize("url, problem", BAD_S3_URLS)
def test_a_data_url_is_refused_unless_bucket_and_key_follow_s3s_rules(url, problem):
    from pipelines.parameter_table import ParameterPolicy
    from pipelines.parameter_values import parameter_value_error

    for name in ("InputDataUrl", "TweetsDataUrl"):
        for policy in (ParameterPolicy(), ParameterPolicy(local_folders=True)):
            refused = parameter_value_error(name, url, policy)
            assert refused and refused.startswith(f"--param {name}=") and problem in refused
    with pytest.raises(ConfigError, match=r"data\.input_data_url"):
        load_config(overrides={"data": {"input_data_url": url}})


def test_file_urls_are_a_local_runs_folders_never_what_is_published():
    from pipelines.parameter_table import ParameterPolicy
    from pipelines.parameter_values import parameter_value_error

    for url in ("file:///etc/", "file:///tmp/bars/", "file://localhost/x/"):
        assert "a SageMaker job reads s3:// only" in parameter_value_error("InputDataUrl", url, ParameterPolicy())
        assert parameter_value_error("InputDataUrl", url, ParameterPolicy(local_folders=True)) is None
    for url in ("s3://conviction-ml-data/bars/", "s3://a.b-c/x=1/y/", "s3://bucket/key"):
        assert parameter_value_error("InputDataUrl", url, ParameterPolicy()) is None


@pytest.mark.parametrize("url", ["s3://../x/", "file:///etc/", "s3://bucket/a/../../b/", "http://example.com/x"])
def test_lint_refuses_a_bad_data_url_param_in_one_line(url):
    result = subprocess.run([sys.executable, "-m", "pipelines.lint", "--param", f"InputDataUrl={url}"],
                            capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and f"--param InputDataUrl={url}" in result.stderr


def test_lint_and_upsert_refuse_a_configured_file_url_as_a_violation():
    from pipelines.definition import definition_json, get_pipeline
    from pipelines.lint import lint_definition

    config = load_config(overrides={"data": {"tweets_data_url": "file:///home/me/tweets/"}})
    violations = lint_definition(json.loads(definition_json(get_pipeline(config))), config)
    found = [v for v in violations if v.rule == "parameters"]
    assert len(found) == 1 and "TweetsDataUrl=file:///home/me/tweets/" in found[0].message
    assert "s3:// only" in found[0].message


def test_pipelines_run_refuses_a_data_url_that_escapes_the_store_and_writes_nothing_outside(tmp_path: Path):
    run_dir = tmp_path / "runs"
    before = _files(tmp_path)
    result = subprocess.run([sys.executable, "-m", "pipelines.run", "--profile", "quick", "--run-dir", str(run_dir),
                             "--param", "InputDataUrl=s3://../x/"], capture_output=True, text=True, cwd=REPO,
                            timeout=300)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "--param InputDataUrl=s3://../x/: bucket '..'" in result.stderr
    assert [p for p in _files(tmp_path) if p not in before and not p.startswith("runs")] == []
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("uri", ["s3://../x/y", "s3://./x", "s3://bucket/../../x", "s3://bucket/a/../../../x",
                                 "s3://local-inputs/../../x", "s3://bucket/a\x00b", "s3://a%2F../x"])
def test_the_local_store_refuses_a_uri_that_would_leave_it(tmp_path: Path, uri):
    from pipelines.local.errors import LocalRunError
    from pipelines.local.store import LocalStore

    store = LocalStore(tmp_path / "store")
    with pytest.raises(LocalRunError):
        store.put_bytes(b"x", uri)
    assert _files(tmp_path) == ["store"]


def test_the_local_store_refuses_a_bucket_that_is_a_link_out_of_it(tmp_path: Path):
    from pipelines.local.errors import LocalRunError
    from pipelines.local.store import LocalStore

    store = LocalStore(tmp_path / "store")
    (tmp_path / "outside").mkdir()
    (store.root / "planted").symlink_to(tmp_path / "outside", target_is_directory=True)
    with pytest.raises(LocalRunError, match="outside the local store"):
        store.put_bytes(b"x", "s3://planted/x")
    assert list((tmp_path / "outside").iterdir()) == []
    store.put_bytes(b"x", "s3://conviction-data/a=1/b.parquet")  # an ordinary key still works
    assert (store.root / "conviction-data" / "a=1" / "b.parquet").read_bytes() == b"x"
