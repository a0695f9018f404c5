"""`python -m pipelines.approve`: review and approve (or reject) registered model packages.

    python -m pipelines.approve --list [--all]                      # pending packages with their metrics
    python -m pipelines.approve --latest --approve --comment "AUC 0.66 on Feb holdout, reviewed"
    python -m pipelines.approve --version 3 --reject --comment "worse than v2 on the last week"

Add `--local` to act on the local runner's registry (the emulator in runs/.emulator). Approving a
package is what releases it to `python -m pipelines.deploy` (or to the EventBridge rule: docs/deploy.md).
Exit codes: 0 done, 1 AWS refused a call, 2 usage/config/credentials problem or no such package.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from pipelines.deployment.cli import add_target_arguments, environment, load, run_cli
from steps.common.logging import get_logger


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.approve", description=__doc__.splitlines()[0])
    add_target_arguments(parser)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--list", action="store_true", help="list packages awaiting approval, with their metrics")
    action.add_argument("--approve", action="store_true",
                        help="set the package (--latest or --version N) to Approved: `pipelines.deploy` and the "
                             "EventBridge rule deploy it")
    action.add_argument("--reject", action="store_true",
                        help="set the package (--latest or --version N) to Rejected: never deployed")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--latest", action="store_true", help="the newest package awaiting approval")
    which.add_argument("--version", type=int, help="package version N of the group")
    parser.add_argument("--comment", default=None, help="approval description recorded on the package")
    parser.add_argument("--all", action="store_true", help="with --list: every package, not only pending ones")
    parser.add_argument("--json", action="store_true", help="with --list: one JSON object per package")
    return parser


def listing_cell(value, digits: int = 4) -> str:
    """A listing cell; null (an IC or net Sharpe with no cross-section, steps/evaluate/signal.py) is undefined."""
    if value is None:
        return "undefined"
    return f"{value:.{digits}f}" if isinstance(value, int | float) and not isinstance(value, bool) else str(value)


def list_packages(env, group: str, include_all: bool, as_json: bool) -> int:
    from pipelines.deployment import registry  # boto3 and the SDK: not for `--help`

    sm = env.client("sagemaker")
    packages = registry.list_packages(sm, group, None if include_all else registry.PENDING)
    rows = []
    for package in packages:
        summary = registry.metrics_summary(registry.read_statistics(env.artifacts, package))
        rows.append({"version": package.version, "status": package.status,
                     "created": package.created.isoformat() if package.created else None, "arn": package.arn,
                     "model_data": package.model_data_url, "metrics": summary, "metadata": package.metadata})
    if as_json:
        for row in rows:
            print(json.dumps(row, default=str))
        return 0
    what = "packages" if include_all else "packages awaiting approval"
    if not rows:
        print(f"no {what} in group {group}")
        return 0
    print(f"{len(rows)} {what} in group {group}:")
    print(f"{'version':>7}  {'status':<22}{'created':<21}{'model':<10}{'AUC':>8}{'± sd':>8}{'best single':>13}"
          f"{'beats':>7}{'IC':>8}{'net SR':>8}  holdout")
    for row in rows:
        m = row["metrics"]
        created = (row["created"] or "")[:19]
        print(f"{row['version']:>7}  {row['status']:<22}{created:<21}{m.get('algorithm') or '?':<10}"
              f"{listing_cell(m.get('auc', '-')):>8}{listing_cell(m.get('auc_sd', '-')):>8}"
              f"{listing_cell(m.get('best_single_auc', '-')):>13}{listing_cell(m.get('beats_best_single', '-')):>7}"
              f"{listing_cell(m.get('information_coefficient', '-')):>8}"
              f"{listing_cell(m.get('long_short_net_sharpe', '-')):>8}  "
              f"{m.get('holdout', 'no metrics found')}")
    return 0


def change_approval(env, group: str, args: argparse.Namespace, log) -> int:
    from pipelines.deployment import registry  # boto3 and the SDK: not for `--help`

    sm = env.client("sagemaker")
    if args.version is None and not args.latest:
        raise registry.DeployError("say which package: --latest (newest awaiting approval) or --version N")
    package = registry.find_package(sm, group, version=args.version,
                                    status=registry.PENDING if args.latest else None)
    status = registry.APPROVED if args.approve else registry.REJECTED
    if package.status == status:
        print(f"{package.label} is already {status}; nothing to do")
        return 0
    updated = registry.set_approval(sm, package, status, args.comment)
    log.info("%s: %s -> %s%s", package.label, package.status, updated.status,
             f" ({args.comment})" if args.comment else "")
    print(f"{package.label}: {package.status} -> {updated.status}")
    print(updated.arn)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    log = get_logger("approve", args.log_format)

    def body() -> int:
        config, group = load(args)
        with environment(args, config) as env:
            log.info("registry: %s, group %s", env.description, group)
            if args.list:
                return list_packages(env, group, args.all, args.json)
            return change_approval(env, group, args, log)

    return run_cli("approve", body)


if __name__ == "__main__":
    sys.exit(main())
