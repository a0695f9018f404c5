"""The local store reads an S3 URI as S3 does: an object, a "folder", or every key that starts with it."""

from __future__ import annotations

from pathlib import Path

from pipelines.local.store import LocalStore


def test_a_key_prefix_matches_every_key_that_starts_with_it_and_nothing_else(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "s3")
    for key in ("tune-x-abc-001-aa/output/model.tar.gz", "tune-x-abc-002-bb/output/model.tar.gz",
                "tune-x-abc-2-001-cc/output/model.tar.gz", "tune-x-abd-001-dd/output/model.tar.gz"):
        store.put_bytes(key.encode(), f"s3://bucket/models/xgboost/{key}")
    prefix = "s3://bucket/models/xgboost/tune-x-abc-0"
    assert store.exists(prefix) and not store.exists("s3://bucket/models/xgboost/tune-x-zzz-")
    copied = store.download(prefix, tmp_path / "job")
    found = sorted(p.relative_to(tmp_path / "job").as_posix() for p in (tmp_path / "job").rglob("*") if p.is_file())
    assert copied == 2 and found == ["tune-x-abc-001-aa/output/model.tar.gz", "tune-x-abc-002-bb/output/model.tar.gz"]
    # a trailing slash is a folder, never a prefix of names
    assert not store.exists("s3://bucket/models/xgboost/tune-x-abc-001/")
    # a folder URI keeps its meaning: everything under it
    assert len(store.files("s3://bucket/models/xgboost")) == 4
