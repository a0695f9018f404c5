"""Every step that runs on a GPU instance type runs the GPU image (`images.gpu`), in the fullest definition:
all four algorithms with their re-tune rounds, FinGPT and FinBERT, feature stability."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from pipelines.config import load_config
from pipelines.definition import definition_json, get_pipeline
from pipelines.lint import iter_steps

GPU_FAMILY = re.compile(r"^ml\.(g|p)\d")  # ml.g4dn, ml.g5, ml.g6e, ml.p3, ml.p4d, ml.p5 …
FULLEST = {
    "algorithms": ["xgboost", "catboost", "lightgbm", "gru"],
    "sentiment": {"enabled": True, "fingpt": {"enabled": True}},
    "stability": {"enabled": True},
}


def _literal(value: Any, defaults: dict[str, Any]) -> Any:
    """A parameter reference becomes its default (what the step runs on unless a run overrides it)."""
    if isinstance(value, dict) and set(value) == {"Get"} and str(value["Get"]).startswith("Parameters."):
        return defaults.get(value["Get"].removeprefix("Parameters."))
    return value


def step_images(step: dict[str, Any], defaults: dict[str, Any]) -> tuple[list[Any], list[Any]] | None:
    """(instance types, images) a step runs on or registers; None for a step that runs no container."""
    args = step["Arguments"]
    if step["Type"] == "Processing":
        cluster = args["ProcessingResources"]["ClusterConfig"]
        return [cluster["InstanceType"]], [args["AppSpecification"]["ImageUri"]]
    if step["Type"] in ("Training", "Tuning"):
        if step["Type"] == "Training":
            jobs = [args]
        else:
            jobs = [args["TrainingJobDefinition"]] if "TrainingJobDefinition" in args else []
            jobs += args.get("TrainingJobDefinitions", [])
        types, images = [], []
        for job in jobs:
            resources = job.get("ResourceConfig") or job.get("HyperParameterTuningResourceConfig") or {}
            types.append(resources.get("InstanceType"))
            types += [c.get("InstanceType") for c in resources.get("InstanceConfigs", [])]
            images.append(job["AlgorithmSpecification"]["TrainingImage"])
        return [t for t in types if t is not None], images
    if step["Type"] == "RegisterModel":
        spec = args["InferenceSpecification"]
        types = [
            *spec.get("SupportedRealtimeInferenceInstanceTypes", []),
            *spec.get("SupportedTransformInstanceTypes", []),
        ]
        return types, [container["Image"] for container in spec["Containers"]]
    if step["Type"] == "Transform":
        return [args["TransformResources"]["InstanceType"]], []  # the model's image: its Model/Register step
    return None


def gpu_image_problems(definition: dict[str, Any], gpu_image: str) -> list[str]:
    defaults = {p["Name"]: p.get("DefaultValue") for p in definition.get("Parameters", [])}
    problems = []
    for step in iter_steps(definition["Steps"]):
        found = step_images(step, defaults)
        if found is None:
            continue
        types, images = found
        resolved = [_literal(t, defaults) for t in types]
        unknown = [t for t in resolved if not isinstance(t, str)]
        if unknown:
            problems.append(f"{step['Name']}: instance type is neither a literal nor a parameter: {unknown}")
        if any(isinstance(t, str) and GPU_FAMILY.match(t) for t in resolved):
            wrong = [image for image in images if image != gpu_image]
            if wrong or not images:
                problems.append(f"{step['Name']}: runs on {resolved} with {images or 'no image'}, not {gpu_image}")
    return problems


def gpu_steps(definition: dict[str, Any]) -> list[str]:
    defaults = {p["Name"]: p.get("DefaultValue") for p in definition.get("Parameters", [])}
    names = []
    for step in iter_steps(definition["Steps"]):
        found = step_images(step, defaults)
        if found and any(GPU_FAMILY.match(str(_literal(t, defaults))) for t in found[0]):
            names.append(step["Name"])
    return names


@pytest.fixture(scope="module")
def fullest():
    config = load_config(overrides=FULLEST)
    return config, json.loads(definition_json(get_pipeline(config)))


def test_the_gpu_image_is_its_own_image(fullest):
    config, _ = fullest
    images = config.images
    assert images.gpu not in {images.processing, images.training, images.serving}
    assert config.sentiment.fingpt.image is None, "FinGPT's image is images.gpu: one declaration of the GPU image"


def test_every_step_on_a_gpu_instance_type_runs_the_gpu_image(fullest):
    config, definition = fullest
    assert set(gpu_steps(definition)) == {"Tune-gru", "Tune-gru-2", "Tune-gru-3", "ScoreSentimentFinGPT"}
    assert gpu_image_problems(definition, config.images.gpu) == []


def test_a_gpu_step_with_the_cpu_image_is_named(fullest):
    config, definition = fullest
    mutated = json.loads(json.dumps(definition).replace(config.images.gpu, config.images.training))
    problems = gpu_image_problems(mutated, config.images.gpu)
    named = {p.partition(":")[0] for p in problems}
    assert named == {"Tune-gru", "Tune-gru-2", "Tune-gru-3", "ScoreSentimentFinGPT"}, problems


def test_a_gpu_literal_on_a_cpu_image_step_is_named(fullest):
    # BuildFeatures moved to a GPU type (as `instances.processing: ml.g5.xlarge` would) keeps the CPU image.
    config = load_config(overrides={**FULLEST, "instances": {"processing": "ml.g5.xlarge"}})
    definition = json.loads(definition_json(get_pipeline(config)))
    problems = gpu_image_problems(definition, config.images.gpu)
    assert any(p.startswith("BuildFeatures:") for p in problems), problems


def test_fingpt_image_override_still_wins():
    config = load_config(overrides={**FULLEST, "sentiment": {"enabled": True, "fingpt": {
        "enabled": True, "image": "111111111111.dkr.ecr.us-east-1.amazonaws.com/fingpt:1"}}})
    definition = json.loads(definition_json(get_pipeline(config)))
    (fingpt,) = [s for s in iter_steps(definition["Steps"]) if s["Name"] == "ScoreSentimentFinGPT"]
    assert fingpt["Arguments"]["AlgorithmSpecification"]["TrainingImage"].endswith("/fingpt:1")
