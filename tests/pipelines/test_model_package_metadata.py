"""Model-package metadata and description within SageMaker's own patterns, read from botocore's model.

CreateModelPackage refuses a CustomerMetadataProperties value outside `^([\\p{L}\\p{Z}\\p{N}_.:\\/=+\\-@]*)$`
(a comma, for one) with a ValidationException, at the end of hours of tuning; moto accepts anything.
"""

from __future__ import annotations

import json
import re

import botocore.session
import pytest

from pipelines.config import load_config
from pipelines.definition import definition_json, get_pipeline
from pipelines.model_metadata import decode_list, encode_list

ALGORITHMS = ["xgboost", "catboost", "lightgbm", "gru"]

try:
    import regex as _regex  # understands \p{L}; a transitive dependency, not a declared one
except ImportError:  # pragma: no cover - depends on the environment
    _regex = None

# Without the `regex` package, Unicode classes are expanded for ASCII only: letters, the space, digits,
# and ASCII marks (none), symbols and punctuation. Enough for the ASCII strings this definition writes.
_ASCII_CLASSES = {
    r"\p{L}": "A-Za-z",
    r"\p{Z}": " ",
    r"\p{N}": "0-9",
    r"\p{M}": "",
    r"\p{S}": re.escape("$+<=>^`|~"),
    r"\p{P}": re.escape("!\"#%&'()*,-./:;?@[\\]_{}"),
}


def _shape(name: str) -> dict:
    return botocore.session.get_session().get_service_model("sagemaker").shape_for(name).metadata


def _compile(pattern: str):
    """botocore's pattern as a full-match regex (its models write `...${1,256}`: a length, checked apart)."""
    if _regex is not None:
        return _regex.compile(pattern)
    pattern = re.sub(r"\$\{\d+,\d+\}$", "$", pattern)
    for unicode_class, ascii_set in _ASCII_CLASSES.items():
        pattern = pattern.replace(unicode_class, ascii_set)
    return re.compile(pattern)


def _check(value: str, shape_name: str) -> None:
    shape = _shape(shape_name)
    assert shape.get("min", 0) <= len(value) <= shape["max"], f"{shape_name} length {len(value)}: {value!r}"
    assert _compile(shape["pattern"]).fullmatch(value), f"{shape_name} pattern {shape['pattern']!r}: {value!r}"


def _literal_strings(value) -> list[str]:
    """The literal strings inside a value that is resolved at run time (Std:Join parts, for one)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for key, item in value.items() if key not in {"Get", "Path"} for s in _literal_strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _literal_strings(item)]
    return []


@pytest.fixture(scope="module")
def fullest_definition() -> dict:
    """Every algorithm, twitter sentiment with FinGPT, feature analysis, per-stock grouping, 3 rounds."""
    config = load_config(
        overrides={
            "algorithms": ALGORITHMS,
            "sentiment": {"enabled": True, "fingpt": {"enabled": True}},
            "stability": {"enabled": True},
            "training": {"grouping": "stock"},
        }
    )
    return json.loads(definition_json(get_pipeline(config)))


def _iter_steps(steps: list[dict]):
    for step in steps:
        yield step
        if step["Type"] == "Condition":
            yield from _iter_steps(step["Arguments"].get("IfSteps", []))
            yield from _iter_steps(step["Arguments"].get("ElseSteps", []))


def _register_steps(definition: dict) -> list[dict]:
    steps = [step for step in _iter_steps(definition["Steps"]) if step["Type"] == "RegisterModel"]
    assert len(steps) == 3  # one per tuning round
    return steps


def test_every_literal_metadata_key_and_value_matches_the_service_patterns(fullest_definition):
    for step in _register_steps(fullest_definition):
        metadata = step["Arguments"]["CustomerMetadataProperties"]
        assert 1 <= len(metadata) <= _shape("CustomerMetadataMap")["max"]
        for key, value in metadata.items():
            _check(key, "CustomerMetadataKey")
            if isinstance(value, str):
                _check(value, "CustomerMetadataValue")
            else:  # resolved at run time: its literal parts must hold allowed characters all the same
                for part in _literal_strings(value):
                    assert _compile(_shape("CustomerMetadataValue")["pattern"]).fullmatch(part), (key, part)


def test_the_algorithms_are_plus_joined_and_read_back_with_the_inverse(fullest_definition):
    for step in _register_steps(fullest_definition):
        value = step["Arguments"]["CustomerMetadataProperties"]["algorithms"]
        assert value == "xgboost+catboost+lightgbm+gru"
        assert decode_list(value) == ALGORITHMS


def test_the_model_package_description_matches_its_service_pattern(fullest_definition):
    for step in _register_steps(fullest_definition):
        description = step["Arguments"]["ModelPackageDescription"]
        assert "xgboost, catboost, lightgbm, gru" in description
        _check(description, "EntityDescription")


def test_a_comma_joined_list_is_what_the_service_pattern_refuses():
    """The check above can fail: the old encoding does not match the value pattern."""
    pattern = _compile(_shape("CustomerMetadataValue")["pattern"])
    assert not pattern.fullmatch(",".join(ALGORITHMS))
    assert pattern.fullmatch(encode_list(ALGORITHMS))


def test_encode_list_round_trips_and_refuses_what_it_could_not_read_back():
    assert decode_list(encode_list(["xgboost"])) == ["xgboost"]
    assert decode_list(encode_list(ALGORITHMS)) == ALGORITHMS
    for bad in ([], [""], ["a+b"]):
        with pytest.raises(ValueError):
            encode_list(bad)
