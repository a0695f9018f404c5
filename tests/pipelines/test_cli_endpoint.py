"""One name for the AWS API endpoint in every command: `--endpoint-url` (env CONVICTION_AWS_ENDPOINT), with
`pipelines.run`'s old `--aws-endpoint` still accepted but no longer shown."""

from __future__ import annotations

import argparse

import pytest

from pipelines import approve, deploy, run, upsert
from pipelines.cli_options import ENDPOINT_ENV, add_endpoint_argument
from pipelines.experiments import sentiment_uplift
from pipelines.report import __main__ as report

URL = "http://127.0.0.1:4566"
PARSERS = {
    "run": lambda argv: run.parse_args(argv),
    "upsert": lambda argv: upsert.build_parser().parse_args(argv),
    "approve": lambda argv: approve.build_parser().parse_args(["--list", *argv]),
    "deploy": lambda argv: deploy.build_parser().parse_args(argv),
}
MAINS = {"report": report.main, "experiments": sentiment_uplift.main}


@pytest.mark.parametrize("command", [*PARSERS, *MAINS])
def test_help_shows_endpoint_url_and_not_the_old_name(command, capsys):
    with pytest.raises(SystemExit) as done:
        (PARSERS.get(command) or MAINS[command])(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "--endpoint-url URL" in out and ENDPOINT_ENV in out
    assert "--aws-endpoint" not in out


@pytest.mark.parametrize("command", PARSERS)
def test_both_spellings_and_the_environment_give_the_endpoint(command, monkeypatch):
    monkeypatch.delenv(ENDPOINT_ENV, raising=False)
    parse = PARSERS[command]
    assert parse([]).endpoint_url is None
    assert parse(["--endpoint-url", URL]).endpoint_url == URL
    assert parse(["--aws-endpoint", URL]).endpoint_url == URL
    monkeypatch.setenv(ENDPOINT_ENV, URL)
    assert parse([]).endpoint_url == URL


def test_the_alias_is_one_destination_with_one_default(monkeypatch):
    monkeypatch.delenv(ENDPOINT_ENV, raising=False)
    parser = argparse.ArgumentParser()
    add_endpoint_argument(parser, "somewhere")
    assert vars(parser.parse_args([])) == {"endpoint_url": None}
    assert parser.parse_args(["--aws-endpoint", URL, "--endpoint-url", "http://other"]).endpoint_url == "http://other"
