"""One rule a definition breaks: the type every rule module of the definition layer returns and lint prints."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Violation:
    step: str  # the step's Name, or "(definition)", "(parameters)", "(pipeline)" for what is not one step's
    rule: str  # the rule's short name, as lint's docstring and the README list them ("retry", "tuning", ...)
    message: str  # what is wrong, naming the field: one line a user can act on

    def __str__(self) -> str:
        return f"{self.step}: {self.rule}: {self.message}"
