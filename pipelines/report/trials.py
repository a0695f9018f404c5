"""A tuning step's trials as a chart: the objective of each trial in launch order, the best one marked.

Why: the table sorted by objective hides whether the search was still improving, flat, or lucky once (one trial
far above the rest is a selection effect, docs/training.md "Two holdouts"). Trials come from the tuning step's
TrainingJobSummaries (collect.py `TuningResult.trials`); their order is the jobs' names (SageMaker numbers
them -001, -002, ...), the order they were launched.
"""

from __future__ import annotations

from html import escape

from pipelines.report.axes import Axes, padded
from pipelines.report.collect import TuningResult

BEST, OTHER, FAILED = "#c62828", "#1565c0", "#9e9e9e"


def trials_chart(tuning: TuningResult) -> str:
    trials = sorted(tuning.trials, key=lambda t: str(t.get("job")))
    scored = [(i + 1, t) for i, t in enumerate(trials) if isinstance(t.get("objective"), int | float)]
    if not scored:
        return '<p class="muted">No trial reported an objective value.</p>'
    values = [t["objective"] for _, t in scored]
    n = len(trials)
    ticks = [(float(i), str(i)) for i in range(1, n + 1)] if n <= 20 else None
    axes = Axes((0.5, n + 0.5), padded(values, include_zero=False, margin=0.15), "trial (launch order)",
                f"{tuning.objective} (objective)", f"{tuning.step} trials", "trials-chart", height=260,
                x_ticks=ticks)
    best = max(values)
    for number, trial in scored:
        value = trial["objective"]
        is_best = trial["job"] == tuning.own_best_job or (tuning.own_best_job is None and value == best)
        colour = BEST if is_best else OTHER
        radius = 7 if is_best else 5
        axes.add(f'<circle class="trial{" best" if is_best else ""}" cx="{axes.x(number):.1f}" '
                 f'cy="{axes.y(value):.1f}" r="{radius}" fill="{colour}"><title>trial {number}: '
                 f"{escape(str(trial['job']))}, {value:.4f}</title></circle>")
        if is_best:
            axes.add(f'<text x="{axes.x(number) + 10:.1f}" y="{axes.y(value) + 4:.1f}" font-size="12" '
                     f'font-family="sans-serif" fill="{BEST}">best {value:.4f}</text>')
    axes.key("trial objective", OTHER, "marker")
    axes.key("best trial of this step", BEST, "marker")
    if len(scored) < n:
        axes.key(f"{n - len(scored)} trial(s) with no objective (failed or stopped) not drawn", FAILED, "marker")
    return axes.svg()
