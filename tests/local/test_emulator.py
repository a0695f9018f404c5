"""The emulator's state outlives the process that wrote it (moto's recorder journal, replayed)."""

from __future__ import annotations

import json

from pipelines.emulator import Emulator, is_read_only


def test_registry_state_survives_a_restart(tmp_path):
    with Emulator(tmp_path) as emulator:
        sm = emulator.client("sagemaker")
        sm.create_model_package_group(ModelPackageGroupName="g", ModelPackageGroupDescription="d")
        arn = sm.create_model_package(ModelPackageGroupName="g", ModelApprovalStatus="PendingManualApproval")[
            "ModelPackageArn"
        ]
        sm.list_model_packages(ModelPackageGroupName="g")
    with Emulator(tmp_path) as emulator:
        sm = emulator.client("sagemaker")
        sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    with Emulator(tmp_path) as emulator:
        packages = emulator.client("sagemaker").list_model_packages(ModelPackageGroupName="g")[
            "ModelPackageSummaryList"
        ]
    assert [(p["ModelPackageArn"], p["ModelApprovalStatus"]) for p in packages] == [(arn, "Approved")]
    # reads are not kept in the journal
    entries = [json.loads(line) for line in (tmp_path / "recording.jsonl").read_text().splitlines()]
    assert len(entries) == 3 and not any(is_read_only(e) for e in entries)
