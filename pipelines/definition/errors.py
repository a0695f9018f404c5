"""The definition layer's errors: a definition that cannot be read, or an expression that cannot be evaluated.

They are the definition's, not a run's: lint reports them as violations before anything is published, and the
local runner (`pipelines.local.errors`) turns the ones it meets into its own failures, with the same message.
"""

from __future__ import annotations


class DefinitionError(Exception):
    """The definition is malformed, or one of its expressions cannot be evaluated; one line a user can act on."""


class UnsupportedConstruct(DefinitionError):
    """The definition uses something this library does not interpret (a function, a step type); the message names it."""
