"""Identities: placeholders in the repository's config are refused before anything is published to AWS,
one line each saying how to set it; the per-user file and CONVICTION_<SECTION>__<KEY> variables set them."""

from __future__ import annotations

import boto3
import pytest

from pipelines import deploy, upsert
from pipelines.config import load_config
from pipelines.identities import placeholder_settings, user_overrides

ACCOUNT = "123456789012"


@pytest.fixture
def fake_credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def test_publishing_the_placeholders_to_aws_is_refused_one_line_each(fake_credentials, capsys):
    assert upsert.main([]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    keys = [line.split()[1] for line in lines]
    assert "pipeline.role_arn" in keys and "images.processing" in keys and "images.training" in keys
    for line in lines:
        assert line.startswith("upsert: ") and "is a placeholder (" in line
        assert "--set " in line and "CONVICTION_" in line and "no-user-config.yaml" in line
    role = next(line for line in lines if line.split()[1] == "pipeline.role_arn")
    assert "CONVICTION_PIPELINE__ROLE_ARN=" in role and "arn:aws:iam::<account>:role/<role>" in role


def test_a_dry_run_and_the_emulator_take_the_placeholders(no_aws_credentials, capsys):
    assert upsert.main(["--dry-run", "--output", "/dev/null"]) == 0


def test_the_per_user_file_and_variables_set_the_identities(tmp_path, monkeypatch):
    user_file = tmp_path / "pipeline.yaml"
    user_file.write_text(
        f"pipeline:\n  role_arn: arn:aws:iam::{ACCOUNT}:role/pipelines\n"
        f"images:\n  processing: {ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/conviction-cpu:1\n"
    )
    environ = {
        "CONVICTION_USER_CONFIG": str(user_file),
        "CONVICTION_IMAGES__TRAINING": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/conviction-cpu:2",
    }
    overrides, notes = user_overrides(environ)
    remaining = {key for key, _ in placeholder_settings(load_config(overrides=overrides))}

    assert "pipeline.role_arn" not in remaining and "images.processing" not in remaining
    assert "images.training" not in remaining
    assert load_config(overrides=overrides).images.training.endswith(":2")
    assert any(str(user_file) in note for note in notes) and any("CONVICTION_IMAGES__TRAINING" in n for n in notes)
    # whatever is still a placeholder is still listed
    assert remaining == {key for key, _ in placeholder_settings(load_config())} - {
        "pipeline.role_arn", "images.processing", "images.training"
    }


def test_a_bad_per_user_file_is_a_one_line_usage_error(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "pipeline.yaml"
    bad.write_text("pipeline: [unclosed\n")
    monkeypatch.setenv("CONVICTION_USER_CONFIG", str(bad))
    assert upsert.main(["--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(bad) in err


def test_deploy_to_aws_refuses_a_placeholder_role(fake_credentials, capsys):
    assert deploy.main([]) == 2
    err = capsys.readouterr().err
    assert "pipeline.role_arn is a placeholder" in err and "images." not in err  # deploy sends only the role


@pytest.mark.moto
def test_a_missing_bucket_is_named_with_how_to_create_it(aws_endpoint, capsys):
    assert upsert.main(["--endpoint-url", aws_endpoint]) == 2
    err = capsys.readouterr().err
    assert "bucket conviction-ml-artifacts does not exist in us-east-1" in err
    assert "aws s3 mb s3://conviction-ml-artifacts" in err and "--create-bucket" in err

    assert upsert.main(["--endpoint-url", aws_endpoint, "--create-bucket"]) == 0
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=aws_endpoint)
    assert "conviction-ml-artifacts" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
