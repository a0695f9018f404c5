"""Small inline-SVG drawings for the report: the step graph and ROC curves. No scripts, no fonts to load."""

from __future__ import annotations

from html import escape
from typing import Any

STATUS_COLOURS = {
    "Succeeded": "#2e7d32",
    "Failed": "#c62828",
    "Skipped": "#9e9e9e",
    "NotStarted": "#bdbdbd",
    "Executing": "#f9a825",
}
SERIES_COLOURS = ("#1565c0", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457", "#558b2f", "#4e342e")


def step_graph(steps: list[dict[str, Any]]) -> str:
    """Steps in rows by depth in the DAG (depends_on), top to bottom, coloured by status, with edges."""
    names = [s["name"] for s in steps]
    deps = {s["name"]: [d for d in (s.get("depends_on") or []) if d in names] for s in steps}
    depth: dict[str, int] = {}

    def level(name: str, seen: frozenset[str] = frozenset()) -> int:
        if name not in depth:
            parents = [d for d in deps[name] if d not in seen]
            depth[name] = 1 + max((level(d, seen | {name}) for d in parents), default=-1)
        return depth[name]

    for name in names:
        level(name)
    columns: dict[int, list[str]] = {}
    for name in names:
        columns.setdefault(depth[name], []).append(name)
    box_w, box_h, gap_x, gap_y = 190, 30, 16, 18
    position = {
        name: (12 + slot * (box_w + gap_x), 12 + row * (box_h + gap_y))
        for row, members in columns.items()
        for slot, name in enumerate(members)
    }
    width = 24 + max((len(m) for m in columns.values()), default=1) * (box_w + gap_x) - gap_x
    height = 24 + (max(columns, default=0) + 1) * (box_h + gap_y) - gap_y
    status = {s["name"]: s.get("status", "NotStarted") for s in steps}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="step graph" class="graph">'
    ]
    for name, parents in deps.items():
        x2, y2 = position[name]
        for parent in parents:
            x1, y1 = position[parent]
            parts.append(
                f'<line x1="{x1 + box_w / 2}" y1="{y1 + box_h}" x2="{x2 + box_w / 2}" y2="{y2}" '
                'stroke="#90a4ae" stroke-width="1.5"/>'
            )
    for name in names:
        x, y = position[name]
        colour = STATUS_COLOURS.get(status[name], "#757575")
        label = name if len(name) <= 24 else name[:23] + "…"
        parts.append(
            f'<g class="node" data-step="{escape(name)}"><title>{escape(name)}: {escape(status[name])}</title>'
            f'<rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="6" fill="#ffffff"/>'
            f'<rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="6" fill="{colour}" fill-opacity="0.12" '
            f'stroke="{colour}" stroke-width="2"/>'
            f'<text x="{x + 8}" y="{y + 19}" font-size="12" font-family="sans-serif" fill="#212121">'
            f"{escape(label)}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def roc_chart(curves: list[tuple[str, list[float], list[float]]], size: int = 320) -> str:
    pad = 36
    inner = size - 2 * pad
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size + 170}" height="{size}" role="img" '
        'aria-label="ROC curves" class="roc">',
        f'<rect x="{pad}" y="{pad}" width="{inner}" height="{inner}" fill="none" stroke="#9e9e9e"/>',
        f'<line x1="{pad}" y1="{pad + inner}" x2="{pad + inner}" y2="{pad}" stroke="#bdbdbd" stroke-dasharray="4 3"/>',
        f'<text x="{pad + inner / 2}" y="{size - 6}" font-size="11" text-anchor="middle" font-family="sans-serif">'
        "false positive rate</text>",
        f'<text x="10" y="{pad + inner / 2}" font-size="11" text-anchor="middle" font-family="sans-serif" '
        f'transform="rotate(-90 10 {pad + inner / 2})">true positive rate</text>',
    ]
    for index, (label, fpr, tpr) in enumerate(curves):
        colour = SERIES_COLOURS[index % len(SERIES_COLOURS)]
        points = " ".join(f"{pad + x * inner:.1f},{pad + (1 - y) * inner:.1f}" for x, y in zip(fpr, tpr, strict=True))
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.8"/>')
        legend_y = pad + 14 + index * 16
        parts.append(
            f'<line x1="{size}" y1="{legend_y - 4}" x2="{size + 18}" y2="{legend_y - 4}" stroke="{colour}" '
            f'stroke-width="3"/><text x="{size + 24}" y="{legend_y}" font-size="11" font-family="sans-serif">'
            f"{escape(label)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
