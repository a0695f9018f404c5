"""Shared fixtures: an AWS API emulator (moto in server mode on 127.0.0.1) and offline AWS settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer


@pytest.fixture(autouse=True)
def no_per_user_settings(monkeypatch: pytest.MonkeyPatch, tmp_path_factory) -> None:
    """Tests see the repository's config only: no per-user file, no CONVICTION_<SECTION>__<KEY> variables."""
    import os

    empty = tmp_path_factory.getbasetemp() / "no-user-config.yaml"  # named, so it must exist (issue 29): empty
    if not empty.is_file():
        empty.write_text("")
    monkeypatch.setenv("CONVICTION_USER_CONFIG", str(empty))
    for name in list(os.environ):
        if name.startswith("CONVICTION_") and "__" in name:
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """One moto server for the test session, on a free loopback port; its URL is the AWS endpoint."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_endpoint(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Fake credentials and a region for boto3, and a clean emulator state for each test."""
    import requests

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    requests.post(f"{moto_server}/moto-api/reset", timeout=10).raise_for_status()
    yield moto_server


@pytest.fixture
def no_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """A machine with no AWS credentials anywhere boto3 looks."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def relist_folder(folder) -> None:
    """Re-list a step's output folder after a test changed a file in it, as the writer that wrote that file would:
    manifest.json (features, evaluate, ensemble, ...) or model_meta.json (a model folder), whichever it has."""
    import json
    from pathlib import Path

    from steps.common.io import describe_files, write_json
    from steps.train.algorithms.loader import write_model_meta

    folder = Path(folder)
    if (folder / "model_meta.json").is_file():
        meta = json.loads((folder / "model_meta.json").read_text())
        write_model_meta(folder, meta, sorted(meta["files"]))
    else:
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["files"] = describe_files(folder, sorted(manifest["files"]))
        write_json(manifest, folder / "manifest.json")


@pytest.fixture
def relist():
    """`relist(folder)`: see relist_folder."""
    return relist_folder


def container_argv(arguments: list, definition: dict) -> list[str]:
    """A step's ContainerArguments as the container gets them: a `Std:Join` of one parameter becomes the
    parameter's default as SageMaker renders it (booleans `true`/`false`), one of a step property (a tuning job's
    completed-trial count) a stand-in "4"; every argument within the 256-character limit of a container argument
    (botocore's ContainerArgument)."""
    defaults = {p["Name"]: p.get("DefaultValue") for p in definition["Parameters"]}
    argv = []
    for argument in arguments:
        if isinstance(argument, dict):
            (value,) = argument["Std:Join"]["Values"]
            default = (defaults[value["Get"].removeprefix("Parameters.")]
                       if value["Get"].startswith("Parameters.") else 4)
            argument = str(default).lower() if isinstance(default, bool) else str(default)
        assert len(argument) <= 256, argument
        argv.append(argument)
    return argv


@pytest.fixture
def step_settings():
    """`step_settings(step, model, definition)`: the settings the step's generated command line makes of the
    definition's arguments for it (steps/common/settings.py)."""
    from steps.common.settings import settings_from_argv

    def read(step: dict, model, definition: dict):
        return settings_from_argv(model, container_argv(step["Arguments"]["AppSpecification"]["ContainerArguments"],
                                                        definition))
    return read
