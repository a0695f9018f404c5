"""Java regular expressions, as botocore's SageMaker model writes its `pattern`s, translated for `regex`.

The service matches a pattern the way Java's `String.matches` does: the whole string must match.
`java_to_python` translates the Java-only syntax (surrogate pairs, `\\x{...}`, POSIX classes, Java's ASCII
`\\d \\s \\w`, Java's `.` that stops at every line terminator, quantified anchors) and the `regex` package
compiles the result (it understands `\\p{L}`, `\\p{Z}`, ...). A construct it cannot translate faithfully is a
`PatternTranslationError`, never a silently different pattern.
"""

from __future__ import annotations

import functools

import regex

__all__ = ["PatternTranslationError", "compiled_pattern", "java_to_python"]


class PatternTranslationError(ValueError):
    """A Java regular-expression construct this module cannot translate faithfully."""


_MAX_CP = 0x10FFFF
# Java's line terminators: what `.` does not match (without DOTALL / UNIX_LINES).
_JAVA_DOT = "[^\\n\\r\\x85\\u2028\\u2029]"

# Java's predefined classes are ASCII (without UNICODE_CHARACTER_CLASS); Python's are Unicode. As ranges.
_DIGIT = [(0x30, 0x39)]
_SPACE = [(0x09, 0x0D), (0x20, 0x20)]  # [ \t\n\x0B\f\r]
_WORD = [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)]
_HSPACE = [
    (0x09, 0x09),
    (0x20, 0x20),
    (0xA0, 0xA0),
    (0x1680, 0x1680),
    (0x180E, 0x180E),
    (0x2000, 0x200A),
    (0x202F, 0x202F),
    (0x205F, 0x205F),
    (0x3000, 0x3000),
]
_VSPACE = [(0x0A, 0x0D), (0x85, 0x85), (0x2028, 0x2029)]
_SHORTHAND = {"d": _DIGIT, "s": _SPACE, "w": _WORD, "h": _HSPACE, "v": _VSPACE}
# Java's POSIX classes (\p{Alnum} ...), US-ASCII only.
_POSIX = {
    "Lower": [(0x61, 0x7A)],
    "Upper": [(0x41, 0x5A)],
    "ASCII": [(0x00, 0x7F)],
    "Alpha": [(0x41, 0x5A), (0x61, 0x7A)],
    "Digit": _DIGIT,
    "Alnum": [(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)],
    "Punct": [(0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)],
    "Graph": [(0x21, 0x7E)],
    "Print": [(0x20, 0x7E)],
    "Blank": [(0x09, 0x09), (0x20, 0x20)],
    "Cntrl": [(0x00, 0x1F), (0x7F, 0x7F)],
    "XDigit": [(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)],
    "Space": _SPACE,
}
_ANCHOR_ESCAPES = {
    "b": "\\b",
    "B": "\\B",
    "A": "\\A",
    "G": "\\G",
    "z": "\\Z",
    "Z": "(?=(?:\\r\\n|[\\n\\r\\x85\\u2028\\u2029])?\\Z)",
}
_UNSUPPORTED_FLAGS = set("smdxuUc")  # DOTALL, MULTILINE, UNIX_LINES, COMMENTS, UNICODE_*, CANON_EQ
_HEX = set("0123456789abcdefABCDEF")


def _complement(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out, start = [], 0
    for lo, hi in sorted(ranges):
        if lo > start:
            out.append((start, lo - 1))
        start = max(start, hi + 1)
    if start <= _MAX_CP:
        out.append((start, _MAX_CP))
    return out


def _codepoint(cp: int) -> str:
    return f"\\U{cp:08X}"


def _class_body(ranges: list[tuple[int, int]]) -> str:
    """The inside of a character class: the ranges as escapes."""
    return "".join(_codepoint(lo) if lo == hi else f"{_codepoint(lo)}-{_codepoint(hi)}" for lo, hi in ranges)


def _read_hex(pattern: str, start: int, count: int) -> int:
    digits = pattern[start : start + count]
    if len(digits) != count or not set(digits) <= _HEX:
        raise PatternTranslationError(f"bad hex escape at {start} in {pattern!r}")
    return int(digits, 16)


def _escape(pattern: str, i: int, in_class: bool) -> tuple[str, int, str]:
    """Translate the escape at pattern[i] == '\\'. Returns (text, next index, kind): kind is 'anchor',
    'set' (a character set, expanded to ranges) or 'atom'."""
    if i + 1 >= len(pattern):
        raise PatternTranslationError(f"trailing backslash in {pattern!r}")
    e = pattern[i + 1]
    if e == "Q":  # \Q...\E: a literal
        end = pattern.find("\\E", i + 2)
        literal = pattern[i + 2 :] if end < 0 else pattern[i + 2 : end]
        text = "".join(_codepoint(ord(ch)) for ch in literal) if in_class else regex.escape(literal)
        return text, len(pattern) if end < 0 else end + 2, "atom"
    if e == "u":  # \uXXXX, a surrogate pair \uD8xx\uDCxx is one code point in Java
        cp = _read_hex(pattern, i + 2, 4)
        j = i + 6
        if 0xD800 <= cp <= 0xDBFF and pattern[j : j + 2] == "\\u":
            low = _read_hex(pattern, j + 2, 4)
            if 0xDC00 <= low <= 0xDFFF:
                return _codepoint(0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00)), j + 6, "atom"
        return _codepoint(cp), j, "atom"
    if e == "x":  # \xhh or \x{h...h}
        if pattern[i + 2 : i + 3] == "{":
            end = pattern.find("}", i + 3)
            digits = pattern[i + 3 : end] if end > 0 else ""
            if not digits or not set(digits) <= _HEX or int(digits, 16) > _MAX_CP:
                raise PatternTranslationError(f"bad \\x{{...}} escape at {i} in {pattern!r}")
            return _codepoint(int(digits, 16)), end + 1, "atom"
        return _codepoint(_read_hex(pattern, i + 2, 2)), i + 4, "atom"
    if e == "0":  # Java octal: \0n, \0nn, \0mnn (m <= 3)
        j = i + 2
        while j < len(pattern) and j < i + 5 and pattern[j] in "01234567":
            if j == i + 4 and pattern[i + 2] > "3":
                break
            j += 1
        if j == i + 2:
            raise PatternTranslationError(f"bad octal escape at {i} in {pattern!r}")
        return _codepoint(int(pattern[i + 2 : j], 8)), j, "atom"
    if e == "e":
        return _codepoint(0x1B), i + 2, "atom"
    if e == "c":
        if i + 2 >= len(pattern):
            raise PatternTranslationError(f"bad \\c escape in {pattern!r}")
        return _codepoint(ord(pattern[i + 2]) ^ 64), i + 3, "atom"
    if e.lower() in _SHORTHAND:
        ranges = _SHORTHAND[e.lower()]
        ranges = _complement(ranges) if e.isupper() else ranges
        return _class_body(ranges) if in_class else f"[{_class_body(ranges)}]", i + 2, "set"
    if e in "pP":
        if pattern[i + 2 : i + 3] == "{":
            end = pattern.find("}", i + 3)
            if end < 0:
                raise PatternTranslationError(f"unclosed \\{e}{{ in {pattern!r}")
            name, j = pattern[i + 3 : end], end + 1
        else:
            name, j = pattern[i + 2 : i + 3], i + 3
        posix = _POSIX.get(name)
        if posix is None:
            return pattern[i:j], j, "set"  # a Unicode property (\p{L}, \pN ...): the same in `regex`
        ranges = _complement(posix) if e == "P" else posix
        return _class_body(ranges) if in_class else f"[{_class_body(ranges)}]", j, "set"
    if e == "R":
        if in_class:
            raise PatternTranslationError(f"\\R inside a character class in {pattern!r}")
        return "(?:\\r\\n|[\\n\\x0B\\f\\r\\x85\\u2028\\u2029])", i + 2, "atom"
    if e in _ANCHOR_ESCAPES:
        if in_class:
            if e == "b":
                raise PatternTranslationError(f"\\b inside a character class in {pattern!r}")
            return pattern[i : i + 2], i + 2, "atom"
        return _ANCHOR_ESCAPES[e], i + 2, "anchor"
    if e == "k":  # \k<name>
        end = pattern.find(">", i)
        if pattern[i + 2 : i + 3] != "<" or end < 0:
            raise PatternTranslationError(f"bad \\k<name> back reference in {pattern!r}")
        return pattern[i : end + 1], end + 1, "atom"
    if e.isalpha() and e not in "tnrfa":
        raise PatternTranslationError(f"unknown escape \\{e} in {pattern!r}")
    return pattern[i : i + 2], i + 2, "atom"


def _quantifier(pattern: str, i: int) -> tuple[int, int] | None:
    """The quantifier at pattern[i] as (its minimum, the index after it), or None."""
    if i >= len(pattern):
        return None
    c = pattern[i]
    if c in "?*+":
        minimum, j = (1 if c == "+" else 0), i + 1
    elif c == "{":
        match = regex.match(r"\{(\d+)(,\d*)?\}", pattern[i:])
        if not match:
            return None
        minimum, j = int(match.group(1)), i + match.end()
    else:
        return None
    if j < len(pattern) and pattern[j] in "?+":  # lazy or possessive
        j += 1
    return minimum, j


def java_to_python(pattern: str) -> str:
    """A `regex` pattern that matches what the Java pattern matches (with `String.matches`, i.e. fullmatch)."""
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        c = pattern[i]
        if in_class:
            if c == "\\":
                text, i, kind = _escape(pattern, i, in_class=True)
                out.append(text)
                if kind == "set" and pattern[i : i + 1] == "-":  # [\w-x]: Java reads '-' literally
                    out.append("\\-")
                    i += 1
            elif c == "[":
                raise PatternTranslationError(f"nested character class (a Java union) in {pattern!r}")
            elif c == "&" and pattern[i : i + 2] == "&&":
                raise PatternTranslationError(f"character class intersection (&&) in {pattern!r}")
            elif c == "]":
                out.append(c)
                in_class = False
                i += 1
            else:
                out.append(c)
                i += 1
            continue
        if c == "\\":
            text, i, kind = _escape(pattern, i, in_class=False)
        elif c == "[":
            j = i + 1 + (pattern[i + 1 : i + 2] == "^")
            if pattern[j : j + 1] == "]":
                raise PatternTranslationError(f"']' first in a character class in {pattern!r}")
            text, i, kind, in_class = pattern[i:j], j, "atom", True
        elif c == ".":
            text, i, kind = _JAVA_DOT, i + 1, "atom"
        elif c in "^$":
            text, i, kind = c, i + 1, "anchor"
        elif c == "(" and pattern[i + 1 : i + 2] == "?":
            flags = regex.match(r"\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?[:)]", pattern[i:])
            if flags and set((flags.group(1) or "") + (flags.group(2) or "")) & _UNSUPPORTED_FLAGS:
                raise PatternTranslationError(f"inline flags {flags.group(0)!r} in {pattern!r}")
            text, i, kind = c, i + 1, "atom"
        else:
            text, i, kind = c, i + 1, "atom"
        if kind == "anchor":
            # Java quantifies anything, anchors too ("(...)${1,128}" is in the model): a zero-width assertion
            # repeated at least once is the assertion; one that may repeat zero times asserts nothing.
            quantified = _quantifier(pattern, i)
            if quantified:
                minimum, i = quantified
                if minimum == 0:
                    continue
        out.append(text)
    if in_class:
        raise PatternTranslationError(f"unclosed character class in {pattern!r}")
    return "".join(out)


@functools.cache
def compiled_pattern(java_pattern: str) -> regex.Pattern:
    """The compiled translation of a Java pattern from the service model (cached); use `.fullmatch`."""
    return regex.compile(java_to_python(java_pattern))
