"""A step's settings as one typed model: the one declaration its CLI, the pipeline's config and the stage builders
all read.

Each step declares its settings once, as a `StepSettings` model: every field has a default, its bounds
(`Field(ge=..., le=...)`, a Literal, a validator) and a one-line `description`. From that model:

- the step's command line is generated (`add_settings_arguments`): one `--name` flag a field, with the
  description, default and bounds in `--help`, plus `--settings JSON`, which the pipeline passes;
- `pipelines/config.py` embeds the same model as its config section, so a bad value in configs/pipeline.yaml
  is refused when the config is loaded, with the step's own message;
- the stage builders pass a section as `--settings` arguments built in one place (`settings_arguments`).

`--settings` may be given more than once: a SageMaker container argument holds at most 256 characters
(botocore's ContainerArgument), so a long section is packed into several objects, each ≤ 256 characters,
merged in order here. A name in two of them is an error, and a flag given on the command line wins over
`--settings` (that is how a value only known at run time, a pipeline Parameter, reaches a setting: as its own
flag, since a JSON literal cannot hold it).
"""

from __future__ import annotations

import argparse
import json
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator

from steps.common.cli import parse_bool
from steps.common.errors import StepInputError

SETTINGS_FLAG = "--settings"
MAX_ARGUMENT_CHARS = 256  # botocore: ContainerArgument max length (and a hyperparameter key's)


class SettingTooLong(ValueError):
    """One setting's JSON is longer than a container argument may be: no packing can pass it to the job."""

    def __init__(self, message: str, name: str) -> None:
        super().__init__(message)
        self.name = name


class NumbersAreNotBooleans(BaseModel):
    """pydantic's lax mode reads `true` as 1 for an int or float field: `batch_size: true` in the config would
    train with batch size 1. Strict mode would also refuse JSON lists for tuples and "5" from a flag, so only
    this. Every step model has it, and so does every section of configs/pipeline.yaml (pipelines/config.py)."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_boolean_for_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool) and info.field_name is not None \
                and _takes_a_number_not_a_boolean(cls.model_fields[info.field_name].annotation):
            raise ValueError("must be a number, not true/false")
        return value


class StepSettings(NumbersAreNotBooleans):
    """Base of every step's settings model: unknown names are errors (a typo must not train a default), values are
    frozen, no number is NaN or infinite (JSON and float() both accept them, and `inf` passes `>= 0`), and a field
    may also be given by its alias (the config's name for it, e.g. `bar_frequency`).

    Input from outside (flags, JSON, a manifest) goes through `parse`, which names the source in one line. No
    `__init__` override turns pydantic's error into ours: pydantic would then call it for every nested model,
    also inside pipelines/config.py, whose loader words the error for the YAML file itself."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)

    @classmethod
    def parse(cls, values: Mapping[str, Any], source: str) -> Self:
        """Validate `values` (from JSON or flags); a bad one is a StepInputError naming `source` and the setting."""
        try:
            return cls.model_validate(dict(values))
        except ValidationError as exc:
            raise settings_error(exc, source=source) from None

    def to_arguments_json(self) -> dict[str, Any]:
        """The values as JSON types, by field name (what `--settings` takes back)."""
        return self.model_dump(mode="json")


def _takes_a_number_not_a_boolean(annotation: Any) -> bool:
    options = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) \
        else (annotation,)
    return bool(set(options) & {int, float}) and bool not in options


@dataclass(frozen=True)
class ValidationProblem:
    """The first problem pydantic found, read in one place for its two wordings: a step's StepInputError
    (`settings_error`) and a line about configs/pipeline.yaml (pipelines/config.py), which embeds these models."""

    kind: str  # pydantic's error type: "extra_forbidden", "missing", "value_error", ...
    loc: tuple[int | str, ...]  # where, outermost first
    message: str  # pydantic's message, without the "Value error, " its validators' messages carry
    input: Any

    @property
    def key(self) -> str:
        """The dotted location (`rfe.step`); empty for the top level."""
        return ".".join(str(part) for part in self.loc)

    @property
    def detail(self) -> str:
        """What is wrong and the value refused: `Input should be less than 1 (got 1.5)`."""
        return f"{self.message} (got {self.input!r})"


def first_problem(exc: ValidationError) -> ValidationProblem:
    first = exc.errors()[0]
    return ValidationProblem(kind=first["type"], loc=tuple(first["loc"]),
                             message=first["msg"].removeprefix("Value error, "), input=first.get("input"))


def settings_error(exc: ValidationError, source: str) -> StepInputError:
    """The first problem pydantic found, as one StepInputError line: where, which setting, what is allowed."""
    problem = first_problem(exc)
    name = problem.key or "settings"
    if problem.kind == "extra_forbidden":
        return StepInputError("is not a setting of this step", file=source, column=name,
                              fix="check the spelling (the step's --help lists its settings)")
    flag = "--" + name.replace(".", "-").replace("_", "-")
    return StepInputError(problem.detail, file=source, column=name, fix=f"pass a valid {flag}")


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return members[0], True
    return annotation, False


def _list_parser(item: type) -> Any:
    def parse(text: str) -> list[Any]:
        parts = [part.strip() for part in text.strip().strip("[]").split(",") if part.strip()]
        try:
            return [item(part) for part in parts]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {item.__name__} values, got {text!r}") from None
    return parse


def _argument_options(annotation: Any) -> dict[str, Any]:
    """argparse `type` / `choices` for a field's annotation (the kinds step settings use)."""
    annotation, _ = _unwrap_optional(annotation)
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return {"choices": list(typing.get_args(annotation))}
    if origin in (list, tuple):
        item = typing.get_args(annotation)[0]
        item = typing.get_args(item)[0] if typing.get_origin(item) is typing.Annotated else item
        return {"type": _list_parser(item), "metavar": f"{item.__name__.upper()},..."}
    if annotation is bool:
        return {"type": parse_bool, "metavar": "true|false"}
    if annotation in (int, float, str):
        return {"type": annotation}
    raise TypeError(f"no command-line form for a setting of type {annotation!r}")


def _bounds(field: Any) -> str:
    words = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    found = []
    for item in field.metadata:
        for key, sign in words.items():
            value = getattr(item, key, None)
            if value is not None:
                found.append(f"{sign} {value}")
    return ", ".join(found)


def _default_text(value: Any) -> str:
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def _is_section(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, StepSettings)


def _add_fields(group: Any, model: type[StepSettings], prefix: str) -> None:
    for name, field in model.model_fields.items():
        if _is_section(field.annotation):  # a nested section (e.g. stability's rfe): --rfe-step, JSON {"rfe": {...}}
            _add_fields(group, field.annotation, f"{prefix}{name}.")
            continue
        bounds = _bounds(field)
        text = f"{field.description or name} (default {_default_text(field.default)}"
        text += f"; {bounds})" if bounds else ")"
        flag = "--" + f"{prefix}{name}".replace(".", "-").replace("_", "-")
        group.add_argument(flag, dest=f"{prefix}{name}", default=argparse.SUPPRESS,
                           help=text.replace("%", "%%"), **_argument_options(field.annotation))


def add_settings_arguments(parser: argparse.ArgumentParser, model: type[StepSettings]) -> None:
    """`--settings JSON` and one `--<name>` flag per field of `model`, documented from the model (a nested
    section's fields as `--<section>-<name>`).

    The flags default to *absent* (argparse.SUPPRESS), so `settings_from_args` can tell a flag that was given
    (it wins) from one that was not (the `--settings` value or the model's default applies)."""
    group = parser.add_argument_group(f"settings ({model.__name__}); a flag wins over {SETTINGS_FLAG}")
    group.add_argument(SETTINGS_FLAG, action="append", default=[], metavar="JSON",
                       help="the settings as a JSON object of the names below (with _); may be repeated")
    _add_fields(group, model, "")


def _json_settings(texts: Iterable[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for text in texts:
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StepInputError(f"is not JSON ({exc.msg} at character {exc.pos})", file=SETTINGS_FLAG,
                                 column="settings", fix='pass one JSON object, e.g. {"windows": [5, 10, 60]}') from None
        if not isinstance(payload, dict):
            raise StepInputError(f"holds a JSON {type(payload).__name__}, not an object", file=SETTINGS_FLAG,
                                 column="settings", fix='pass one JSON object, e.g. {"windows": [5, 10, 60]}')
        twice = sorted(set(payload) & set(values))
        if twice:
            raise StepInputError("is given in two --settings objects", file=SETTINGS_FLAG, column=twice[0],
                                 fix="give each setting once")
        values.update(payload)
    return values


def _given_flags(model: type[StepSettings], args: argparse.Namespace, prefix: str = "") -> dict[str, Any]:
    given: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if _is_section(field.annotation):
            inner = _given_flags(field.annotation, args, f"{prefix}{name}.")
            if inner:
                given[name] = inner
        elif hasattr(args, f"{prefix}{name}"):
            given[name] = getattr(args, f"{prefix}{name}")
    return given


def _overlay(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for name, value in top.items():
        inner = merged.get(name)
        merged[name] = _overlay(inner, value) if isinstance(value, Mapping) and isinstance(inner, dict) else value
    return merged


def settings_from_args(model: type[StepSettings], args: argparse.Namespace) -> StepSettings:
    """The model from `--settings` objects overlaid with the flags given; validated by the model, so a bad value
    is one line naming the setting and its bound."""
    values = _json_settings(getattr(args, "settings", None) or [])
    given = _given_flags(model, args)
    source = "command line" if given and not values else SETTINGS_FLAG if values and not given else \
        f"{SETTINGS_FLAG} and flags"
    return model.parse(_overlay(values, given), source=source)


def parse_step_arguments(parser: argparse.ArgumentParser, model: type[StepSettings],
                         argv: Sequence[str] | None) -> tuple[argparse.Namespace, Any]:
    """A step's command line in one call: `model`'s settings (and `--log-format` where the parser has the step
    helper for it) added to `parser`, `argv` parsed, the settings validated."""
    add_settings_arguments(parser, model)
    if hasattr(parser, "add_log_format"):
        parser.add_log_format()
    args = parser.parse_args(argv)
    return args, settings_from_args(model, args)


def settings_from_argv(model: type[StepSettings], argv: Iterable[str]) -> StepSettings:
    """The settings a step with `model` makes of a whole command line (its other arguments are ignored): how a
    test or a check reads a definition's arguments back as the step will."""
    parser = argparse.ArgumentParser(add_help=False)
    add_settings_arguments(parser, model)
    known, _ = parser.parse_known_args(list(argv))
    return settings_from_args(model, known)


def settings_arguments(values: Mapping[str, Any], limit: int = MAX_ARGUMENT_CHARS) -> list[str]:
    """`--settings` arguments holding `values` (sorted by name, compact JSON): as few objects as fit in `limit`
    characters each (a container argument's maximum), so the definition stays deterministic and valid."""
    arguments: list[str] = []
    chunk: dict[str, Any] = {}

    def text(part: Mapping[str, Any]) -> str:
        return json.dumps(part, sort_keys=True, separators=(",", ":"))

    for name in sorted(values):
        if len(text({name: values[name]})) > limit:
            raise SettingTooLong(f"setting {name!r} is {len(text({name: values[name]}))} characters as JSON, more "
                                 f"than a container argument may hold ({limit})", name)
        if chunk and len(text({**chunk, name: values[name]})) > limit:
            arguments += [SETTINGS_FLAG, text(chunk)]
            chunk = {}
        chunk[name] = values[name]
    if chunk:
        arguments += [SETTINGS_FLAG, text(chunk)]
    return arguments
