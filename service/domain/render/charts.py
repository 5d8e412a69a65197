"""Charts across boards as SVG: a line chart of one figure over revisions, and the portfolio
scatter (lead time against activity ratio, one labelled dot per stream).

Same rules as the maps: no script, every board text escaped and capped (``textfit``), every
series, point and label capped so the output is bounded, and the output a pure function of the
input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from service.domain.render.svg import FONT_STACK, INK, MUTED
from service.domain.render.textfit import attr, esc, format_minutes, format_percent

MAX_SERIES = 12
MAX_POINTS = 100
MAX_DOTS = 2_000
# dots beyond this many (the first in the given order) carry their name as a tooltip only
MAX_DOT_LABELS = 40
LABEL_CHARS = 28

WIDTH = 760
HEIGHT = 360
PLOT_LEFT = 78
PLOT_RIGHT = 24
PLOT_TOP = 40
PLOT_BOTTOM = 56
LEGEND_ROW_H = 18
GRID = "#d9dee4"
# colour-blind-safe (Okabe-Ito) series colours, cycled
PALETTE = (
    "#0072b2",
    "#d55e00",
    "#009e73",
    "#cc79a7",
    "#e69f00",
    "#56b4e9",
    "#000000",
    "#f0e442",
)

# how a figure is labelled and formatted: ``minutes``, ``ratio`` (fraction shown as percent),
# ``count``
FIGURE_UNITS = {
    "lead_time_min": ("Lead time", "minutes"),
    "process_time_min": ("Process time", "minutes"),
    "activity_ratio": ("Activity ratio", "ratio"),
    "rolled_complete_accurate": ("Rolled %C&A", "ratio"),
    "handoffs": ("Handoffs", "count"),
    "problem_weight": ("Problem weight (votes)", "count"),
    "step_count": ("Steps", "count"),
}


@dataclass(frozen=True, slots=True)
class Series:
    """One line: ``points`` are (revision number, value or None), in revision order."""

    name: str
    points: Sequence[tuple[int, float | None]]


@dataclass(frozen=True, slots=True)
class Dot:
    """One stream in the scatter; lead time in minutes, activity ratio as a fraction."""

    label: str
    detail: str
    lead_time_min: float
    activity_ratio: float
    href: str | None = None


def _n(value: float) -> str:
    """A coordinate with at most one decimal, so the output is stable and short."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def format_figure(value: float | None, unit: str) -> str:
    """A figure's value as the charts and tables show it; None -> ``?``."""
    if value is None or not math.isfinite(value):
        return "?"
    if unit == "minutes":
        return format_minutes(value)
    if unit == "ratio":
        return format_percent(value * 100)
    return f"{value:g}"


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering ``low``..``high`` (1, 2, 2.5, 5 times a power of ten)."""
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.floor(low / step) * step
    ticks: list[float] = []
    value = start
    while value <= high + step * 1e-9 and len(ticks) < 20:
        ticks.append(round(value, 10) + 0.0)
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10) + 0.0)
    return ticks


def _svg(width: float, height: float, title: str, body: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_n(width)}" height="{_n(height)}" '
        f'viewBox="0 0 {_n(width)} {_n(height)}" role="img" aria-label="{attr(title, 300)}" '
        f'font-family="{attr(FONT_STACK)}" font-size="12" fill="{INK}">'
        f"<title>{esc(title, 300)}</title>"
        f'<rect width="100%" height="100%" fill="#ffffff"/>{body}</svg>'
    )


def _label(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "\u2026"


def trend_chart_svg(series: Sequence[Series], figure: str, *, title: str = "") -> str:
    """A line per series of ``figure`` (a key of ``FIGURE_UNITS``) over revision numbers.

    Unknown values break the line; a series with one known point is a dot. Shows at most
    ``MAX_SERIES`` series of ``MAX_POINTS`` points (the newest), with a note when cut.
    """
    name, unit = FIGURE_UNITS[figure]
    shown = [Series(s.name, list(s.points)[-MAX_POINTS:]) for s in series[:MAX_SERIES]]
    revisions = sorted({rev for s in shown for rev, _ in s.points})
    values = [v for s in shown for _, v in s.points if v is not None and math.isfinite(v)]
    legend_h = LEGEND_ROW_H * len(shown)
    height = HEIGHT + legend_h
    heading = title or f"{name} by revision"
    plot_w = WIDTH - PLOT_LEFT - PLOT_RIGHT
    plot_h = HEIGHT - PLOT_TOP - PLOT_BOTTOM
    parts = [f'<text x="{PLOT_LEFT}" y="24" font-size="15" font-weight="600">{esc(heading)}</text>']
    if not values:
        parts.append(
            f'<text x="{PLOT_LEFT}" y="{PLOT_TOP + 30}" fill="{MUTED}">'
            f"No {esc(name.lower())} is known for any revision.</text>"
        )
        return _svg(WIDTH, HEIGHT, heading, "".join(parts))
    ticks = _nice_ticks(min(0.0, min(values)), max(values))
    low, high = ticks[0], ticks[-1]

    def y(value: float) -> float:
        return PLOT_TOP + plot_h - (value - low) / (high - low) * plot_h

    slot = {rev: i for i, rev in enumerate(revisions)}

    def x(revision: int) -> float:
        if len(revisions) == 1:
            return PLOT_LEFT + plot_w / 2
        return PLOT_LEFT + slot[revision] / (len(revisions) - 1) * plot_w

    for tick in ticks:
        parts.append(
            f'<line x1="{PLOT_LEFT}" x2="{PLOT_LEFT + plot_w}" y1="{_n(y(tick))}" '
            f'y2="{_n(y(tick))}" stroke="{GRID}"/>'
            f'<text x="{PLOT_LEFT - 8}" y="{_n(y(tick) + 4)}" text-anchor="end" fill="{MUTED}">'
            f"{esc(format_figure(tick, unit))}</text>"
        )
    label_every = max(1, math.ceil(len(revisions) / 12))
    for i, revision in enumerate(revisions):
        if i % label_every == 0 or i == len(revisions) - 1:
            parts.append(
                f'<text x="{_n(x(revision))}" y="{PLOT_TOP + plot_h + 18}" text-anchor="middle" '
                f'fill="{MUTED}">r{revision}</text>'
            )
    parts.append(
        f'<text x="{PLOT_LEFT + plot_w / 2:.0f}" y="{PLOT_TOP + plot_h + 40}" '
        f'text-anchor="middle" fill="{MUTED}">Revision</text>'
    )
    for index, line in enumerate(shown):
        color = PALETTE[index % len(PALETTE)]
        dash = "" if index < len(PALETTE) else ' stroke-dasharray="6 4"'
        runs: list[list[tuple[float, float]]] = [[]]
        dots = []
        for revision, value in line.points:
            if value is None or not math.isfinite(value):
                runs.append([])
                continue
            runs[-1].append((x(revision), y(value)))
            dots.append(
                f'<circle cx="{_n(x(revision))}" cy="{_n(y(value))}" r="4" fill="{color}">'
                f"<title>{esc(_label(line.name))} r{revision}: "
                f"{esc(format_figure(value, unit))}</title></circle>"
            )
        for run in runs:
            if len(run) > 1:
                path = " ".join(f"{_n(px)},{_n(py)}" for px, py in run)
                parts.append(
                    f'<polyline points="{path}" fill="none" stroke="{color}" '
                    f'stroke-width="2.5"{dash}/>'
                )
        parts.extend(dots)
        legend_y = HEIGHT + index * LEGEND_ROW_H
        parts.append(
            f'<line x1="{PLOT_LEFT}" x2="{PLOT_LEFT + 22}" y1="{legend_y - 4}" '
            f'y2="{legend_y - 4}" stroke="{color}" stroke-width="3"{dash}/>'
            f'<text x="{PLOT_LEFT + 30}" y="{legend_y}">{esc(line.name, 200)}</text>'
        )
    if len(series) > MAX_SERIES:
        parts.append(
            f'<text x="{WIDTH - PLOT_RIGHT}" y="24" text-anchor="end" fill="{MUTED}">'
            f"{MAX_SERIES} of {len(series)} streams shown</text>"
        )
    return _svg(WIDTH, height, heading, "".join(parts))


def _log_ticks(low: float, high: float) -> list[float]:
    """Lead-time ticks a reader knows (working time: 8 h days, 5 d weeks) covering low..high."""
    marks = [1.0, 5.0, 15.0, 60.0, 240.0, 480.0, 2400.0, 9600.0, 28800.0, 115200.0]
    inside = [m for m in marks if low <= m <= high]
    below = [m for m in marks if m < low]
    above = [m for m in marks if m > high]
    return ([below[-1]] if below else []) + inside + ([above[0]] if above else [])


def scatter_chart_svg(dots: Sequence[Dot], *, title: str = "") -> str:
    """Lead time (log scale, x) against activity ratio (y), one labelled dot per stream.

    Streams without a lead time above 0 or without an activity ratio cannot be placed; the
    caller leaves them out. At most ``MAX_DOTS`` dots; the first ``MAX_DOT_LABELS`` carry a
    visible label, all carry their label and ``detail`` as a tooltip. A dot with ``href`` links
    there (same document only: the caller passes relative links).
    """
    heading = title or "Lead time against activity ratio"
    shown = [
        d
        for d in dots[:MAX_DOTS]
        if 0 < d.lead_time_min < math.inf and math.isfinite(d.activity_ratio)
    ]
    plot_w = WIDTH - PLOT_LEFT - PLOT_RIGHT
    plot_h = HEIGHT - PLOT_TOP - PLOT_BOTTOM
    parts = [f'<text x="{PLOT_LEFT}" y="24" font-size="15" font-weight="600">{esc(heading)}</text>']
    if not shown:
        parts.append(
            f'<text x="{PLOT_LEFT}" y="{PLOT_TOP + 30}" fill="{MUTED}">'
            "No stream has both a lead time and an activity ratio.</text>"
        )
        return _svg(WIDTH, HEIGHT, heading, "".join(parts))
    ticks = _log_ticks(min(d.lead_time_min for d in shown), max(d.lead_time_min for d in shown))
    low, high = math.log10(ticks[0]), math.log10(ticks[-1])
    if high <= low:
        low, high = low - 1, high + 1
    top_ratio = max(d.activity_ratio for d in shown)
    y_ticks = _nice_ticks(0.0, max(top_ratio * 100, 1.0))

    def x(minutes: float) -> float:
        return PLOT_LEFT + (math.log10(minutes) - low) / (high - low) * plot_w

    def y(ratio: float) -> float:
        return PLOT_TOP + plot_h - (ratio * 100 - y_ticks[0]) / (y_ticks[-1] - y_ticks[0]) * plot_h

    for tick in ticks:
        parts.append(
            f'<line x1="{_n(x(tick))}" x2="{_n(x(tick))}" y1="{PLOT_TOP}" '
            f'y2="{PLOT_TOP + plot_h}" stroke="{GRID}"/>'
            f'<text x="{_n(x(tick))}" y="{PLOT_TOP + plot_h + 18}" text-anchor="middle" '
            f'fill="{MUTED}">{esc(format_minutes(tick))}</text>'
        )
    for tick in y_ticks:
        parts.append(
            f'<line x1="{PLOT_LEFT}" x2="{PLOT_LEFT + plot_w}" y1="{_n(y(tick / 100))}" '
            f'y2="{_n(y(tick / 100))}" stroke="{GRID}"/>'
            f'<text x="{PLOT_LEFT - 8}" y="{_n(y(tick / 100) + 4)}" text-anchor="end" '
            f'fill="{MUTED}">{esc(format_percent(tick))}</text>'
        )
    parts.append(
        f'<text x="{PLOT_LEFT + plot_w / 2:.0f}" y="{PLOT_TOP + plot_h + 40}" '
        f'text-anchor="middle" fill="{MUTED}">Lead time (log scale, working time)</text>'
        f'<text transform="translate(16 {PLOT_TOP + plot_h / 2:.0f}) rotate(-90)" '
        f'text-anchor="middle" fill="{MUTED}">Activity ratio</text>'
    )
    for index, dot in enumerate(shown):
        cx, cy = x(dot.lead_time_min), y(dot.activity_ratio)
        tooltip = (
            f"<title>{esc(dot.label, 300)} \u2013 {esc(dot.detail, 300)}: "
            f"{esc(format_minutes(dot.lead_time_min))}, "
            f"{esc(format_percent(dot.activity_ratio * 100))}</title>"
        )
        mark = f'<circle cx="{_n(cx)}" cy="{_n(cy)}" r="5.5" fill="{PALETTE[0]}" '
        mark += f'fill-opacity="0.8" stroke="#ffffff">{tooltip}</circle>'
        if index < MAX_DOT_LABELS:
            anchor = "end" if cx > PLOT_LEFT + plot_w * 0.75 else "start"
            offset = -8 if anchor == "end" else 8
            mark += (
                f'<text x="{_n(cx + offset)}" y="{_n(cy - 7)}" text-anchor="{anchor}" '
                f'font-size="11">{esc(_label(dot.label))}</text>'
            )
        if dot.href is not None:
            mark = f'<a href="{attr(dot.href, 500)}">{mark}</a>'
        parts.append(mark)
    if len(dots) > MAX_DOTS:
        parts.append(
            f'<text x="{WIDTH - PLOT_RIGHT}" y="24" text-anchor="end" fill="{MUTED}">'
            f"{MAX_DOTS} of {len(dots)} streams shown</text>"
        )
    return _svg(WIDTH, HEIGHT, heading, "".join(parts))
