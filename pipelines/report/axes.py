"""Axes for the report's charts: a plot area with ticks, tick labels, axis titles (with units) and a legend.

Every chart on the page is drawn through `Axes`, so none can come out without its scales (issue 31: the ROC
had no tick labels, the drawdown no visible line, the labels 10 px on a 520x150 box). Pure SVG, no script.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

FONT = 'font-family="sans-serif"'
WIDTH, HEIGHT = 760, 280  # the default chart: readable at 1400 px, inside the page's 1200 px column


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (steps of 1, 2 or 5 times a power of ten)."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low]
    raw = (high - low) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks, value = [], first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def tick_text(value: float, span: float, percent: bool = False) -> str:
    """A tick label with as many decimals as the spacing needs (percent: times 100 with a % sign)."""
    scale = 100.0 if percent else 1.0
    spacing = abs(span * scale) or 1.0
    decimals = max(0, min(4, 1 - math.floor(math.log10(spacing / 5)))) if spacing < 50 else 0
    return f"{value * scale:.{decimals}f}" + ("%" if percent else "")


@dataclass
class Axes:
    """A chart: `x` / `y` map data to pixels; `frame()` draws the axes, `legend()` the key, `svg()` the whole."""

    x_range: tuple[float, float]
    y_range: tuple[float, float]
    x_title: str
    y_title: str
    label: str
    css_class: str
    width: int = WIDTH
    height: int = HEIGHT
    left: int = 70
    right: int = 48
    top: int = 16
    bottom: int = 52
    y_percent: bool = False
    x_ticks: list[tuple[float, str]] | None = None  # explicit ticks (dates, trial numbers); else nice numbers
    legend_corner: str = "below"  # under the axis title (covers no data); or "bottom-right", inside the plot
    parts: list[str] = field(default_factory=list)
    entries: list[tuple[str, str, str]] = field(default_factory=list)  # (label, colour, dash or marker)

    @property
    def inner(self) -> tuple[float, float]:
        return self.width - self.left - self.right, self.height - self.top - self.bottom

    def x(self, value: float) -> float:
        low, high = self.x_range
        return self.left + (value - low) / ((high - low) or 1.0) * self.inner[0]

    def y(self, value: float) -> float:
        low, high = self.y_range
        return self.top + (high - value) / ((high - low) or 1.0) * self.inner[1]

    def add(self, svg: str) -> None:
        self.parts.append(svg)

    def key(self, label: str, colour: str, style: str = "") -> None:
        """A legend entry: style "" (solid line), a dash array ("6 4"), "marker" (a dot) or "area" (a box)."""
        self.entries.append((label, colour, style))

    def _frame(self) -> str:
        w, h = self.inner
        out = [f'<rect x="{self.left}" y="{self.top}" width="{w:.0f}" height="{h:.0f}" fill="#ffffff" '
               'stroke="#9e9e9e"/>']
        y_low, y_high = self.y_range
        for value in nice_ticks(y_low, y_high):
            y = self.y(value)
            out.append(f'<line x1="{self.left - 5}" y1="{y:.1f}" x2="{self.left + w:.0f}" y2="{y:.1f}" '
                       'stroke="#eeeeee"/>'
                       f'<text class="tick y-tick" x="{self.left - 8}" y="{y + 4:.1f}" font-size="12" {FONT} '
                       f'text-anchor="end">{tick_text(value, y_high - y_low, self.y_percent)}</text>')
        x_low, x_high = self.x_range
        ticks = self.x_ticks if self.x_ticks is not None else [
            (v, tick_text(v, x_high - x_low)) for v in nice_ticks(x_low, x_high)]
        for value, text in ticks:
            x = self.x(value)
            out.append(f'<line x1="{x:.1f}" y1="{self.top + h:.0f}" x2="{x:.1f}" y2="{self.top + h + 5:.0f}" '
                       'stroke="#757575"/>'
                       f'<text class="tick x-tick" x="{x:.1f}" y="{self.top + h + 19:.0f}" font-size="12" {FONT} '
                       f'text-anchor="middle">{escape(text)}</text>')
        out.append(f'<text class="axis-title x-title" x="{self.left + w / 2:.0f}" y="{self.height - 8}" '
                   f'font-size="13" {FONT} text-anchor="middle">{escape(self.x_title)}</text>')
        middle = self.top + h / 2
        out.append(f'<text class="axis-title y-title" x="16" y="{middle:.0f}" font-size="13" {FONT} '
                   f'text-anchor="middle" transform="rotate(-90 16 {middle:.0f})">{escape(self.y_title)}</text>')
        return "".join(out)

    def _legend_height(self) -> int:
        return 8 + 18 * len(self.entries) if self.entries and self.legend_corner == "below" else 0

    def _legend(self) -> str:
        if not self.entries:
            return ""
        rows = []
        longest = max(len(label) for label, _, _ in self.entries)
        box_w, box_h = min(self.width - self.left - 4, 40 + 7 * longest), 8 + 18 * len(self.entries)
        x0, y0 = self.left, self.height
        if self.legend_corner == "bottom-right":
            x0, y0 = self.left + self.inner[0] - 10 - box_w, self.top + self.inner[1] - 8 - box_h
        rows.append(f'<rect class="legend" x="{x0}" y="{y0}" width="{box_w}" height="{box_h}" '
                    'fill="#ffffff" fill-opacity="0.9" stroke="#e0e0e0"/>')
        for index, (label, colour, style) in enumerate(self.entries):
            y = y0 + 17 + index * 18
            if style == "marker":
                sample = f'<circle cx="{x0 + 17}" cy="{y - 4}" r="4" fill="{colour}"/>'
            elif style == "area":
                sample = f'<rect x="{x0 + 8}" y="{y - 10}" width="18" height="11" fill="{colour}"/>'
            else:
                dash = f' stroke-dasharray="{style}"' if style else ""
                sample = (f'<line x1="{x0 + 6}" y1="{y - 4}" x2="{x0 + 28}" y2="{y - 4}" stroke="{colour}" '
                          f'stroke-width="2.5"{dash}/>')
            rows.append(f'{sample}<text class="legend-entry" x="{x0 + 34}" y="{y}" font-size="12" {FONT}>'
                        f"{escape(label)}</text>")
        return "".join(rows)

    def svg(self) -> str:
        height = self.height + self._legend_height()
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" height="{height}" '
                f'viewBox="0 0 {self.width} {height}" role="img" aria-label="{escape(self.label)}" '
                f'class="chart {escape(self.css_class)}">{self._frame()}{"".join(self.parts)}{self._legend()}</svg>')


def polyline(axes: Axes, xs: list[float], ys: list[float], colour: str, width: float = 2.0, dash: str = "",
             title: str = "") -> str:
    points = " ".join(f"{axes.x(x):.1f},{axes.y(y):.1f}" for x, y in zip(xs, ys, strict=True))
    dashed = f' stroke-dasharray="{dash}"' if dash else ""
    tip = f"<title>{escape(title)}</title>" if title else ""
    return f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="{width}"{dashed}>{tip}</polyline>'


def padded(values: list[float], include_zero: bool = True, margin: float = 0.05) -> tuple[float, float]:
    """A y range around the values (and zero), a little wider so no line sits on the frame."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    low = min([*finite, 0.0] if include_zero else finite or [0.0])
    high = max([*finite, 0.0] if include_zero else finite or [1.0])
    span = (high - low) or max(abs(high), 1e-3)
    return low - margin * span, high + margin * span

