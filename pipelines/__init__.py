"""conviction pipelines: the SageMaker Pipelines definition layer (the only one that imports the SDK).

The SDK environment is set here, in the package's own init, because it must be in place before the
first `import sagemaker` anywhere below, and import sorting puts third-party imports first:
- the v2 deprecation banner is silenced, and telemetry is opted out through the SDK's config file
  (`sdk_config.yaml`; its HTTP call has no effective timeout and building must touch no network);
- the SDK's build-time warnings about things that are by design here (job names popped from the
  definition, estimators used only as templates, "No Wait, No Logs") are kept out of the output.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
os.environ.setdefault("SAGEMAKER_USER_CONFIG_OVERRIDE", str(Path(__file__).with_name("sdk_config.yaml")))

for _noisy in (
    "sagemaker.config",
    "sagemaker.telemetry",
    "sagemaker.workflow.utilities",
    "sagemaker.workflow._utils",
    "sagemaker.estimator",
):
    logging.getLogger(_noisy).setLevel(logging.ERROR)
warnings.filterwarnings("ignore", message="Running within a PipelineSession", category=UserWarning)

# The SDK calls logging.basicConfig(level=INFO) on import (sagemaker/experiments/_metrics.py), so with
# AWS_ENDPOINT_URL set botocore said "Found endpoint for sagemaker via: environment_global" 13-16 times per
# command. Third-party libraries speak at WARNING unless asked (`--verbose`, or CONVICTION_VERBOSE=1).
THIRD_PARTY_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer", "sagemaker")


def third_party_logging(verbose: bool) -> None:
    """INFO from botocore, boto3, urllib3, s3transfer and the SDK when `verbose`, else WARNING and above."""
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)


third_party_logging(os.environ.get("CONVICTION_VERBOSE", "") in {"1", "true", "yes"})
