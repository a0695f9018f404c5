"""Options and error handling shared by `pipelines.approve` and `pipelines.deploy`.

Exit codes: 0 done; 1 AWS (or the emulator) refused a call, or the deployment failed its checks;
2 usage, configuration, credentials or "nothing to act on" problems, in one line.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.cli_options import add_endpoint_argument, add_profile_argument
from pipelines.config import DEFAULT_CONFIG, ConfigError, PipelineConfig, load_config
from pipelines.identities import IdentityError, is_local_endpoint, placeholder_errors, user_overrides
from steps.common.cli import add_log_format

if TYPE_CHECKING:
    from pipelines.deployment.environment import Environment


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None, help="pipeline.yaml (default: configs/pipeline.yaml)")
    add_profile_argument(parser)
    parser.add_argument("--group", default=None, help="model package group (default: registry.model_package_group)")
    parser.add_argument("--local", action="store_true",
                        default=os.environ.get("CONVICTION_LOCAL", "").lower() in {"1", "true", "yes"},
                        help="use the local runner's AWS API emulator and S3 store in --run-dir "
                             "(env CONVICTION_LOCAL=1)")
    parser.add_argument("--run-dir", type=Path, default=Path("runs"),
                        help="the local runner's run folder (with --local)")
    add_endpoint_argument(parser, "another AWS API endpoint, e.g. a running `python -m pipelines.emulator`")
    add_log_format(parser)


def load(args: argparse.Namespace, program: str = "approve", needs: tuple[str, ...] = ()) -> tuple[PipelineConfig, str]:
    """The config with the per-user settings (pipelines/identities.py). `needs`: the identities the command
    sends to AWS (deploy: the role its model runs as); a placeholder among them is refused unless the
    command stays on this machine (--local, an endpoint on 127.0.0.1) or only prints (--dry-run)."""
    try:
        overrides, _ = user_overrides()
    except IdentityError as exc:
        raise ConfigError(str(exc)) from None
    config = load_config(args.config or DEFAULT_CONFIG, profile=args.profile, overrides=overrides or None)
    on_aws = not args.local and not is_local_endpoint(args.endpoint_url) and not getattr(args, "dry_run", False)
    if on_aws:
        refused = [line for line in placeholder_errors(config, program) if line.split()[1] in needs]
        if refused:
            raise ConfigError("\n".join(line.removeprefix(f"{program}: ") for line in refused))
    return config, args.group or config.registry.model_package_group


def environment(args: argparse.Namespace, config: PipelineConfig) -> Environment:
    from pipelines.deployment.environment import open_environment

    serving_image = config.images.serving if getattr(args, "containers", False) else None
    return open_environment(local=args.local, run_dir=args.run_dir, region=config.pipeline.region,
                            endpoint_url=args.endpoint_url, serving_image=serving_image)


def run_cli(program: str, body: Callable[[], int]) -> int:
    # imported when the command runs, not for `--help` (boto3 and the SDK take seconds to import)
    import time

    from botocore.exceptions import BotoCoreError, ClientError

    from pipelines.aws_timeouts import describe_unreachable, unreachable_errors
    from pipelines.deployment.environment import DeployError

    started = time.monotonic()
    try:
        return body()
    except (ConfigError, DeployError) as exc:
        print(f"{program}: {exc}", file=sys.stderr)
        return 2
    except ClientError as exc:
        error = exc.response.get("Error", {})
        print(f"{program}: AWS refused {exc.operation_name}: {error.get('Code')}: {error.get('Message')}",
              file=sys.stderr)
        return 1
    except unreachable_errors() as exc:  # bounded waits (pipelines.aws_timeouts): say which endpoint, how long
        print(f"{program}: {describe_unreachable(exc, time.monotonic() - started)}", file=sys.stderr)
        return 1
    except BotoCoreError as exc:
        print(f"{program}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
