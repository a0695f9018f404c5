"""Hyperparameters from `--name value` arguments, else SageMaker's hyperparameters.json.

SageMaker passes every hyperparameter as a string; tuning jobs add `_tuning_objective_metric` and script
mode adds `sagemaker_*` entries: those are the platform's, not the model's, and are ignored. Any other
unknown name is an error that lists the allowed ones (a typo would otherwise silently train the default).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from steps.common.cli import parse_bool
from steps.common.errors import StepConfigError
from steps.train.algorithms.base import Algorithm
from steps.train.settings import TrainingSettings

RESERVED = {"algorithm", *TrainingSettings.model_fields}  # job options, not model hyperparameters


def _is_platform_key(name: str) -> bool:
    return name.startswith("_") or name.startswith("sagemaker_")


def split_argv(argv: Sequence[str]) -> dict[str, str]:
    """`--a 1 --b=2` -> {"a": "1", "b": "2"} (dashes inside names become underscores)."""
    values: dict[str, str] = {}
    items = list(argv)
    i = 0
    while i < len(items):
        token = items[i]
        if not token.startswith("--"):
            raise StepConfigError(f"unexpected argument {token!r}", file="command line", column=token,
                                  fix="pass hyperparameters as --name value")
        name = token[2:]
        if "=" in name:
            name, value = name.split("=", 1)
            i += 1
        else:
            if i + 1 >= len(items) or items[i + 1].startswith("--"):
                raise StepConfigError(f"--{name} has no value", file="command line", column=name,
                                      fix=f"pass --{name} <value>")
            value = items[i + 1]
            i += 2
        values[name.replace("-", "_")] = value
    return values


def hyperparameters_json_path() -> Path:
    config_dir = os.environ.get("SM_INPUT_CONFIG_DIR", "/opt/ml/input/config")
    return Path(config_dir) / "hyperparameters.json"


def read_hyperparameters_json(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    try:
        payload = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise StepConfigError(f"not valid JSON ({exc.msg})", file=path, fix="rewrite it") from exc
    if not isinstance(payload, dict):
        raise StepConfigError("expected a JSON object", file=path, fix="write {\"name\": \"value\", ...}")
    return {str(k): str(v) for k, v in payload.items()}


def _coerce(name: str, raw: Any, kind: type, source: str) -> Any:
    try:
        if kind is bool:
            return parse_bool(raw)
        if kind is int:
            number = float(raw)
            if number != int(number):
                raise ValueError
            return int(number)
        return kind(raw)
    except (TypeError, ValueError) as exc:
        raise StepConfigError(f"cannot read {raw!r} as {kind.__name__}", file=source, column=name,
                              fix=f"pass a {kind.__name__} for {name}") from exc


def resolve(algorithm: type[Algorithm], given: dict[str, str], source: str) -> dict[str, Any]:
    """Defaults overlaid with `given`, typed; unknown names are an error listing the allowed ones."""
    specs = {hp.name: hp for hp in algorithm.hyperparameters}
    params = algorithm.defaults()
    for name, raw in given.items():
        if name in RESERVED or _is_platform_key(name):
            continue
        if name not in specs:
            raise StepConfigError(
                f"unknown hyperparameter {name!r} for {algorithm.name}", file=source, column=name,
                fix=f"use one of: {', '.join(sorted(specs))}",
            )
        params[name] = _coerce(name, raw, specs[name].kind, source)
        problem = specs[name].problem(params[name])
        if problem:
            raise StepConfigError(problem, file=source, column=name, fix=f"set {name} {specs[name].allowed()}")
    return params
