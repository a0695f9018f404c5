"""pipelines.definition.java_regex matches as Java's `String.matches` does, or refuses to translate.

Every pattern in botocore's SageMaker model must compile; the Java-only constructs the model uses mean what
they mean in Java; a construct without a faithful translation is an error, never a guess.
"""

from __future__ import annotations

import pytest

from pipelines.definition.java_regex import PatternTranslationError, compiled_pattern, java_to_python
from pipelines.definition.service_rules import service_model

SHAPES = service_model()["shapes"]


def test_every_pattern_in_the_sagemaker_model_compiles():
    patterns = sorted({shape["pattern"] for shape in SHAPES.values() if "pattern" in shape})
    failures = []
    for pattern in patterns:
        try:
            compiled_pattern(pattern)
        except Exception as exc:  # a translation error or a regex.error
            failures.append(f"{pattern!r}: {exc}")

    assert len(patterns) > 100
    assert failures == []


def test_java_shorthand_classes_are_ascii_and_unicode_properties_are_not():
    assert compiled_pattern(r"\d+").fullmatch("2024")
    assert not compiled_pattern(r"\d+").fullmatch("٢٠٢٤")  # Arabic-Indic digits: Java's \d is [0-9]
    assert not compiled_pattern(r"[\w-]+").fullmatch("café")
    assert compiled_pattern(r"https://\S+").fullmatch("https://x\u00a0y")  # Java's \s is ASCII whitespace
    assert compiled_pattern(r"[\p{L}\p{Z}\p{N}_.:\/=+\-@]*").fullmatch("Zürich 2024")
    alnum = next(p for p in {s.get("pattern", "") for s in SHAPES.values()} if r"\p{Alnum}" in p)
    assert compiled_pattern(alnum).fullmatch("arn:aws:lambda:us-east-1:000000000000:function:f")
    assert not compiled_pattern(alnum).fullmatch("arn:aws:lambda:us-éast-1:000000000000:function:f")


def test_java_surrogate_pairs_and_hex_escapes_are_code_points():
    pattern = r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*"
    assert pattern in {shape.get("pattern") for shape in SHAPES.values()}
    assert compiled_pattern(pattern).fullmatch("table\t😀")
    assert not compiled_pattern(pattern).fullmatch("table\x07")
    assert compiled_pattern(r"a\x{1F600}\Qa.b\E").fullmatch("a😀a.b")
    assert not compiled_pattern(r"a\x{1F600}\Qa.b\E").fullmatch("a😀axb")


def test_a_quantified_anchor_is_the_anchor():
    assert java_to_python(r"(a*)${1,256}") == "(a*)$"
    assert java_to_python(r"a$?b") == "ab"


@pytest.mark.parametrize("pattern", [r"[a-z[0-9]]", r"[a-z&&[^b]]", r"(?s).*", r"\X"])
def test_java_constructs_without_a_faithful_translation_are_refused_not_guessed(pattern):
    with pytest.raises(PatternTranslationError):
        compiled_pattern(pattern)
