"""Charts drawn on the server as SVG geometry: the CSP allows no inline script, and a chart
that is plain markup needs none. Templates turn the geometry into <svg> elements."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

WIDTH, HEIGHT = 760, 300
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 44, 12, 16, 40


@dataclass
class Bar:
    series: str
    x: float
    y: float
    width: float
    height: float
    value: int
    label: str


@dataclass
class Chart:
    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int
    bars: list[Bar] = field(default_factory=list)
    ticks: list[tuple[float, int]] = field(default_factory=list)  # (y, value)
    labels: list[tuple[float, str]] = field(default_factory=list)  # (x centre, text)


def nice_ceiling(value: int, steps: int = 4) -> tuple[int, int]:
    """A round top for the axis and its step, so ticks read 0, 5, 10, 15, 20."""
    if value <= 0:
        return steps, 1
    raw = value / steps
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    step = max(1, math.ceil(step))
    return step * math.ceil(value / step), step


def weekly_bars(weeks: list[dict], labels: list[str], submitted: str, decided: list[str]) -> Chart:
    """Two bars a week: submissions, and decisions stacked by outcome (`decided`, bottom up)."""
    chart = Chart(
        WIDTH, HEIGHT, MARGIN_LEFT, WIDTH - MARGIN_RIGHT, MARGIN_TOP, HEIGHT - MARGIN_BOTTOM
    )
    highest = max([0] + [max(w[submitted], sum(w[k] for k in decided)) for w in weeks])
    top, step = nice_ceiling(highest)
    plot_height = chart.plot_bottom - chart.plot_top
    scale = plot_height / top
    chart.ticks = [(chart.plot_bottom - value * scale, value) for value in range(0, top + 1, step)]
    slot = (chart.plot_right - chart.plot_left) / max(len(weeks), 1)
    bar_width = min(slot * 0.36, 28)
    for index, (week, label) in enumerate(zip(weeks, labels, strict=True)):
        centre = chart.plot_left + slot * (index + 0.5)
        chart.labels.append((centre, label))
        value = week[submitted]
        chart.bars.append(
            Bar(
                submitted,
                centre - bar_width - 1,
                chart.plot_bottom - value * scale,
                bar_width,
                value * scale,
                value,
                label,
            )
        )
        base = chart.plot_bottom
        for kind in decided:
            value = week[kind]
            if value:
                chart.bars.append(
                    Bar(
                        kind,
                        centre + 1,
                        base - value * scale,
                        bar_width,
                        value * scale,
                        value,
                        label,
                    )
                )
                base -= value * scale
    return chart


def duration_words(seconds: float) -> tuple[float, str]:
    """A duration as a number and its unit ("seconds", "minutes", "hours", "days")."""
    if seconds < 60:
        return round(seconds, 1), "seconds"
    if seconds < 3600:
        return round(seconds / 60, 1), "minutes"
    if seconds < 2 * 86400:
        return round(seconds / 3600, 1), "hours"
    return round(seconds / 86400, 1), "days"
