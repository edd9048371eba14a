"""Server-side SVG charts for the ops pages (issue 14 item 7): no chart library, no script, no network.

Two shapes: a step chart (seats over time: each value holds until the next point, as a seat count does)
and a horizontal bar chart (money at stake per account). Both are plain SVG with a ``viewBox`` and
``width="100%"``, so they scale to the page (1366 px screens) and print. Every drawn series carries its
data in ``data-points`` so a browser test can check what was drawn against the data it came from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 1200, 280
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 56  # room for the y ticks, the x ticks and the legend
X_TICKS = 6
# Inside each SVG, so a chart is self-contained (the page's stylesheet need not know it) and prints in colour.
STYLE = ("<style>.grid{stroke:#dde2ea}.tick,.legend text,.marker text,.bar text{font:12px system-ui,sans-serif;"
         "fill:#1d2330}.series{fill:none;stroke-width:2.5}.ledger{stroke:#1f6feb}.pushed{stroke:#d97706;"
         "stroke-dasharray:7 4}.provider{stroke:#15803d;stroke-dasharray:2 3;stroke-width:3}"
         ".marker line{stroke:#7c3aed;stroke-dasharray:3 3}.bar rect{fill:#d97706}.bar.negative rect"
         "{fill:#1f6feb}</style>")


@dataclass(frozen=True)
class Series:
    """A step series: ``(instant_us, value)`` points in time order; each value holds until the next point."""

    name: str  # the CSS class and data-series: ledger | pushed | provider
    label: str
    points: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Marker:
    instant_us: int
    label: str


def _y_ticks(top: int) -> list[int]:
    """About five round steps from 0 to at least ``top``."""
    step = 1
    while top / step > 5:
        for factor in (2, 5, 10):
            if top / (step * factor) <= 5:
                step *= factor
                break
        else:
            step *= 10
    return list(range(0, top + step, step))


def step_chart(series: Sequence[Series], *, start_us: int, end_us: int, markers: Sequence[Marker] = (),
               tick_label: Callable[[int], str], title: str) -> Markup:
    """The series from ``start_us`` to ``end_us``; ``tick_label`` names an instant on the x axis (the
    account's local date)."""
    end_us = max(end_us, start_us + 1)
    top = max([1, *(value for s in series for _, value in s.points)])
    ticks = _y_ticks(top)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(instant_us: int) -> float:
        clamped = min(max(instant_us, start_us), end_us)
        return round(LEFT + plot_w * (clamped - start_us) / (end_us - start_us), 1)

    def y(value: int) -> float:
        return round(TOP + plot_h * (1 - value / ticks[-1]), 1)

    parts = [f'<svg class="chart step-chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" '
             f'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{escape(title)}</title>", STYLE]
    for tick in ticks:
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick)}" y2="{y(tick)}"/>'
                     f'<text class="tick" x="{LEFT - 6}" y="{y(tick) + 4}" text-anchor="end">{tick}</text>')
    for index in range(X_TICKS + 1):
        instant = start_us + (end_us - start_us) * index // X_TICKS
        parts.append(f'<text class="tick" x="{x(instant)}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle">'
                     f"{escape(tick_label(instant))}</text>")
    for marker in markers:
        if start_us <= marker.instant_us <= end_us:
            mx = x(marker.instant_us)
            parts.append(f'<g class="marker"><line x1="{mx}" x2="{mx}" y1="{TOP}" y2="{HEIGHT - BOTTOM}"/>'
                         f'<text x="{mx + 3}" y="{TOP + 10}">{escape(marker.label)}</text></g>')
    for s in series:
        inside = [(t, v) for t, v in s.points if t < end_us]
        # The value in force at start_us is the last point at or before it.
        before = [p for p in inside if p[0] <= start_us]
        visible = ([(start_us, before[-1][1])] if before else []) + [p for p in inside if p[0] > start_us]
        path = ""  # nothing in the window: the series is still listed (and in the legend), drawn empty
        if visible:
            path = f"M {x(visible[0][0])} {y(visible[0][1])}"
            for instant, value in visible[1:]:
                path += f" H {x(instant)} V {y(value)}"
            path += f" H {x(end_us)}"
        data = ",".join(f"{t}:{v}" for t, v in s.points)
        parts.append(f'<path class="series {escape(s.name)}" data-series="{escape(s.name)}" '
                     f'data-points="{data}" d="{path}"><title>{escape(s.label)}</title></path>')
    for index, s in enumerate(series):
        lx = LEFT + index * 260
        parts.append(f'<g class="legend"><line class="series {escape(s.name)}" x1="{lx}" x2="{lx + 24}" '
                     f'y1="{HEIGHT - 14}" y2="{HEIGHT - 14}"/><text x="{lx + 30}" y="{HEIGHT - 10}">'
                     f"{escape(s.label)}</text></g>")
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class Bar:
    label: str  # an account
    value: int  # minor units, signed
    text: str  # the value in the currency's format


def bar_chart(bars: Sequence[Bar], *, title: str, href: Callable[[str], str] | None = None) -> Markup:
    """Horizontal bars, longest first, scaled by absolute value (a credit owed is as urgent as a charge);
    negative bars are drawn in their own class."""
    row, label_w, text_w = 22, 220, 140
    height = TOP + row * max(len(bars), 1) + 8
    scale = max([1, *(abs(b.value) for b in bars)])
    plot_w = WIDTH - LEFT - label_w - text_w
    parts = [f'<svg class="chart bar-chart" role="img" viewBox="0 0 {WIDTH} {height}" width="100%" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>', STYLE]
    for index, bar in enumerate(bars):
        top = TOP + index * row
        width = round(plot_w * abs(bar.value) / scale, 1)
        label = escape(bar.label)
        if href is not None:
            label = Markup(f'<a href="{escape(href(bar.label))}">{label}</a>')
        parts.append(f'<g class="bar{" negative" if bar.value < 0 else ""}" data-account="{escape(bar.label)}" '
                     f'data-value="{bar.value}"><text x="{LEFT + label_w - 8}" y="{top + 15}" text-anchor="end">'
                     f'{label}</text><rect x="{LEFT + label_w}" y="{top + 3}" width="{width}" height="{row - 6}"/>'
                     f'<text class="value" x="{LEFT + label_w + width + 6}" y="{top + 15}">'
                     f"{escape(bar.text)}</text></g>")
    parts.append("</svg>")
    return Markup("".join(parts))
