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

from botocore.exceptions import BotoCoreError, ClientError

from pipelines.cli_options import add_endpoint_argument
from pipelines.config import DEFAULT_CONFIG, ConfigError, PipelineConfig, load_config
from pipelines.deployment.environment import DeployError, Environment, open_environment


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None, help="pipeline.yaml (default: configs/pipeline.yaml)")
    parser.add_argument("--profile", default=None, help="a named override set in the config, e.g. quick")
    parser.add_argument("--group", default=None, help="model package group (default: registry.model_package_group)")
    parser.add_argument("--local", action="store_true",
                        default=os.environ.get("CONVICTION_LOCAL", "").lower() in {"1", "true", "yes"},
                        help="use the local runner's AWS API emulator and S3 store in --run-dir "
                             "(env CONVICTION_LOCAL=1)")
    parser.add_argument("--run-dir", type=Path, default=Path("runs"),
                        help="the local runner's run folder (with --local)")
    add_endpoint_argument(parser, "another AWS API endpoint, e.g. a running `python -m pipelines.emulator`")
    parser.add_argument("--log-format", choices=("text", "json"), default="text")


def load(args: argparse.Namespace) -> tuple[PipelineConfig, str]:
    config = load_config(args.config or DEFAULT_CONFIG, profile=args.profile)
    return config, args.group or config.registry.model_package_group


def environment(args: argparse.Namespace, config: PipelineConfig) -> Environment:
    return open_environment(local=args.local, run_dir=args.run_dir, region=config.pipeline.region,
                            endpoint_url=args.endpoint_url)


def run_cli(program: str, body: Callable[[], int]) -> int:
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
    except BotoCoreError as exc:
        print(f"{program}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
