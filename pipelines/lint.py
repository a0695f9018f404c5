"""`python -m pipelines.lint`: policy checks on the definition JSON, before anything is published.

    python -m pipelines.lint [--config …] [--profile …] [--definition FILE] [--param Name=Value …]

Rules (each violation is one line: `<step>: <rule>: <what is wrong>`):
- kms:        with `security.kms_key_id` set, every job step encrypts its volume and its output with it
- vpc:        with subnets set, every job step runs in that VPC; with `network_isolation`, every job is isolated
- spot:       managed spot training only with a checkpoint S3 URI (MaxWaitTimeInSeconds is a service rule:
              `stopping`, pipelines/definition/spot_rules.py)
- instances:  every instance type (literal or parameter default) is in `security.allowed_instance_types`
- secrets:    no plain-text secret in container arguments, environment or hyperparameters, and no
              credential-shaped string (an AWS key, a URL's password or signed query) anywhere in the definition
- caching:    every deterministic job step caches (steps in `caching.nondeterministic_steps` are exempt)

And SageMaker's own rules, as the local runner applies them (README "What the runner enforces"):
- request:    every request a step makes (CreateProcessingJob, CreateTrainingJob, the tuning job and the
              training jobs it starts, CreateModelPackage, CreateModel) and CreatePipeline itself, against
              botocore's SageMaker model: required members, types, lengths, ranges, list sizes, enums,
              patterns. Parameters take their defaults, or the `--param` values given (checked first as
              the runner and upsert check them, `pipelines.parameter_values`: a refused value is the same
              line, exit 2). A value another step makes is judged by its longest value where that is known
              (`pipelines.definition.static_values`: an output URI the step declares, a name's botocore
              limit), and the message says what was assumed; other run-time values are not judged.
- names, graph, property, branch, race: the definition-wide rules of `pipelines.definition.rules`
              (property: also against the outputs, inputs and channels a step declares, output_rules)

`upsert` runs the same checks before publishing. Exit 0 clean, 1 violations, 2 usage/config error.
The old scripts' words that change the definition (`--per-sector`, `--feature-analysis`, `--fingpt`, `--algorithm`,
...) are taken as upsert takes them, so lint checks the definition upsert would publish with them (and logs what
each did); `--use-aws` and `--deploy`, which say nothing about a definition, are refused with what to run instead.
With `--definition`, lint loads no SageMaker SDK (building a definition does; reading one does not).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pipelines.config import PipelineConfig
from pipelines.definition.errors import DefinitionError
from pipelines.definition.graph import flatten_steps
from pipelines.definition.graph import iter_branch_steps as iter_steps
from pipelines.definition.requests import SAMPLE_EXECUTION, job_name
from pipelines.definition.rules import Violation, check_definition
from pipelines.definition.service_rules import UNKNOWN, validate_request
from pipelines.definition.static_values import StaticContext, execution_sample, static_arguments
from pipelines.definition.step_types import STEP_TYPES

JOB_TYPES = tuple(name for name, step_type in STEP_TYPES.items() if step_type.job)  # the steps that create a job

# Values that look like credentials: AWS access keys, bearer tokens, private keys, long opaque tokens
# under a secret-sounding name. Names alone (e.g. a secret's ARN or id) are fine: that is how jobs
# should find secrets at run time.
_SECRET_VALUE_PATTERNS = (
    re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/%]{20,}"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\bAAAAAAAAAAAAAAAAAAAAA[A-Za-z0-9%]{20,}"),  # X/Twitter app bearer tokens
)
_SECRET_NAME = re.compile(r"(?i)(secret|password|passwd|token|api[_-]?key|credential)")
_SECRET_REFERENCE = re.compile(r"^(arn:aws[a-z\-]*:secretsmanager:|[A-Za-z0-9/_+=.@\-]{1,64}$)")


def _mapping(value: Any) -> dict[str, Any]:
    """A member the rules read, as a mapping even where the definition has something else (request
    validation reports the wrong type; the policy rules must not crash on it)."""
    return value if isinstance(value, dict) else {}


def _sequence(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _job_view(step: dict[str, Any]) -> dict[str, Any]:
    """The parts of a job request the rules read, whatever the step type calls them."""
    args = _mapping(step.get("Arguments"))
    if step["Type"] == "Processing":
        cluster = _mapping(_mapping(args.get("ProcessingResources")).get("ClusterConfig"))
        network = _mapping(args.get("NetworkConfig"))
        return {
            "instance_type": cluster.get("InstanceType"),
            "volume_kms": cluster.get("VolumeKmsKeyId"),
            "output_kms": _mapping(args.get("ProcessingOutputConfig")).get("KmsKeyId"),
            "vpc": network.get("VpcConfig"),
            "isolated": network.get("EnableNetworkIsolation", False),
            "spot": False,
            "arguments": _sequence(_mapping(args.get("AppSpecification")).get("ContainerArguments")),
            "environment": _mapping(args.get("Environment")),
            "hyperparameters": {},
        }
    job = _mapping(args.get("TrainingJobDefinition", args)) if step["Type"] == "Tuning" else args
    resources = _mapping(job.get("ResourceConfig") or job.get("HyperParameterTuningResourceConfig"))
    return {
        "instance_type": resources.get("InstanceType"),
        "volume_kms": resources.get("VolumeKmsKeyId"),
        "output_kms": _mapping(job.get("OutputDataConfig")).get("KmsKeyId"),
        "vpc": _mapping(job.get("VpcConfig")),
        "isolated": job.get("EnableNetworkIsolation", False),
        "spot": job.get("EnableManagedSpotTraining", False),
        "checkpoint": _mapping(job.get("CheckpointConfig")).get("S3Uri"),
        "max_wait": _mapping(job.get("StoppingCondition")).get("MaxWaitTimeInSeconds"),
        "arguments": _sequence(_mapping(job.get("AlgorithmSpecification")).get("ContainerArguments")),
        "environment": _mapping(job.get("Environment")),
        "hyperparameters": {**_mapping(job.get("StaticHyperParameters")), **_mapping(job.get("HyperParameters"))},
    }


def _literal(value: Any, defaults: dict[str, Any]) -> Any:
    """A parameter reference becomes its default; other expressions stay as they are."""
    if isinstance(value, dict) and set(value) == {"Get"} and str(value["Get"]).startswith("Parameters."):
        return defaults.get(value["Get"].removeprefix("Parameters."))
    return value


# Credentials inside a URL (a configured data URL becomes a parameter default): a password in the userinfo
# (`s3://AKIA…:secret@bucket/`), or a query value that is a signature, a token or a secret key's shape
# (40 characters of base64: an AWS secret access key).
_URL_USERINFO_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^/?#@\s:]*:[^/?#@\s]+@")
_URL_QUERY = re.compile(r"[?&;](?P<key>[^=&;#\s]+)=(?P<value>[^&;#\s]+)")
_SECRET_QUERY_KEY = re.compile(r"(?i)(signature|security-token|token|secret|password|passwd|credential|api[_-]?key"
                               r"|access[_-]?key|sig)$")
_SECRET_KEY_SHAPE = re.compile(r"^[A-Za-z0-9/+=]{40}$")
_AWS_KEY_ID = re.compile(r"(?<![A-Z0-9])(AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])")


def credential_kind(value: str) -> str | None:
    """What kind of credential `value` holds, in words that never repeat it (None: nothing credential-shaped)."""
    found = _AWS_KEY_ID.search(value)
    if found:
        return f"an AWS access key id ({found.group(1)}…, masked)"
    if any(pattern.search(value) for pattern in _SECRET_VALUE_PATTERNS):
        return "what looks like a credential (a token or a private key, masked)"
    if _URL_USERINFO_PASSWORD.search(value):
        return "a URL with a password in it (user:…@, masked)"
    for query in _URL_QUERY.finditer(value):
        if _SECRET_QUERY_KEY.search(query["key"]) or _SECRET_KEY_SHAPE.match(query["value"]):
            return f"a URL whose query carries a credential ({query['key'][:40]}=…, masked)"
    return None


def mask_credentials(text: str) -> str:
    """`text` with every credential-shaped part replaced by its kind (a message may quote a value)."""
    text = _AWS_KEY_ID.sub(lambda m: f"{m.group(1)}…(masked)", text)
    for pattern in _SECRET_VALUE_PATTERNS:
        text = pattern.sub("…(masked)", text)
    text = re.sub(r"(://[^/?#@\s:]*:)[^/?#@\s]+@", r"\1…(masked)@", text)
    # a secret key's shape, also right after `name=` (a query parameter quoted in another rule's message)
    text = re.sub(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])", "…(masked)", text)
    return _URL_QUERY.sub(
        lambda m: (m.group(0)[0] + f"{m['key']}=…(masked)"
                   if _SECRET_QUERY_KEY.search(m["key"]) or _SECRET_KEY_SHAPE.match(m["value"]) else m.group(0)),
        text,
    )


def _definition_strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(path, string) for every string in `value`, keys included; a condition's branch steps are left to
    their own walk (iter_steps lists them)."""
    stack: list[tuple[str, Any]] = [(path, value)]
    for _ in range(1_000_000):  # bounded: a definition is at most a few MB
        if not stack:
            return
        where, item = stack.pop()
        if isinstance(item, str):
            yield where, item
        elif isinstance(item, dict):
            for key, child in item.items():
                if key in {"IfSteps", "ElseSteps"}:
                    continue
                yield f"{where}.{key} (the key)", str(key)
                stack.append((f"{where}.{key}", child))
        elif isinstance(item, list):
            stack.extend((f"{where}[{index}]", child) for index, child in enumerate(item))


def credential_violations(definition: dict[str, Any], already: set[tuple[str, str]] | None = None) -> list[Violation]:
    """Credential-shaped strings anywhere in the definition: parameter defaults and allowed values, every
    step's arguments (not only the jobs' arguments, environment and hyperparameters), the pipeline's own
    settings. `already`: (step, value) pairs the per-job rule flagged (not said twice). Never echoes a value."""
    places: list[tuple[str, str, Any]] = []
    for parameter in _sequence(definition.get("Parameters")):
        name = _mapping(parameter).get("Name", "?")
        places.append(("(parameters)", f"Parameters[{name}]", parameter))
    for step in iter_steps(_sequence(definition.get("Steps"))):
        places.append((str(step.get("Name")), f"Steps[{step.get('Name')}]", step))
    for key, value in definition.items():
        if key not in {"Parameters", "Steps"}:
            places.append(("(definition)", key, value))
    violations, seen = [], set(already or ())
    for owner, root, value in places:
        for where, text in _definition_strings(value, root):
            kind = credential_kind(text)
            if kind and (owner, text) not in seen:
                seen.add((owner, text))
                violations.append(Violation(owner, "secrets", f"{where} holds {kind}; a definition is stored and "
                                            "shown in the console: pass a Secrets Manager secret id instead"))
    return violations


def _secret_findings(name: str, value: Any) -> list[str]:
    if not isinstance(value, str):
        return []
    kind = credential_kind(value)
    if kind:
        return [f"{name} holds {kind} (pass a Secrets Manager secret id instead)"]
    if _SECRET_NAME.search(name) and len(value) >= 16 and not _SECRET_REFERENCE.match(value):
        return [f"{name} looks like a plain-text secret (pass a Secrets Manager secret id instead)"]
    return []


def parameter_values(definition: dict[str, Any], given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Each declared parameter's value as a run would have it: the given one (already checked, typed), else
    its default."""
    values = {p["Name"]: p.get("DefaultValue") for p in definition.get("Parameters", [])}
    return {**values, **(given or {})}


def lint_definition(
    definition: dict[str, Any], config: PipelineConfig, parameters: Mapping[str, Any] | None = None
) -> list[Violation]:
    """Policy rules and SageMaker's rules; empty when the definition may be published. `parameters`: values
    for this execution, checked and typed (`pipelines.parameter_values.checked_parameter_values`); the others
    take their defaults."""
    try:
        flatten_steps(definition)
    except DefinitionError as exc:  # a malformed definition: the rules below cannot read it
        return [Violation("(definition)", "shape", mask_credentials(str(exc)))]
    found = policy_violations(definition, config, parameters) + service_violations(definition, config, parameters)
    # every rule's message, not only the secrets rule's: a request rule quoting a value must not print a key
    return [Violation(v.step, v.rule, mask_credentials(v.message)) for v in found]


def service_violations(
    definition: dict[str, Any], config: PipelineConfig, parameters: Mapping[str, Any] | None = None
) -> list[Violation]:
    """What SageMaker would refuse: the definition-wide rules, then each request with what lint can know."""
    from pipelines.publish import pipeline_request

    violations = check_definition(definition, dict(parameters or {}))  # at the values lint was given
    if any(v.rule == "graph" for v in violations):
        return violations
    nodes = flatten_steps(definition)
    context = StaticContext(
        parameters=parameter_values(definition, parameters),
        nodes=nodes,
        execution=execution_sample(config.pipeline.name, config.pipeline.region),
    )
    for node in nodes.values():
        step_type = STEP_TYPES.get(node.type)
        if step_type is None or step_type.operation is None:
            continue
        arguments = static_arguments(node.data_arguments, context)
        name = job_name(node.name, SAMPLE_EXECUTION["PipelineExecutionId"], step_type.job_name_limit)
        for operation, request in step_type.static_requests(arguments, name):
            found = validate_request(operation, request)
            violations += [Violation(node.name, "request", f"{operation} {v}") for v in found]
    text = json.dumps(definition, separators=(",", ":"))
    body = pipeline_request(
        name=config.pipeline.name,
        definition=text,
        role_arn=config.pipeline.role_arn,
        description=config.pipeline.description,
        definition_uri=f"{config.s3_root}/definitions/{config.pipeline.name}.json",
        max_parallel_steps=config.pipeline.max_parallel_steps,
    )
    body["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(config.pipeline.tags.items())]
    body["ClientRequestToken"] = UNKNOWN  # boto3 fills it in
    found = validate_request("CreatePipeline", body)
    violations += [Violation("(pipeline)", "request", f"CreatePipeline {v}") for v in found]
    return violations


def policy_violations(
    definition: dict[str, Any], config: PipelineConfig, parameters: Mapping[str, Any] | None = None
) -> list[Violation]:
    """The firm's own rules (kms, vpc, spot, instances, secrets, caching)."""
    from pipelines.parameter_table import ParameterPolicy
    from pipelines.parameter_values import default_value_errors

    security, caching = config.security, config.caching
    defaults = parameter_values(definition, parameters)
    # what a start without --param runs with, held to the start-time policy (a file:// data URL: no job reads it)
    violations = [Violation("(parameters)", "parameters", error)
                  for error in default_value_errors(definition, ParameterPolicy.from_config(config))]
    flagged: set[tuple[str, str]] = set()  # (step, value) the per-job secrets rule named
    for step in iter_steps(definition.get("Steps", [])):
        if step["Type"] not in JOB_TYPES:
            continue
        name, job = step["Name"], _job_view(step)

        def flag(rule: str, message: str, step_name: str = name) -> None:
            violations.append(Violation(step_name, rule, message))

        if security.kms_key_id:
            if job["volume_kms"] != security.kms_key_id:
                flag("kms", f"volume not encrypted with {security.kms_key_id}")
            if job["output_kms"] != security.kms_key_id:
                flag("kms", f"output not encrypted with {security.kms_key_id}")
        if security.subnets:
            vpc = job["vpc"] or {}
            if sorted(vpc.get("Subnets", [])) != sorted(security.subnets):
                flag("vpc", f"not in the configured subnets {', '.join(security.subnets)}")
            if sorted(vpc.get("SecurityGroupIds", [])) != sorted(security.security_group_ids):
                flag("vpc", "not in the configured security groups")
        if security.network_isolation and not job["isolated"]:
            flag("vpc", "network isolation is configured but not enabled")
        if job["spot"] and not job.get("checkpoint"):
            flag("spot", "managed spot training without a CheckpointConfig S3Uri (work is lost on interruption)")
        instance_type = _literal(job["instance_type"], defaults)
        if security.allowed_instance_types and instance_type not in security.allowed_instance_types:
            flag("instances", f"instance type {instance_type!r} is not in security.allowed_instance_types")
        for index, argument in enumerate(job["arguments"]):
            previous = job["arguments"][index - 1] if index else ""
            label = f"argument {previous} " if isinstance(previous, str) and previous.startswith("--") else "argument "
            for finding in _secret_findings(f"{label}#{index}".replace("--", ""), argument):
                flag("secrets", finding)
                flagged.add((name, argument))
        for key, value in {**job["environment"], **job["hyperparameters"]}.items():
            for finding in _secret_findings(key, value):
                flag("secrets", finding)
                flagged.add((name, value))
        enabled = step.get("CacheConfig", {}).get("Enabled", False)
        if not enabled and name not in caching.nondeterministic_steps:
            flag("caching", "caching is off for a deterministic step (else list it in caching.nondeterministic_steps)")
    return violations + credential_violations(definition, flagged)


# The old scripts' words that say nothing about a definition: lint refuses them, naming what does what they did.
# The others (--per-sector, --feature-analysis, --fingpt, --algorithm, ...) change the definition, so lint takes
# them as upsert does and checks the definition upsert would publish with them.
LINT_REFUSED = {
    "--use-aws": "lint checks the definition offline and never publishes; `python -m pipelines.upsert` publishes it "
                 "to AWS",
    "--deploy": "a model is deployed after it is approved: `python -m pipelines.approve --latest --approve`, then "
                "`python -m pipelines.deploy`",
}


def main(argv: list[str] | None = None) -> int:
    from pipelines.cli_options import UsageError, add_config_arguments, config_overrides, resolve_legacy_options
    from pipelines.config import DEFAULT_CONFIG, ConfigError, deep_merge, load_config
    from pipelines.parameter_table import ParameterPolicy
    from pipelines.parameter_values import ParameterValueError, checked_parameter_values, parameter_pairs
    from steps.common.logging import get_logger

    parser = argparse.ArgumentParser(prog="python -m pipelines.lint", description=__doc__.splitlines()[0])
    add_config_arguments(parser, refused=LINT_REFUSED)
    parser.add_argument("--definition", type=Path, default=None, help="lint this JSON instead of building one")
    args = parser.parse_args(argv)
    try:
        options = resolve_legacy_options(args)
        overrides = deep_merge(options.overrides, config_overrides(args.set))
        config = load_config(args.config or DEFAULT_CONFIG, profile=args.profile, overrides=overrides or None)
        if args.definition:
            definition = json.loads(args.definition.read_text())
        else:
            from pipelines.definition import definition_json, get_pipeline

            definition = json.loads(definition_json(get_pipeline(config)))
        # the values the runner and upsert would run with, refused with the same line they give
        given = checked_parameter_values(parameter_pairs(args.param), definition, ParameterPolicy.from_config(config))
    except (ConfigError, UsageError, ParameterValueError, OSError, json.JSONDecodeError) as exc:
        print(f"lint: {exc}", file=sys.stderr)
        return 2
    log = get_logger("lint", args.log_format)
    for note in options.notes:  # what each old word did to the definition, as upsert says it (a refusal stays one line)
        log.info(note)
    violations = lint_definition(definition, config, given)
    for violation in violations:
        print(violation)
    if violations:
        print(f"lint: {len(violations)} violation(s)", file=sys.stderr)
        return 1
    print(f"lint: {config.pipeline.name}: no violations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
