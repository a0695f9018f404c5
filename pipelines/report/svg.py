"""Small inline-SVG drawings for the report: the step graph and ROC curves. No scripts, no fonts to load."""

from __future__ import annotations

import re
from html import escape
from typing import Any

from pipelines.report.axes import Axes, polyline
from pipelines.report.graph import UNEXECUTED, Edge, StepGraph, collapse_unexecuted, graph_of, layered_layout

STATUS_COLOURS = {
    "Succeeded": "#2e7d32",
    "Failed": "#c62828",
    "Skipped": "#9e9e9e",
    "NotStarted": "#bdbdbd",
    "Executing": "#f9a825",
    "Stopped": "#6d4c41",  # the run was interrupted (Ctrl-C) while the step ran
}
SERIES_COLOURS = ("#1565c0", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457", "#558b2f", "#4e342e")


UNEXECUTED_STYLE = {"fill": "#f5f5f5", "stroke": "#bdbdbd", "text": "#9e9e9e"}
EDGE_COLOURS = {"active": "#78909c", "inactive": "#cfd8dc", "label": "#37474f"}
BOX = (200.0, 40.0)


def _status_of(step: dict[str, Any]) -> str:
    return str(step.get("status") or "NotStarted")


def _path(points: list[tuple[float, float]]) -> str:
    """Curves across the gaps between layers (vertical at both ends), straight lines through a layer."""
    (x, y), *rest = points
    parts = [f"M{x:.1f},{y:.1f}"]
    for index, (x2, y2) in enumerate(rest):
        if index % 2 == 0:
            middle = (y + y2) / 2
            parts.append(f"C{x:.1f},{middle:.1f} {x2:.1f},{middle:.1f} {x2:.1f},{y2:.1f}")
        else:
            parts.append(f"L{x2:.1f},{y2:.1f}")
        x, y = x2, y2
    return " ".join(parts)


def _duration(seconds: float) -> str:
    if seconds < 1:
        return "<1s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def _node(step: dict[str, Any], box: tuple[float, float, float, float]) -> str:
    x, y, w, h = box
    name, status = step["name"], _status_of(step)
    group = step.get("group")
    unexecuted = status in UNEXECUTED or group is not None
    colour = STATUS_COLOURS.get(status, "#757575")
    classes = ["node", "status-" + re.sub(r"[^a-z]", "", status.lower())]
    classes += (["skipped"] if unexecuted else []) + (["group"] if group else [])
    if group is not None:
        members = len(group.members)
        title = f"{members} steps not run ({group.branch[0]} chose the other branch): {', '.join(group.members)}"
        heading = f"{members} step{'s' if members != 1 else ''} not run"
        detail = f"{group.branch[0]} → {'true' if group.branch[1] else 'false'}"
        attributes = f'data-group="{escape(group.key)}" data-members="{members}"'
    else:
        kind = str(step.get("type") or "")
        detail = f"{kind} · {status}"
        outcome = (step.get("properties") or {}).get("Outcome")
        if kind == "Condition" and status == "Succeeded" and outcome is not None:
            detail = f"{kind} → {'true' if outcome else 'false'}"
        elif step.get("cache_hit"):
            detail += " · cached"
        elif isinstance(step.get("seconds"), int | float):
            detail += f" · {_duration(step['seconds'])}"
        reason = step.get("failure_reason") or ((step.get("properties") or {}).get("reason") if unexecuted else None)
        title = f"{name} ({kind}): {status}" + (f" — {reason}" if reason else "")
        heading = name if len(name) <= 26 else name[:25] + "…"
        attributes = f'data-step="{escape(name)}" data-status="{escape(status)}"'
    if unexecuted:
        fill = f'fill="{UNEXECUTED_STYLE["fill"]}" stroke="{UNEXECUTED_STYLE["stroke"]}" stroke-width="1.5" '
        fill += 'stroke-dasharray="5 3"'
        text, muted = UNEXECUTED_STYLE["text"], UNEXECUTED_STYLE["text"]
    else:
        fill = f'fill="{colour}" fill-opacity="0.12" stroke="{colour}" stroke-width="2"'
        text, muted = "#212121", "#616161"
    return (
        f'<g class="{" ".join(classes)}" {attributes}><title>{escape(title)}</title>'
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.0f}" height="{h:.0f}" rx="6" fill="#ffffff"/>'
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.0f}" height="{h:.0f}" rx="6" {fill}/>'
        f'<text x="{x + 9:.1f}" y="{y + 16:.1f}" font-size="12" font-weight="600" font-family="sans-serif" '
        f'fill="{text}">{escape(heading)}</text>'
        f'<text x="{x + 9:.1f}" y="{y + 31:.1f}" font-size="10" font-family="sans-serif" fill="{muted}">'
        f"{escape(detail)}</text></g>"
    )


def _edge(edge: Edge, points: list[tuple[float, float]], active: bool, marker: str) -> str:
    colour = EDGE_COLOURS["active" if active else "inactive"]
    classes = ["edge"] + (["branch"] if edge.label else []) + (["member"] if edge.member else [])
    classes += [] if active else ["inactive"]
    width = "1.1" if edge.member else "1.5"
    label = ""
    if edge.label:
        (x1, y1), (x2, y2) = points[-2], points[-1]
        lx, ly = (x1 + x2) / 2, (y1 + y2) / 2
        span = 30 if edge.label == "false" else 26
        label = (
            f'<rect x="{lx - span / 2:.1f}" y="{ly - 8:.1f}" width="{span}" height="15" rx="7" fill="#ffffff" '
            f'stroke="{colour}"/><text class="edge-label" x="{lx:.1f}" y="{ly + 3.5:.1f}" font-size="10" '
            f'font-family="sans-serif" text-anchor="middle" fill="{EDGE_COLOURS["label"] if active else colour}">'
            f"{escape(edge.label)}</text>"
        )
    branch = f' data-branch="{escape(edge.label)}"' if edge.label else ""
    return (
        f'<g class="{" ".join(classes)}" data-from="{escape(edge.source)}" data-to="{escape(edge.target)}"{branch}>'
        f'<path d="{_path(points)}" fill="none" stroke="{colour}" stroke-width="{width}" '
        f'marker-end="url(#{marker}-{"on" if active else "off"})"/>{label}</g>'
    )


def draw_graph(graph: StepGraph, css_class: str = "graph", marker: str = "arrow") -> str:
    """The layered drawing of a step graph: boxes coloured by status, an arrow for every edge."""
    layout = layered_layout(graph.names, [(e.source, e.target) for e in graph.edges], box=BOX)
    status = {s["name"]: _status_of(s) for s in graph.steps}
    grouped = {s["name"] for s in graph.steps if s.get("group") is not None}

    def active(edge: Edge) -> bool:
        return not ({edge.source, edge.target} & grouped) and all(
            status[n] not in UNEXECUTED | {"NotStarted"} for n in (edge.source, edge.target)
        )

    markers = "".join(
        f'<marker id="{marker}-{state}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{EDGE_COLOURS[colour]}"/></marker>'
        for state, colour in (("on", "active"), ("off", "inactive"))
    )
    edges = sorted(graph.edges, key=lambda e: (active(e), e.label is not None))  # labels and live edges on top
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{layout.width:.0f}" height="{layout.height:.0f}" '
        f'viewBox="0 0 {layout.width:.0f} {layout.height:.0f}" role="img" aria-label="step graph" '
        f'class="{css_class}"><defs>{markers}</defs>',
        *(_edge(e, layout.routes[(e.source, e.target)], active(e), marker) for e in edges),
        *(_node(s, layout.boxes[s["name"]]) for s in graph.steps),
        "</svg>",
    ]
    return "".join(parts)


def step_graph(steps: list[dict[str, Any]]) -> str:
    """Every step of the record, top to bottom by what it waits for; steps that did not run are greyed."""
    return draw_graph(graph_of(steps))


def collapsed_step_graph(steps: list[dict[str, Any]]) -> tuple[str, int] | None:
    """The graph with each branch that was not taken folded into one box, and how many steps that hides;
    None when every step ran (or could still run)."""
    graph, groups = collapse_unexecuted(graph_of(steps))
    if not groups:
        return None
    return draw_graph(graph, "graph collapsed", marker="arrow-collapsed"), sum(len(g.members) for g in groups)


def roc_chart(curves: list[tuple[str, list[float], list[float]]], aucs: list[float | None] | None = None) -> str:
    """ROC curves on a square plot with ticks, the chance diagonal and each curve's AUC in the legend. A curve
    identical to an earlier one (an ensemble of one model) is drawn dashed on top and says so, so it is not lost."""
    axes = Axes((0.0, 1.0), (0.0, 1.0), "false positive rate (share of down moves called up)",
                "true positive rate (share of up moves called up)", "ROC curves", "roc", width=560, height=520,
                right=16, legend_corner="bottom-right")
    axes.add(polyline(axes, [0.0, 1.0], [0.0, 1.0], "#bdbdbd", 1.2, "4 3", "chance (AUC 0.5)"))
    seen: list[tuple[str, list[float], list[float]]] = []
    for index, (label, fpr, tpr) in enumerate(curves):
        colour = SERIES_COLOURS[index % len(SERIES_COLOURS)]
        twin = next((name for name, x, y in seen if x == fpr and y == tpr), None)
        auc = (aucs or [None] * len(curves))[index]
        text = f"{label}, AUC {auc:.4f}" if isinstance(auc, float) else label
        dash = "8 6" if twin else ""
        if twin:
            text += f", dashed: same curve as {twin.split(' (')[0]}"
        axes.add(polyline(axes, fpr, tpr, colour, 3.0 if twin else 2.0, dash, text))
        axes.key(text, colour, dash)
        seen.append((label, fpr, tpr))
    axes.key("chance (AUC 0.5)", "#bdbdbd", "4 3")
    return axes.svg()
