"""Command-line words shared by `pipelines.upsert` and `pipelines.run`, including the old scripts' words.

`add_endpoint_argument` is every command's `--endpoint-url` (run, upsert, approve, deploy, report, experiments).

The script-based system took `train_models_and_prepare_56.sh --enhanced --hpo …` and
`orchestrate_hpo_pipeline.py --algorithm … --input-data-s3 …`, and the same switches as environment
variables (`HPO=1 …`). Each is accepted here and mapped to config or a pipeline parameter; one that
this version cannot honour yet stops the command with a message saying so, never silently ignored.
`--fingpt` / `FINGPT=1` (new here) is handled the same way.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from typing import Any

from pipelines.parameter_values import ParameterValueError, checked_parameter_values, parameter_pairs
from steps.common.cli import add_log_format, parse_bool
from steps.train.settings import ALGORITHMS


class UsageError(ValueError):
    """A command-line problem; the CLI prints its one line and exits 2."""


@dataclass(frozen=True)
class LegacySwitch:
    flag: str
    env: str
    meaning: str
    implemented: bool


LEGACY_SWITCHES = (
    LegacySwitch("--enhanced", "ENHANCED", "always on: the pipeline is the enhanced pipeline", True),
    LegacySwitch("--use-aws", "USE_AWS", "upsert always publishes to AWS; `pipelines.run` runs locally", True),
    LegacySwitch("--hpo", "HPO", "always on: every algorithm is tuned by a TuningStep", True),
    LegacySwitch("--time-cv", "TIME_CV", "always on: purged, embargoed walk-forward folds", True),
    LegacySwitch("--include-sentiment", "INCLUDE_SENTIMENT", "sets the IncludeSentiment parameter's default", True),
    LegacySwitch("--twitter-sentiment", "TWITTER_SENTIMENT", "adds ScoreSentimentFinBERT (sentiment.enabled)", True),
    LegacySwitch(
        "--fingpt",
        "FINGPT",
        "adds the FinGPT GPU spot job (ScoreSentimentFinGPT) before ScoreSentimentFinBERT, which reads its scores; "
        "implies --twitter-sentiment (sentiment.fingpt.enabled; chosen when the definition is built)",
        True,
    ),
    LegacySwitch(
        "--feature-analysis", "FEATURE_ANALYSIS", "adds the SHAP FeatureStability step (stability.enabled)", True
    ),
    LegacySwitch("--per-stock", "PER_STOCK", "one model per stock plus a global fallback (training.grouping)", True),
    LegacySwitch("--per-sector", "PER_SECTOR", "one model per sector plus a global fallback (training.grouping)", True),
    LegacySwitch(
        "--deploy",
        "DEPLOY",
        "a model is deployed after it is approved, not when the pipeline is published: "
        "`python -m pipelines.approve --latest --approve`, then `python -m pipelines.deploy`",
        False,
    ),
)

ENDPOINT_ENV = "CONVICTION_AWS_ENDPOINT"
ENDPOINT_HELP = (
    "talk to this AWS API endpoint instead of AWS (pipelines.run: instead of its embedded emulator), "
    "e.g. a running `python -m pipelines.emulator`"
)


def add_endpoint_argument(parser: argparse.ArgumentParser, help_text: str = ENDPOINT_HELP) -> None:
    """`--endpoint-url URL`, every command's one name for the AWS API endpoint (default: env
    CONVICTION_AWS_ENDPOINT); `--aws-endpoint`, `pipelines.run`'s old name, is still accepted, not shown."""
    default = os.environ.get(ENDPOINT_ENV) or None
    parser.add_argument("--endpoint-url", default=default, metavar="URL", help=f"{help_text} (env {ENDPOINT_ENV})")
    parser.add_argument("--aws-endpoint", dest="endpoint_url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def default_profiles() -> list[str]:
    """The profile names of configs/pipeline.yaml, read with the config's own YAML reader; [] when it cannot be
    read (the help then says so; `load_config` words the real error when the command runs)."""
    from pipelines.config import DEFAULT_CONFIG, ConfigError, parse_yaml

    try:
        raw = parse_yaml(DEFAULT_CONFIG.read_text(encoding="utf-8"), str(DEFAULT_CONFIG))
    except (OSError, ConfigError):
        return []
    profiles = raw.get("profiles") if isinstance(raw, dict) else None
    return [str(name) for name in profiles] if isinstance(profiles, dict) else []


class _ProfileOption(argparse.Action):
    """`--profile NAME`, whose help lists configs/pipeline.yaml's profiles. The list is read when the help is
    shown, not when the parser is built (reading the YAML costs ~30 ms that a run does not need). Not `choices`:
    another --config has its own profiles, and `load_config` refuses an unknown one naming them."""

    def __init__(self, option_strings, dest, **kwargs) -> None:
        self._help: str | None = None
        super().__init__(option_strings, dest, **kwargs)

    @property
    def help(self) -> str:  # type: ignore[override]
        if self._help is None:  # argparse reads it several times while it formats the help: read the YAML once
            names = default_profiles()
            listed = ", ".join(names) if names else "none readable"
            self._help = f"a named override set in the config; configs/pipeline.yaml has: {listed}"
        return self._help

    @help.setter
    def help(self, _value: str | None) -> None:
        pass

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, values)


class _VerboseOption(argparse.Action):
    """Turns the third-party loggers up as soon as it is parsed (pipelines/__init__.py keeps them at WARNING)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        from pipelines import third_party_logging

        third_party_logging(True)
        setattr(namespace, self.dest, True)


def add_profile_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", action=_ProfileOption, default=None, metavar="NAME")


def add_config_arguments(parser: argparse.ArgumentParser, refused: dict[str, str] | None = None) -> None:
    """The config, parameter and logging options of run, upsert and lint, and the old scripts' words. `refused`:
    old words this command does not take (flag -> what to run instead), hidden from its help and refused with
    that line (lint: --use-aws and --deploy say nothing about a definition)."""
    refused = refused or {}
    parser.add_argument("--config", default=None, help="pipeline.yaml (default: configs/pipeline.yaml)")
    add_profile_argument(parser)
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="Name=Value",
        help="a pipeline parameter for this execution (repeatable)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config override, e.g. images.training=<ECR URI> or sample_data.tickers=4 (repeatable)",
    )
    add_log_format(parser)
    parser.add_argument("--verbose", action=_VerboseOption, nargs=0, default=False,
                        help="also show the libraries' INFO logs (botocore, the SageMaker SDK); "
                             "env CONVICTION_VERBOSE=1")
    add_endpoint_argument(parser)
    legacy = parser.add_argument_group("the old scripts' words (also as environment variables, e.g. HPO=1)")
    legacy.add_argument("--algorithm", "--algorithms", dest="algorithms", default=None, help="xgboost[,catboost,…]")
    legacy.add_argument("--input-data-s3", default=None, help="sets the InputDataUrl parameter's default")
    for switch in LEGACY_SWITCHES:
        if switch.flag in refused:
            parser.add_argument(switch.flag, action=_RefusedFlag, nargs=0, replacement=refused[switch.flag])
            continue
        suffix = "" if switch.implemented else " [stops with a message saying what to run instead]"
        legacy.add_argument(switch.flag, action="store_true", help=f"{switch.meaning}{suffix}")


class _RefusedFlag(argparse.Action):
    """An old word a command no longer takes: one line naming what to do instead, exit 2 (argparse's usage error)."""

    def __init__(self, option_strings, dest, replacement: str = "", **kwargs) -> None:
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, default=False, **kwargs)
        self.replacement = replacement

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        parser.error(f"{option_string} is not taken here: {self.replacement}")


@dataclass
class ResolvedOptions:
    overrides: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _env_switch(environ: dict[str, str], name: str) -> bool:
    """An environment switch (HPO=1): unset or empty is off; otherwise the project's one boolean reading
    (steps/common/cli.py parse_bool), so HPO=ture stops the command instead of silently meaning off."""
    text = environ.get(name, "").strip()
    if not text:
        return False
    try:
        return parse_bool(text)
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"{name}={text}: {exc}; set it to 1 or 0 (or unset it)") from None


def resolve_legacy_options(args: argparse.Namespace, environ: dict[str, str] | None = None) -> ResolvedOptions:
    """Turn the old words (flags or env vars) into config overrides, or a UsageError naming what is missing."""
    from pipelines.identities import IdentityError, user_overrides

    environ = dict(os.environ if environ is None else environ)
    try:  # the per-user settings (identities: role, bucket, images) first: every flag below overrides them
        overrides, notes = user_overrides(environ)
    except IdentityError as exc:
        raise UsageError(str(exc)) from None
    resolved = ResolvedOptions(overrides=overrides, notes=notes)
    for switch in LEGACY_SWITCHES:
        attribute = switch.flag.removeprefix("--").replace("-", "_")
        from_flag = bool(getattr(args, attribute, False))
        from_env = _env_switch(environ, switch.env)
        if not (from_flag or from_env):
            continue
        source = switch.flag if from_flag else f"{switch.env}=1"
        if not switch.implemented:
            raise UsageError(f"{source}: {switch.meaning}; remove {source} to continue")
        resolved.notes.append(f"{source}: {switch.meaning}")
        if switch.env == "INCLUDE_SENTIMENT":
            resolved.overrides.setdefault("features", {})["include_sentiment"] = True
        if switch.env == "FEATURE_ANALYSIS":
            resolved.overrides.setdefault("stability", {})["enabled"] = True
        if switch.env in {"PER_STOCK", "PER_SECTOR"}:
            grouping = "stock" if switch.env == "PER_STOCK" else "sector"
            previous = resolved.overrides.setdefault("training", {}).setdefault("grouping", grouping)
            if previous != grouping:
                raise UsageError("--per-stock and --per-sector: choose one (training.grouping is stock or sector)")
        if switch.env in {"TWITTER_SENTIMENT", "FINGPT"}:
            resolved.overrides.setdefault("sentiment", {})["enabled"] = True
        if switch.env == "FINGPT":
            resolved.overrides["sentiment"].setdefault("fingpt", {})["enabled"] = True

    algorithms = args.algorithms or environ.get("ALGORITHMS") or environ.get("ALGORITHM")
    if algorithms:
        names = [a.strip().lower() for a in algorithms.split(",") if a.strip()]
        unknown = [a for a in names if a not in ALGORITHMS]
        if unknown:
            raise UsageError(f"--algorithm: unknown {unknown[0]!r}; allowed: {', '.join(ALGORITHMS)}")
        resolved.overrides["algorithms"] = names
    input_data = args.input_data_s3 or environ.get("INPUT_DATA_S3")
    if input_data:
        resolved.overrides.setdefault("data", {})["input_data_url"] = input_data
    return resolved


def config_overrides(pairs: list[str]) -> dict[str, Any]:
    """`--set sample_data.tickers=4` -> {"sample_data": {"tickers": 4}} (values read as YAML scalars)."""
    from pipelines.config import ConfigError, parse_yaml

    overrides: dict[str, Any] = {}
    for pair in pairs:
        dotted, sep, text = pair.partition("=")
        keys = dotted.strip().split(".")
        if not sep or not all(key.strip() for key in keys):
            raise UsageError(f"--set {pair[:200]!r}: expected key=value, e.g. --set tuning.max_jobs=8")
        try:  # the config's own YAML reader: no aliases, no key twice, one line for what it refuses
            value = parse_yaml(text, f"--set {dotted.strip()}") if text != "" else ""
        except ConfigError as exc:
            raise UsageError(f"{exc}; quote a text value, e.g. --set '{dotted.strip()}=\"[x\"'") from None
        target = overrides
        *parents, leaf = keys
        for depth, part in enumerate(parents):
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                earlier = ".".join(keys[: depth + 1])
                raise UsageError(f"--set {dotted.strip()}: an earlier --set gave {earlier} a value, not a section")
        target[leaf] = value
    return overrides


def parameter_arguments(pairs: list[str]) -> dict[str, str]:
    """`--param Name=Value` pairs as {Name: Value} (the last of a name wins), not yet checked: `pipelines.run`
    hands them to the local runner, which checks them against the definition it builds."""
    try:
        return dict(parameter_pairs(pairs))
    except ParameterValueError as exc:
        raise UsageError(str(exc)) from None


def parse_parameter_values(pairs: list[str], definition: dict[str, Any], policy: Any = None) -> dict[str, str]:
    """`Name=Value` pairs checked as every command checks a `--param` (`pipelines.parameter_values`: the
    definition's names and types, each parameter's allowed range, the start-time policy, EnumValues; `policy`
    a ParameterPolicy, default: the definition's own); the values as given, for StartPipelineExecution."""
    try:
        given = parameter_pairs(pairs)
        checked_parameter_values(given, definition, policy)
    except ParameterValueError as exc:
        raise UsageError(str(exc)) from None
    return dict(given)
