"""The pipeline definition: how it is built, and its own language and rules, apart from any run of it.

- `build`:         the pipeline composed from one builder per stage (`get_pipeline`, `definition_json`)
- `expressions`, `conditions`: the definition's functions (Get, Std:Join, Std:JsonGet) and its conditions
- `graph`:         the step graph: every step, its branch, what it waits for
- `rules`:         SageMaker's rules for a definition as a whole (names, graph, property, branch, race)
- `service_rules`: SageMaker's rules for one request, from botocore's model (`java_regex`: its patterns)
- `step_types`:    each step type's request, job, name limit and properties; `requests`: job names, lint's view
- `errors`:        `DefinitionError`, `UnsupportedConstruct`; `violation`: one broken rule, as lint lists it
- the service's rules that are not request shapes, each with its source: `retry_rules` (RetryPolicies),
  `parameter_rules` (EnumValues), `tuning_rules` (ranges, scaling, hyperparameter and job budgets, the
  objective metric), `spot_rules` (MaxWaitTimeInSeconds), `processing_rules` (LocalPath)

Nothing here imports the local runner (`pipelines.local`, which runs a definition and imports this), so
lint and the report read a definition without it. `get_pipeline` and `definition_json` are loaded on first
use: building loads the SageMaker SDK, which reading a definition's language does not need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipelines.definition.build import definition_json, get_pipeline

__all__ = ["definition_json", "get_pipeline"]


def __getattr__(name: str) -> Any:  # PEP 562: `from pipelines.definition import get_pipeline` builds on demand
    if name in __all__:
        from pipelines.definition import build

        return getattr(build, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
