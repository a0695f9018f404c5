"""Issue 17: every step setting is declared once, in its step's model, with a default, a bound and a description;
the pipeline's config embeds those models, so a bad value is refused when the config loads, with the step's
own message, and the step's command line refuses the same value the same way.

The bad values are generated from each field's declared bound, so a setting added without one fails here.
"""

from __future__ import annotations

import importlib
import inspect
import math
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from pipelines.config import ConfigError, PipelineConfig, load_config
from steps.common.backtest_plausibility import BacktestPlausibility
from steps.common.errors import StepInputError
from steps.common.settings import StepSettings, settings_from_argv
from steps.ensemble.settings import EnsembleSettings
from steps.evaluate.settings import BacktestOptions, EvaluateSettings, SignalSettings
from steps.features.settings import FeatureCommand, FeatureConfiguration, FeatureOptions, FeatureSettings, FoldSettings
from steps.final_holdout.settings import FinalHoldoutSettings
from steps.leaks.settings import LeakRun, LeakScreens, LeakSettings
from steps.sentiment.settings import FinBertScoring, FinBertSettings, FinGptSettings
from steps.stability.settings import StabilitySettings
from steps.train.settings import TrainingSettings

STEP_MODELS = [FeatureCommand, LeakSettings, StabilitySettings, EvaluateSettings, EnsembleSettings,
               TrainingSettings, FinBertSettings, FinGptSettings, FinalHoldoutSettings]
# Models in steps/*/settings.py that are no command line and no config section, and why (the rest must be walked)
NOT_WALKED = {FeatureSettings: "FeatureConfiguration plus what steps.features finds in the bars (absent_inputs)"}
# config section (dotted path in pipeline.yaml) -> the step model it embeds
EMBEDDED = {"features": FeatureOptions, "folds": FoldSettings, "leaks": LeakRun,
            "leaks.plausibility.1min/30": LeakScreens, "stability": StabilitySettings, "training": TrainingSettings,
            "backtest": BacktestOptions, "sentiment.finbert": FinBertScoring, "sentiment.fingpt": FinGptSettings}


def declared_models() -> set[type[StepSettings]]:
    """Every StepSettings model declared in a step's settings.py."""
    found = set()
    for path in sorted((Path(__file__).resolve().parents[2] / "steps").glob("*/settings.py")):
        module = importlib.import_module(f"steps.{path.parent.name}.settings")
        found |= {c for c in vars(module).values() if inspect.isclass(c) and issubclass(c, StepSettings)
                  and c is not StepSettings and c.__module__ == module.__name__}
    return found


def walked(model: type[StepSettings]) -> set[type[StepSettings]]:
    """`model`, the StepSettings it inherits from and the sections nested in it (what `leaves` reaches)."""
    found = {base for base in model.__mro__ if isinstance(base, type) and issubclass(base, StepSettings)}
    for field in model.model_fields.values():
        if isinstance(field.annotation, type) and issubclass(field.annotation, StepSettings):
            found |= walked(field.annotation)
    return found - {StepSettings}


def embedded_sections(model: type, prefix: str = "") -> dict[str, type[StepSettings]]:
    """Config path -> StepSettings model of every step section in the config (a dict's entries as `*`); the
    config's own fields beside a step model (leaks.plausibility) are searched too, the step model's are not."""
    step_fields = {name for base in model.__mro__ if base.__module__.startswith("steps.")
                   for name in getattr(base, "model_fields", {})}
    found: dict[str, type[StepSettings]] = {}
    for name, field in model.model_fields.items():
        annotation, path = field.annotation, f"{prefix}{name}"
        if name in step_fields:
            continue
        if typing.get_origin(annotation) is dict:
            annotation, path = typing.get_args(annotation)[1], f"{path}.*"
        if isinstance(annotation, type) and issubclass(annotation, StepSettings):
            found[path] = annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found |= embedded_sections(annotation, f"{path}.")
    return found


def test_every_declared_step_model_is_walked_here() -> None:
    """A new step model (say steps/<name>/settings.py) must join STEP_MODELS, or the checks below skip it."""
    reached = set().union(*(walked(model) for model in STEP_MODELS))
    missing = declared_models() - reached - set(NOT_WALKED)
    assert not missing, f"not in STEP_MODELS: {sorted(m.__name__ for m in missing)}"
    assert {FinBertScoring, FinBertSettings, FinGptSettings, FeatureSettings} <= declared_models()


def test_every_step_section_of_the_config_is_checked_against_its_step_model() -> None:
    """Each config section that embeds a step model is in EMBEDDED, with the model it subclasses."""
    sections = embedded_sections(PipelineConfig)
    assert sorted(sections) == sorted(key.replace("1min/30", "*") for key in EMBEDDED)
    for key, model in EMBEDDED.items():
        assert issubclass(sections[key.replace("1min/30", "*")], model), key


def leaves(model: type[StepSettings], prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted name, FieldInfo) of every setting, nested sections walked."""
    found = []
    for name, field in model.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, StepSettings):
            found += leaves(field.annotation, f"{prefix}{name}.")
        else:
            found.append((f"{prefix}{name}", field))
    return found


def bad_values(model: type[StepSettings], name: str, field: Any) -> list[Any]:
    """Values the declared bound refuses: one past each numeric bound, an unknown choice, no list, NaN, and a
    boolean for a number (pydantic's lax mode would read `batch_size: true` as 1)."""
    values: list[Any] = []
    annotation = field.annotation
    integer = annotation is int or int in typing.get_args(annotation)
    for item in field.metadata:
        step = 1 if integer else 1e-9
        if getattr(item, "ge", None) is not None:
            values.append(item.ge - step)
        if getattr(item, "gt", None) is not None:
            values.append(item.gt)
        if getattr(item, "le", None) is not None:
            values.append(item.le + step)
        if getattr(item, "lt", None) is not None:
            values.append(item.lt)
        if getattr(item, "min_length", None):
            values.append([])
        if getattr(item, "allow_inf_nan", None) is False:
            values.append(math.nan)
    finite = model.model_config.get("allow_inf_nan") is False  # StepSettings' config: every float is finite
    if finite and (annotation is float or float in typing.get_args(annotation)):
        values.append(math.inf)
    if integer or annotation is float or float in typing.get_args(annotation):
        values.append(True)
    if typing.get_origin(annotation) is typing.Literal:
        values.append("not-a-choice")
    if annotation is bool:
        values.append("maybe")
    validated = {f for d in model.__pydantic_decorators__.field_validators.values() for f in d.info.fields}
    if name in validated:  # a hand check beside the bounds: windows (each >= 2)
        values.append([1, 5])
    return values


def nest(name: str, value: Any) -> dict[str, Any]:
    head, _, rest = name.partition(".")
    return {head: nest(rest, value) if rest else value}


@pytest.mark.parametrize("model", STEP_MODELS, ids=lambda m: m.__name__)
def test_every_setting_has_a_default_a_description_and_a_bound_that_refuses(model) -> None:
    model()  # the defaults are valid together
    for name, field in leaves(model):
        assert field.default is not PydanticUndefined or field.default_factory is not None, name
        assert field.description and "\n" not in field.description, name
        bad = bad_values(model, name, field)
        assert bad, f"{model.__name__}.{name} declares no bound"
        for value in bad:
            with pytest.raises(StepInputError) as refused:
                model.parse(nest(name, value), source="test")
            assert f"column '{name}'" in str(refused.value) and "fix: pass a valid --" in str(refused.value)


def test_the_windows_validator_is_found_and_refuses_a_one_bar_window() -> None:
    """bad_values reaches field validators too: windows' own check (each >= 2) is one of FeatureConfiguration's."""
    field = FeatureConfiguration.model_fields["windows"]
    assert [1, 5] in bad_values(FeatureConfiguration, "windows", field)


@pytest.mark.parametrize("section", sorted(EMBEDDED))
def test_the_config_embeds_the_steps_models_and_refuses_with_their_bounds(section) -> None:
    """Each config section is the step's model (subclass), field for field, and a value the step refuses is
    refused when the config loads, naming the key."""
    model = EMBEDDED[section]
    config_model: Any = PipelineConfig
    for part in section.split("."):
        if part == "1min/30":
            continue
        annotation = config_model.model_fields[part].annotation
        config_model = typing.get_args(annotation)[1] if typing.get_origin(annotation) is dict else annotation
    assert issubclass(config_model, model)
    for name, field in leaves(model):
        key = f"{section}.{name}"
        for value in bad_values(model, name, field):
            with pytest.raises(ConfigError) as refused:
                load_config(overrides=nest_path(key_in_yaml(key, field), value))
            assert f"key '{key_in_yaml(key, field)}'" in str(refused.value)


def nest_path(key: str, value: Any) -> dict[str, Any]:
    if ".1min/30." in key:  # the plausibility entry's key holds a slash, not a dot
        section, name = key.split(".1min/30.")
        return nest(section, {"1min/30": nest(name, value)})
    return nest(key, value)


def key_in_yaml(key: str, field: Any) -> str:
    """The YAML name: a field's alias (features.bar_frequency) where it has one."""
    head = key.rpartition(".")[0]
    return f"{head}.{field.alias}" if field.alias else key


def test_windows_1_5_is_refused_at_config_load_with_the_steps_message() -> None:
    """The issue's case: [1, 5] used to pass config.py (>= 1) and fail only inside the job (>= 2)."""
    with pytest.raises(ConfigError) as refused:
        load_config(overrides={"features": {"windows": [1, 5]}})
    message = str(refused.value)
    assert message.endswith("key 'features.windows': windows must be bar counts >= 2, e.g. 5,10,60 (got [1, 5])")
    with pytest.raises(StepInputError) as in_the_step:
        settings_from_argv(FeatureConfiguration, ["--windows", "1,5"])
    assert "windows must be bar counts >= 2, e.g. 5,10,60 (got [1, 5])" in str(in_the_step.value)


def test_the_gate_margin_and_the_plausible_ceiling_are_the_steps_fields() -> None:
    """Two config keys outside a step's section take the step's own field: gates.ensemble_margin is steps.ensemble's
    margin, a plausibility entry's max_holdout_auc steps.evaluate's suspicious_auc (same default and bounds)."""
    from pipelines.config import Gates, Plausibility

    for config_field, step_field in ((Gates.model_fields["ensemble_margin"], EnsembleSettings.model_fields["margin"]),
                                     (Plausibility.model_fields["max_holdout_auc"],
                                      EvaluateSettings.model_fields["suspicious_auc"])):
        assert config_field.metadata == step_field.metadata and config_field.default == step_field.default
    with pytest.raises(ConfigError, match=r"key 'gates.ensemble_margin': Input should be less than or equal to 0.1"):
        load_config(overrides={"gates": {"ensemble_margin": 0.2}})


def test_a_setting_too_long_for_a_container_argument_is_refused_at_config_load() -> None:
    with pytest.raises(ConfigError, match=r"key 'features.windows': setting 'windows' is 299 characters as "
                                          r"JSON, more than a container argument may hold \(256\); shorten it$"):
        load_config(overrides={"features": {"windows": list(range(2, 100))}})


def test_sentiment_combine_is_the_finbert_steps_field_and_refused_at_config_load() -> None:
    """`sentiment.combine` sits beside the two models' sections but is steps.sentiment.finbert's `combine`."""
    from pipelines.config import Sentiment

    config_field, step_field = Sentiment.model_fields["combine"], FinBertSettings.model_fields["combine"]
    assert (config_field.annotation, config_field.default) == (step_field.annotation, step_field.default)
    with pytest.raises(ConfigError, match=r"key 'sentiment.combine': Input should be 'finbert', 'fingpt' or 'mean'"):
        load_config(overrides={"sentiment": {"combine": "both"}})


def test_a_plausibility_entry_embeds_the_backtest_screen_and_refuses_with_its_bounds() -> None:
    """The backtest's plausibility ceilings sit in each leaks.plausibility entry (per horizon, beside the AUC
    ceiling): steps.evaluate's BacktestPlausibility field for field, refused at load with the entry's key."""
    from pipelines.config import Plausibility

    assert issubclass(Plausibility, BacktestPlausibility)
    assert SignalSettings.model_fields["plausibility"].annotation is BacktestPlausibility
    for name, field in leaves(BacktestPlausibility):
        for value in bad_values(BacktestPlausibility, name, field):
            with pytest.raises(ConfigError) as refused:
                load_config(overrides=nest_path(f"leaks.plausibility.1min/30.{name}", value))
            assert f"key 'leaks.plausibility.1min/30.{name}'" in str(refused.value)
