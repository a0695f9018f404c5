"""The stability plot: one horizontal bar per feature (mean share), a tick per fold, kept vs dropped.

Written as SVG by hand: one bar chart does not justify a plotting library in every job image.
"""

from __future__ import annotations

from html import escape
from typing import Any


def stability_svg(summary: dict[str, dict[str, Any]], floor: float, title: str) -> str:
    items = sorted(summary.items(), key=lambda kv: -kv[1]["mean_share"])
    row, left, width = 18, 190, 420
    top = 40
    height = top + row * len(items) + 40
    largest = max([max(v["shares"] + [v["mean_share"]]) for _, v in items] + [floor, 1e-9])

    def x(share: float) -> float:
        return left + width * share / largest

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 40}" height="{height}" '
             'font-family="sans-serif" font-size="11">',
             f'<text x="10" y="20" font-size="13" font-weight="bold">{escape(title)}</text>',
             f'<line x1="{x(floor):.1f}" y1="{top - 6}" x2="{x(floor):.1f}" y2="{height - 30}" stroke="#c00" '
             'stroke-dasharray="4,3"/>',
             f'<text x="{x(floor) + 3:.1f}" y="{top - 8}" fill="#c00">floor {floor:g}</text>']
    for i, (name, info) in enumerate(items):
        y = top + i * row
        colour = "#2b7bba" if info["selected"] else "#bbbbbb"
        parts.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">{escape(name)}</text>')
        parts.append(f'<rect x="{left}" y="{y + 3}" width="{max(x(info["mean_share"]) - left, 0.5):.1f}" '
                     f'height="{row - 6}" fill="{colour}"><title>{escape(name)}: mean share '
                     f'{info["mean_share"]:.4f}; {escape("; ".join(info["dropped_because"]) or "kept")}</title></rect>')
        for share, sign in zip(info["shares"], info["signs"], strict=True):
            mark = "#1a9850" if sign > 0 else "#d73027" if sign < 0 else "#555555"
            parts.append(f'<line x1="{x(share):.1f}" y1="{y + 1}" x2="{x(share):.1f}" y2="{y + row - 1}" '
                         f'stroke="{mark}" stroke-width="2"/>')
    parts.append(f'<text x="10" y="{height - 10}">bars: mean share of |SHAP| over folds (blue kept, grey dropped); '
                 'ticks: each fold (green +, red -, grey no clear sign)</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
