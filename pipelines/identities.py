"""Who the pipeline runs as and where: the settings that differ per account, and where a user sets them.

The repository's config names account `000000000000` (the role ARN, every image URI): fine for a dry run,
a local run and the emulator, but a pipeline published with them fails every job. Each user sets the real
values once, outside the repository, in one of (later wins):

1. a per-user config file: `$CONVICTION_USER_CONFIG`, else `$XDG_CONFIG_HOME/conviction/pipeline.yaml`, else
   `~/.config/conviction/pipeline.yaml`; the same YAML shape as configs/pipeline.yaml, e.g.
       pipeline: {role_arn: arn:aws:iam::123456789012:role/sagemaker-pipelines, bucket: my-ml-artifacts}
       images: {processing: 123456789012.dkr.ecr.us-east-1.amazonaws.com/conviction-cpu:0.1.0, ...}
2. environment variables `CONVICTION_<SECTION>__<KEY>` (double underscore between levels), e.g.
   `CONVICTION_PIPELINE__ROLE_ARN=arn:aws:iam::123456789012:role/...`, `CONVICTION_IMAGES__TRAINING=...`;
3. `--set section.key=value` on the command line.

Publishing to AWS (anything but a dry run, or an endpoint on this machine) refuses a placeholder left in
any of them, one line each saying how to set it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

PLACEHOLDER_ACCOUNT = "000000000000"
USER_CONFIG_ENV = "CONVICTION_USER_CONFIG"
ENV_PREFIX = "CONVICTION_"
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


class IdentityError(ValueError):
    """A per-user setting that cannot be read (the CLIs print it as one line, exit 2)."""


def user_config_path(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    if environ.get(USER_CONFIG_ENV):
        return Path(environ[USER_CONFIG_ENV]).expanduser()
    base = Path(environ["XDG_CONFIG_HOME"]) if environ.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "conviction" / "pipeline.yaml"


def user_overrides(environ: Mapping[str, str] | None = None) -> tuple[dict[str, Any], list[str]]:
    """The per-user file's settings, then the CONVICTION_<SECTION>__<KEY> variables; and notes saying which."""
    from pipelines.config import ConfigError, deep_merge, parse_yaml

    environ = os.environ if environ is None else environ
    overrides: dict[str, Any] = {}
    notes: list[str] = []
    path = user_config_path(environ)
    if environ.get(USER_CONFIG_ENV) and not path.is_file():  # named, so meant: not silently ignored
        raise IdentityError(f"{USER_CONFIG_ENV}={environ[USER_CONFIG_ENV]}: no such file ({path}); point it at "
                            "your per-user pipeline.yaml, or unset it")
    if path.is_file():
        try:
            loaded = parse_yaml(path.read_bytes(), f"{path} (the per-user config)") or {}
        except OSError as exc:
            raise IdentityError(f"{path}: cannot read the per-user config: {exc.strerror or exc}") from None
        except ConfigError as exc:
            raise IdentityError(str(exc)) from None
        if not isinstance(loaded, dict):
            raise IdentityError(f"{path}: the per-user config must be a mapping like configs/pipeline.yaml")
        overrides = deep_merge(overrides, loaded)
        if loaded:
            notes.append(f"per-user settings from {path}: {', '.join(sorted(_dotted(loaded)))}")
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        keys = [part.lower() for part in name.removeprefix(ENV_PREFIX).split("__")]
        if not all(keys):
            raise IdentityError(f"{name}: expected CONVICTION_<SECTION>__<KEY>, e.g. CONVICTION_PIPELINE__ROLE_ARN")
        try:
            value: Any = parse_yaml(environ[name], name) if environ[name].strip() else environ[name]
        except ConfigError as exc:
            raise IdentityError(f"{exc}; quote a text value, e.g. {name}='\"[x\"'") from None
        for key in reversed(keys):
            value = {key: value}
        overrides = deep_merge(overrides, value)
        notes.append(f"{'.'.join(keys)} from {name}")
    return overrides, notes


def _dotted(mapping: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            yield from _dotted(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def placeholder_settings(config) -> list[tuple[str, str]]:
    """(dotted key, value) of every setting that still names the placeholder account."""
    found = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if path == "" and key in {"profiles", "hpo", "universe", "source", "profile"}:
                    continue
                walk(item, f"{path}.{key}" if path else key)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{path}[{index}]")
        elif isinstance(value, str) and PLACEHOLDER_ACCOUNT in value:
            found.append((path, value))

    walk(config.model_dump(), "")
    return found


def placeholder_errors(config, program: str) -> list[str]:
    """One line per placeholder: the key, its value, and the three ways to set it."""
    lines = []
    for key, value in placeholder_settings(config):
        variable = ENV_PREFIX + "__".join(part.upper() for part in key.split("."))
        example = "arn:aws:iam::<account>:role/<role>" if key.endswith("role_arn") else (
            "<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>" if "dkr.ecr" in value else "<value>"
        )
        lines.append(
            f"{program}: {key} is a placeholder ({value}); set it with --set {key}={example}, "
            f"or {variable}=…, or in {user_config_path()}"
        )
    return lines


def is_local_endpoint(endpoint_url: str | None) -> bool:
    """An AWS API on this machine (the emulator): placeholders are fine there."""
    return bool(endpoint_url) and urlparse(endpoint_url).hostname in _LOCAL_HOSTS
