"""`python -m pipelines.deploy`: put the newest Approved model package behind a SageMaker endpoint.

    python -m pipelines.deploy --dry-run          # print every call; publish one test alert to the SNS topic
    python -m pipelines.deploy                    # model, endpoint config (data capture), endpoint, smoke test,
                                                  # alarms -> SNS, dashboard
    python -m pipelines.deploy --local            # the same against the local runner's emulator (runs/)

The endpoint is named from `deploy.endpoint_name_template` (conviction-ensemble-v5-{timestamp}). A
failed smoke test deletes the new endpoint and leaves the previous one serving. Exit codes: 0 deployed
(or dry run done), 1 the deployment failed (smoke test, endpoint status) or AWS refused a call,
2 usage/config/credentials problem or no Approved package.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pipelines.deployment.cli import add_target_arguments, environment, load, run_cli
from steps.common.logging import get_logger


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.deploy", description=__doc__.splitlines()[0])
    add_target_arguments(parser)
    parser.add_argument("--dry-run", action="store_true",
                        help="print every call it would make and make none, except two: create the SNS topic "
                             "(deploy.sns_topic, if absent) and publish one test alert to it")
    parser.add_argument("--version", type=int, default=None, help="deploy Approved version N (default: the newest)")
    parser.add_argument("--retire-previous", action="store_true",
                        help="after a passed smoke test, delete the older endpoints of this family")
    parser.add_argument("--containers", action="store_true",
                        help="with --local: answer the smoke test from the serving image (images.serving) on this "
                             "machine's Docker, as SageMaker hosting runs it (build it first: make images)")
    parser.add_argument("--smoke-rows", type=Path, default=None,
                        help="parquet/CSV of held-out feature rows (default: smoke_rows.parquet beside the metrics)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    log = get_logger("deploy", args.log_format)
    from pipelines.deployment.deployer import DeployOptions, deploy  # boto3 and the SDK: not for `--help`

    def body() -> int:
        config, group = load(args, program="deploy", needs=("pipeline.role_arn",))
        with environment(args, config) as env:
            result = deploy(env, config, DeployOptions(group=group, version=args.version, dry_run=args.dry_run,
                                                       retire_previous=args.retire_previous,
                                                       smoke_rows_file=args.smoke_rows, echo=print))
        (log.info if result.exit_code == 0 else log.error)("%s", result.summary)
        print(result.summary)
        return result.exit_code

    return run_cli("deploy", body)


if __name__ == "__main__":
    sys.exit(main())
