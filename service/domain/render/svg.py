"""One stream of contract v1 -> an SVG value stream map with its timeline ladder and problems.

Layout, left to right: a label column (lane names, ladder legend), one column per distinct step
``order`` (parallel steps share a column and are stacked), then the ladder totals. Top to bottom:
title, column numbers, one horizontal band per lane, the timeline ladder (waiting time on the high
rung, process time on the low rung of each column; of parallel steps the critical one, i.e. the
longest lead time), the ranked problem list. Problems sit on their steps as numbered circles
whose number is their rank in the stream's problem list and whose size and colour grow with the
weight (votes).

Every board text is escaped and capped (see ``textfit``); steps, lanes, problems and markers are
capped too, with a visible note, so the output is bounded whatever the board. The output is a
pure function of the input: same stream, same bytes.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from service.domain.contract_model import (
    Contract,
    ContractMetrics,
    ContractProblem,
    ContractStep,
    ContractStream,
)
from service.domain.render.textfit import attr, esc, format_minutes, format_percent, wrap

MAX_STEPS = 500
MAX_LANES = 40
MAX_PROBLEMS_LISTED = 200
MAX_MARKERS_PER_STEP = 4
# Safety net only: MAX_STEPS columns stay below it, so maps keep their natural, legible scale.
MAX_WIDTH_PX = 100_000

MARGIN = 24
LABEL_W = 136
LABEL_W_NO_LANES = 72  # room for the ladder legend only
COL_W = 184
BOX_W = 156
BOX_H = 96
STACK_GAP = 14
MARKER_ROOM = 12
ROW_H = BOX_H + STACK_GAP + MARKER_ROOM
BAND_PAD = 10
HEADER_H = 52
COLUMN_LABEL_H = 22
LADDER_H = 96
TOTALS_W = 208
LIST_COL_W = 430
LIST_ROW_H = 48
MIN_WIDTH = 760
# The smallest text drawn: 11 px is 8.25 pt at the map's natural size, which is how the report
# prints it (in tiles, see html.py), so no text on paper is below 8 pt.
MIN_TEXT_PX = 11.0

FONT_STACK = (
    "system-ui, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, 'Noto Sans', 'DejaVu Sans', "
    "'Liberation Sans', sans-serif, 'Apple Color Emoji', 'Segoe UI Emoji', 'Noto Color Emoji'"
)
INK = "#1f2933"
MUTED = "#52606d"
VA_FILL = "#fff6bf"
VA_STROKE = "#b08900"
NVA_STROKE = "#6b7280"
LADDER_WAIT = "#c0392b"
LADDER_PROCESS = "#1e7b34"

STATE_LABELS = {"current": "Current state", "target": "Target state", "unspecified": ""}


@dataclass(frozen=True, slots=True)
class _Step:
    index: int  # position in the stream's step list, for stable ordering
    raw: ContractStep
    column: int
    band: int


@dataclass(frozen=True, slots=True)
class _Marker:
    rank: int
    weight: float
    problem: ContractProblem


@dataclass(slots=True)
class _Layout:
    columns: list[list[_Step]] = field(default_factory=list)
    bands: list[str | None] = field(default_factory=list)  # None: the band without a lane
    band_rows: list[int] = field(default_factory=list)
    band_tops: list[float] = field(default_factory=list)
    placed: dict[int, tuple[float, float]] = field(default_factory=dict)  # step index -> x, y


def _n(value: float) -> str:
    """A coordinate with at most one decimal, so output is stable and short."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def stream_element_id(stream: ContractStream) -> str:
    """Element ids must be unique when several maps are inlined in one page."""
    digest = hashlib.sha256(stream.id.encode("utf-8", "replace")).hexdigest()
    return f"vsm-{digest[:12]}"


def step_element_id(stream: ContractStream, step_id: str) -> str:
    """The report's anchor of a step's row in its stream's steps table (links to a step)."""
    digest = hashlib.sha256(step_id.encode("utf-8", "replace")).hexdigest()
    return f"{stream_element_id(stream)}-step-{digest[:12]}"


def _text(
    x: float,
    y: float,
    lines: Sequence[str],
    *,
    size: float,
    line_h: float | None = None,
    anchor: str = "start",
    weight: str = "normal",
    fill: str = INK,
    cls: str = "",
) -> str:
    line_h = line_h or size * 1.25
    spans = "".join(
        f'<tspan x="{_n(x)}" dy="{_n(0 if i == 0 else line_h)}">{esc(line)}</tspan>'
        for i, line in enumerate(lines)
    )
    cls_attr = f' class="{cls}"' if cls else ""
    weight_attr = f' font-weight="{weight}"' if weight != "normal" else ""
    return (
        f'<text{cls_attr} x="{_n(x)}" y="{_n(y)}" font-size="{_n(size)}"{weight_attr} '
        f'fill="{fill}" text-anchor="{anchor}">{spans}</text>'
    )


# Bold glyphs are wider; wrapping bold text as if it were this much larger keeps it in its box.
BOLD_WIDTH = 1.1


def _fit(
    text: object, width_px: float, size: float, lines: int, *, bold: bool = False
) -> list[str]:
    return wrap(text, width_px / (size * (BOLD_WIDTH if bold else 1.0)), lines)


def _sorted_steps(steps: Sequence[ContractStep]) -> list[tuple[int, ContractStep]]:
    def key(item: tuple[int, ContractStep]) -> tuple[int, float, int]:
        order = item[1].order
        return (0, order, item[0]) if order is not None else (1, 0.0, item[0])

    return sorted(enumerate(steps), key=key)


def _bands(stream: ContractStream, steps: list[tuple[int, ContractStep]]) -> list[str | None]:
    """The stream's lanes (at most ``MAX_LANES``), then the lanes only steps name, then None
    for the band of steps without a lane (or past the cap), if any."""
    declared: list[str] = []
    for name in stream.lanes:
        if name not in declared and len(declared) < MAX_LANES:
            declared.append(name)
    bands: list[str | None] = list(declared)
    overflow_band = False
    needs_unlaned = False
    for _, step in steps:
        lane = step.lane
        if not lane:
            needs_unlaned = True
        elif lane not in bands:
            if len(bands) < MAX_LANES:
                bands.append(lane)
            else:
                overflow_band = True
    if needs_unlaned or overflow_band or not bands:
        bands.append(None)
    return bands


def _layout(stream: ContractStream, steps: list[tuple[int, ContractStep]]) -> _Layout:
    layout = _Layout()
    bands = layout.bands = _bands(stream, steps)
    band_of = {name: i for i, name in enumerate(bands) if name is not None}
    fallback = len(bands) - 1

    last_key: object = object()
    for index, step in steps:
        key: object = step.order if step.order is not None else ("unordered", index)
        if key != last_key or not layout.columns:
            layout.columns.append([])
            last_key = key
        band = band_of.get(step.lane, fallback) if step.lane else fallback
        layout.columns[-1].append(_Step(index, step, len(layout.columns) - 1, band))

    rows = [1] * len(bands)
    for column in layout.columns:
        per_band: dict[int, int] = {}
        for placed in column:
            per_band[placed.band] = per_band.get(placed.band, 0) + 1
        for band, count in per_band.items():
            rows[band] = max(rows[band], count)
    layout.band_rows = rows
    return layout


def _critical(column: list[_Step]) -> _Step:
    """The step of a parallel group that counts on the timeline: longest lead time, then
    longest process time, then the first."""

    def key(placed: _Step) -> tuple[float, float, int]:
        lead = placed.raw.lead_time_min
        process = placed.raw.process_time_min
        return (
            lead if lead is not None else -math.inf,
            process if process is not None else -math.inf,
            -placed.index,
        )

    return max(column, key=key)


def _wait_minutes(step: ContractStep) -> float | None:
    """Stated wait time, else lead minus process time; a non-value-adding step without a
    process time waits for its whole lead time."""
    if step.wait_time_min is not None:
        return step.wait_time_min
    lead, process = step.lead_time_min, step.process_time_min
    if lead is not None and process is not None:
        return max(0.0, lead - process)
    if lead is not None and step.value_adding is False:
        return lead
    return None


def ratio_percent(value: float | None) -> float | None:
    """Contract ratios (0..1) -> percent (0..100); None when unknown."""
    return None if value is None else value * 100.0


def _marker_style(weight: float, max_weight: float) -> tuple[float, str, str]:
    """Radius, fill and text colour: bigger and redder with more votes."""
    share = weight / max_weight if max_weight > 0 else 0.0
    radius = 8.0 + 5.0 * math.sqrt(max(0.0, min(1.0, share)))
    if weight <= 0:
        return radius, "#9aa5b1", "#ffffff"
    if share >= 0.67:
        return radius, "#b71c1c", "#ffffff"
    if share >= 0.34:
        return radius, "#e65100", "#ffffff"
    return radius, "#f9c74f", INK


def _votes(weight: float) -> str:
    text = _n(weight)
    return f"{text} vote" if text == "1" else f"{text} votes"


def _marker(
    marker: _Marker, cx: float, cy: float, max_weight: float, *, on_step: str | None
) -> str:
    radius, fill, ink = _marker_style(marker.weight, max_weight)
    size = MIN_TEXT_PX
    problem_id = attr(marker.problem.id, 200)
    tooltip = f"Problem {marker.rank} ({_votes(marker.weight)}): {marker.problem.text}"
    cls = "problem-marker" if on_step is not None else "problem-list-marker"
    step_attr = f' data-step-id="{attr(on_step, 200)}"' if on_step is not None else ""
    return (
        f'<g class="{cls}" data-problem-id="{problem_id}" data-rank="{marker.rank}" '
        f'data-weight="{_n(marker.weight)}"{step_attr}>'
        f"<title>{esc(tooltip, 400)}</title>"
        f'<circle cx="{_n(cx)}" cy="{_n(cy)}" r="{_n(radius)}" fill="{fill}" '
        f'stroke="#ffffff" stroke-width="1.5"/>'
        f'<text x="{_n(cx)}" y="{_n(cy + size * 0.36)}" font-size="{_n(size)}" '
        f'font-weight="bold" fill="{ink}" text-anchor="middle">{marker.rank}</text></g>'
    )


def _step_box(
    placed: _Step,
    x: float,
    y: float,
    markers: list[_Marker],
    max_weight: float,
    pfx: str,
    critical: bool,
) -> str:
    step = placed.raw
    step_id = step.id
    value_adding = step.value_adding is not False
    title = step.title
    process = format_minutes(step.process_time_min)
    lead = format_minutes(step.lead_time_min)
    quality = step.complete_accurate_pct
    label = f"{title or 'Untitled step'}; {'value-adding' if value_adding else 'not value-adding'}"
    label += f"; process time {process}; lead time {lead}"
    if markers:
        label += f"; {len(markers)} problem{'s' if len(markers) != 1 else ''}"
    crit_attr = ' data-critical="true"' if critical else ""
    out = [
        f'<g class="step" data-step-id="{attr(step_id, 200)}" '
        f'data-order="{attr(step.order, 40)}" '
        f'data-value-adding="{"true" if value_adding else "false"}"{crit_attr} '
        f'role="group" aria-label="{attr(label, 400)}">'
    ]
    if value_adding:
        out.append(
            f'<rect class="step-box" x="{_n(x)}" y="{_n(y)}" width="{BOX_W}" height="{BOX_H}" '
            f'rx="4" fill="{VA_FILL}" stroke="{VA_STROKE}" stroke-width="1.5"/>'
        )
    else:
        out.append(
            f'<rect class="step-box nva" x="{_n(x)}" y="{_n(y)}" width="{BOX_W}" '
            f'height="{BOX_H}" rx="4" fill="url(#{pfx}-hatch)" stroke="{NVA_STROKE}" '
            f'stroke-width="1.5" stroke-dasharray="6 4"/>'
        )
    title_lines = _fit(title or "(untitled)", BOX_W - 16, 12.5, 3, bold=True)
    out.append(_text(x + 8, y + 27, title_lines, size=12.5, weight="bold", cls="step-title"))
    times = f"PT {process} \u00b7 LT {lead}"
    if quality is not None:
        times_2 = f"C&A {format_percent(quality, digits=0)}"
        lines = [*_fit(times, BOX_W - 16, MIN_TEXT_PX, 1), times_2]
        out.append(_text(x + 8, y + BOX_H - 22, lines, size=MIN_TEXT_PX, fill=MUTED))
    else:
        lines = _fit(times, BOX_W - 16, MIN_TEXT_PX, 1)
        out.append(_text(x + 8, y + BOX_H - 9, lines, size=MIN_TEXT_PX, fill=MUTED))
    if not value_adding:
        out.append(
            f'<g class="nva-badge"><rect x="{_n(x + 6)}" y="{_n(y - 8)}" width="34" height="16" '
            f'rx="3" fill="{NVA_STROKE}"/><text x="{_n(x + 23)}" y="{_n(y + 4)}" '
            f'font-size="{_n(MIN_TEXT_PX)}" font-weight="bold" fill="#ffffff" '
            f'text-anchor="middle">NVA</text></g>'
        )
    for k, marker in enumerate(markers[:MAX_MARKERS_PER_STEP]):
        out.append(_marker(marker, x + BOX_W - 13 - k * 28, y, max_weight, on_step=step_id))
    hidden = len(markers) - MAX_MARKERS_PER_STEP
    if hidden > 0:
        cx = x + BOX_W - 13 - MAX_MARKERS_PER_STEP * 28 + 4
        out.append(
            f'<text class="problem-more" x="{_n(cx)}" y="{_n(y + 4)}" '
            f'font-size="{_n(MIN_TEXT_PX)}" '
            f'font-weight="bold" fill="{LADDER_WAIT}" text-anchor="middle">+{hidden}</text>'
        )
    out.append("</g>")
    return "".join(out)


def _flow(ax: float, ay: float, bx: float, by: float, pfx: str) -> str:
    x1, y1 = ax + BOX_W, ay + BOX_H / 2
    x2, y2 = bx - 2, by + BOX_H / 2
    bend = (x2 - x1) / 2
    return (
        f'<path class="flow" d="M{_n(x1)} {_n(y1)} C{_n(x1 + bend)} {_n(y1)} '
        f'{_n(x2 - bend)} {_n(y2)} {_n(x2)} {_n(y2)}" fill="none" stroke="#7b8794" '
        f'stroke-width="1.3" marker-end="url(#{pfx}-arrow)"/>'
    )


@dataclass(frozen=True, slots=True)
class RenderedMap:
    """An SVG map and its natural size in CSS pixels (the ``viewBox`` size); ``drawing_id`` is
    the id of the group holding the whole drawing."""

    svg: str
    width: float
    height: float
    drawing_id: str = ""


def render_stream_svg(stream: ContractStream, *, title: str | None = None) -> str:
    """Render one contract-v1 stream as a standalone SVG document (UTF-8 text).

    ``title`` replaces the stream's name as the heading. Unknown times show as ``?``; a step
    without an order goes to the end. The output is always well-formed XML.
    """
    return render_stream_map(stream, title=title).svg


@dataclass(frozen=True, slots=True)
class _Problems:
    """The problems the map lists (ranked as in the stream) and the markers on shown steps."""

    total: int
    listed: Sequence[ContractProblem]
    weights: Sequence[float]
    max_weight: float
    on_step: Mapping[str, list[_Marker]]
    step_titles: Mapping[str, str]  # of the shown steps, by id


@dataclass(frozen=True, slots=True)
class _Canvas:
    """Where the parts of the map go, in CSS pixels; ``layout`` holds the step positions."""

    pfx: str
    layout: _Layout
    label_w: int
    grid_left: float
    grid_right: float
    bands_top: float
    ladder_top: float
    list_top: float
    list_cols: int
    list_rows: int
    notes_top: float
    width: float
    height: float


def render_stream_map(stream: ContractStream, *, title: str | None = None) -> RenderedMap:
    """``render_stream_svg`` with the map's natural size, for pages that lay maps out."""
    all_steps = _sorted_steps(stream.steps)
    shown_steps = all_steps[:MAX_STEPS]
    problems = _problems(stream.problems, [step for _, step in shown_steps])
    canvas = _canvas(stream, _layout(stream, shown_steps), len(problems.listed))
    heading = title if title is not None else stream.name or "Value stream"
    out = _opening(stream, canvas, heading, len(all_steps), problems.total)
    out += _column_labels(canvas)
    out += _lane_bands(canvas)
    out += _flows(canvas)
    out += _step_boxes(canvas, problems)
    if not canvas.layout.columns:
        out.append(
            _text(
                canvas.grid_left + 12,
                canvas.bands_top + 40,
                ["No steps were found in this stream."],
                size=13,
                fill=MUTED,
                cls="empty-note",
            )
        )
    out.append(_ladder(canvas, stream.metrics))
    out.append(_problem_list(canvas, problems))
    out.append(_notes(canvas, len(all_steps), problems.total))
    out.append("</g></svg>")
    return RenderedMap(
        "".join(out), canvas.width, canvas.height, f"{stream_element_id(stream)}-drawing"
    )


def _problems(problems: Sequence[ContractProblem], shown: Sequence[ContractStep]) -> _Problems:
    listed = problems[:MAX_PROBLEMS_LISTED]
    weights = [float(problem.weight or 0) for problem in listed]
    titles = {step.id: step.title for step in shown}
    on_step: dict[str, list[_Marker]] = {}
    for rank, (problem, weight) in enumerate(zip(listed, weights, strict=True), start=1):
        if problem.step_id is not None and problem.step_id in titles:
            on_step.setdefault(problem.step_id, []).append(_Marker(rank, weight, problem))
    return _Problems(len(problems), listed, weights, max(weights, default=0.0), on_step, titles)


def _canvas(stream: ContractStream, layout: _Layout, listed: int) -> _Canvas:
    """Measure the map and place the step boxes (filling ``layout.band_tops`` and ``placed``)."""
    ncols = len(layout.columns)
    laned = any(band is not None for band in layout.bands)
    label_w = LABEL_W if laned else LABEL_W_NO_LANES
    grid_left = MARGIN + label_w
    grid_right = grid_left + ncols * COL_W
    width = max(MIN_WIDTH, grid_right + 16 + TOTALS_W + MARGIN)

    bands_top = MARGIN + HEADER_H + COLUMN_LABEL_H
    y = float(bands_top)
    for rows in layout.band_rows:
        layout.band_tops.append(y)
        y += BAND_PAD * 2 + rows * ROW_H - STACK_GAP
    bands_bottom = y
    for column in layout.columns:
        used: dict[int, int] = {}
        for placed in column:
            row = used.get(placed.band, 0)
            used[placed.band] = row + 1
            bx = grid_left + placed.column * COL_W + (COL_W - BOX_W) / 2
            by = layout.band_tops[placed.band] + BAND_PAD + MARKER_ROOM + row * ROW_H
            layout.placed[placed.index] = (bx, by)

    ladder_top = bands_bottom + 18
    list_top = ladder_top + LADDER_H + 10
    list_cols = max(1, min(4, int((width - 2 * MARGIN) // LIST_COL_W)))
    list_rows = math.ceil(listed / list_cols) if listed else 1
    notes_top = list_top + 28 + list_rows * LIST_ROW_H + 8
    return _Canvas(
        pfx=stream_element_id(stream),
        layout=layout,
        label_w=label_w,
        grid_left=grid_left,
        grid_right=grid_right,
        bands_top=bands_top,
        ladder_top=ladder_top,
        list_top=list_top,
        list_cols=list_cols,
        list_rows=list_rows,
        notes_top=notes_top,
        width=width,
        height=notes_top + 44 + MARGIN,
    )


def _opening(
    stream: ContractStream, canvas: _Canvas, heading: str, steps: int, problems: int
) -> list[str]:
    """The ``<svg>`` element with its accessible title and description, defs and heading."""
    pfx, width, height = canvas.pfx, canvas.width, canvas.height
    ncols = len(canvas.layout.columns)
    lanes_named = [b for b in canvas.layout.bands if b is not None]
    metrics = stream.metrics
    lead_total = format_minutes(metrics.total_lead_time_min)
    process_total = format_minutes(metrics.total_process_time_min)
    ratio = format_percent(ratio_percent(metrics.activity_ratio))
    desc = (
        f"{steps} steps in {ncols} columns"
        + (f" and {len(lanes_named)} lanes" if lanes_named else "")
        + f"; lead time {lead_total}, process time {process_total}, activity ratio {ratio}; "
        + f"{problems} problems."
    )
    state = STATE_LABELS.get(str(stream.state), "")
    scale_w = min(width, MAX_WIDTH_PX)
    scale_h = height * scale_w / width
    subtitle = " \u00b7 ".join(
        part
        for part in (
            state,
            f"Persona: {stream.persona}" if stream.persona else "",
            f"{steps} steps",
            f"{problems} problems",
        )
        if part
    )
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" xml:lang="en" class="vsm-map" '
        f'width="{_n(scale_w)}" height="{_n(scale_h)}" viewBox="0 0 {_n(width)} {_n(height)}" '
        f'role="img" aria-labelledby="{pfx}-title {pfx}-desc" '
        f'data-stream-id="{attr(stream.id, 200)}" font-family="{attr(FONT_STACK)}">',
        f'<title id="{pfx}-title">Value stream map: {esc(heading, 300)}</title>',
        f'<desc id="{pfx}-desc">{esc(desc)}</desc>',
        "<defs>",
        f'<pattern id="{pfx}-hatch" width="8" height="8" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="8" height="8" fill="#eceff1"/>'
        f'<line x1="0" y1="0" x2="0" y2="8" stroke="#c5ccd3" stroke-width="3"/></pattern>',
        f'<marker id="{pfx}-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" '
        f'fill="#7b8794"/></marker>',
        "</defs>",
        # the whole drawing, for the report's print tiles (``<use href="#...-drawing">``)
        f'<g id="{pfx}-drawing">',
        f'<rect x="0" y="0" width="{_n(width)}" height="{_n(height)}" fill="#ffffff"/>',
        _text(
            MARGIN,
            MARGIN + 20,
            _fit(heading, width - 2 * MARGIN, 20, 1, bold=True),
            size=20,
            weight="bold",
            cls="map-title",
        ),
        _text(MARGIN, MARGIN + 42, _fit(subtitle, width - 2 * MARGIN, 12, 1), size=12, fill=MUTED),
    ]


def _column_labels(canvas: _Canvas) -> list[str]:
    """The order number above each column (``?`` for steps without one)."""
    out = []
    for c, column in enumerate(canvas.layout.columns):
        order = column[0].raw.order
        out.append(
            _text(
                canvas.grid_left + c * COL_W + COL_W / 2,
                canvas.bands_top - 7,
                [str(order) if order is not None else "?"],
                size=11,
                anchor="middle",
                fill=MUTED,
                cls="column-label",
            )
        )
    return out


def _lane_bands(canvas: _Canvas) -> list[str]:
    """One band per lane, labelled on the left; a single band without a lane has no label."""
    layout, label_w = canvas.layout, canvas.label_w
    band_w = _n(label_w + len(layout.columns) * COL_W)
    out = []
    for b, band in enumerate(layout.bands):
        top = layout.band_tops[b]
        band_h = BAND_PAD * 2 + layout.band_rows[b] * ROW_H - STACK_GAP
        fill = "#f4f6f9" if b % 2 == 0 else "#ffffff"
        if band is None and len(layout.bands) == 1:
            out.append(
                f'<rect class="band" x="{MARGIN}" y="{_n(top)}" '
                f'width="{band_w}" height="{_n(band_h)}" fill="{fill}" '
                f'stroke="#d9dee4"/>'
            )
            continue
        name_text = band if band is not None else "(no lane)"
        cls = "lane" if band is not None else "lane lane-none"
        lines = _fit(name_text, label_w - 16, 12, max(1, min(5, int(band_h // 16))), bold=True)
        text_y = top + band_h / 2 - (len(lines) - 1) * 7.5 + 4
        out.append(
            f'<g class="{cls}" data-lane="{attr(name_text, 200)}" role="group" '
            f'aria-label="{attr("Lane: " + name_text, 300)}">'
            f'<rect x="{MARGIN}" y="{_n(top)}" width="{band_w}" '
            f'height="{_n(band_h)}" fill="{fill}" stroke="#d9dee4"/>'
            f'<rect x="{MARGIN}" y="{_n(top)}" width="{label_w}" height="{_n(band_h)}" '
            f'fill="#e4e9f0" stroke="#d9dee4"/>'
            + _text(
                MARGIN + 8,
                text_y,
                lines,
                size=12,
                line_h=15,
                weight="bold",
                fill=INK,
                cls="lane-label",
            )
            + "</g>"
        )
    return out


def _flows(canvas: _Canvas) -> list[str]:
    """Arrows between neighbouring columns: all pairs for small forks, else the critical path."""
    columns, placed = canvas.layout.columns, canvas.layout.placed
    out = []
    for sources, targets in itertools.pairwise(columns):
        if len(sources) * len(targets) > 12:
            sources, targets = [_critical(sources)], [_critical(targets)]
        for src in sources:
            for dst in targets:
                ax, ay = placed[src.index]
                bx, by = placed[dst.index]
                out.append(_flow(ax, ay, bx, by, canvas.pfx))
    return out


def _step_boxes(canvas: _Canvas, problems: _Problems) -> list[str]:
    columns = canvas.layout.columns
    criticals = {_critical(column).index for column in columns if len(column) > 1}
    out = []
    for column in columns:
        for placed in column:
            x, y = canvas.layout.placed[placed.index]
            out.append(
                _step_box(
                    placed,
                    x,
                    y,
                    problems.on_step.get(placed.raw.id, []),
                    problems.max_weight,
                    canvas.pfx,
                    placed.index in criticals,
                )
            )
    return out


def _notes(canvas: _Canvas, steps: int, problems: int) -> str:
    notes = ["Times: min, h, d (1 d = 8 working hours); ? = not stated on the board."]
    if steps > MAX_STEPS:
        notes.append(f"Showing the first {MAX_STEPS} of {steps} steps.")
    if problems > MAX_PROBLEMS_LISTED:
        notes.append(f"Showing the first {MAX_PROBLEMS_LISTED} of {problems} problems.")
    return _text(
        MARGIN,
        canvas.notes_top + 14,
        notes,
        size=11,
        line_h=14,
        fill=MUTED,
        cls="map-notes" + (" truncated" if len(notes) > 1 else ""),
    )


def _ladder(canvas: _Canvas, metrics: ContractMetrics) -> str:
    """The timeline: per column the critical step's wait (high rung) and process time (low
    rung), then the stream's totals."""
    layout, top, grid_left = canvas.layout, canvas.ladder_top, canvas.grid_left
    high = top + 24
    low = top + 58
    out = [
        '<g class="ladder" role="group" aria-label="Timeline: waiting and process time">',
        _text(MARGIN + 8, high + 4, ["Waiting"], size=11, fill=LADDER_WAIT, weight="bold"),
        _text(MARGIN + 8, low + 4, ["Process"], size=11, fill=LADDER_PROCESS, weight="bold"),
    ]
    half = COL_W / 2
    for c, column in enumerate(layout.columns):
        step = _critical(column).raw
        x0 = grid_left + c * COL_W
        wait = format_minutes(_wait_minutes(step))
        process = format_minutes(step.process_time_min)
        out.append(
            f'<g class="rung-pair" data-column="{c + 1}" data-step-id="{attr(step.id, 200)}">'
            f'<path class="rung rung-wait" d="M{_n(x0)} {_n(high)} H{_n(x0 + half)}" '
            f'stroke="{LADDER_WAIT}" stroke-width="2.5" fill="none"/>'
            f'<path class="rung-step" d="M{_n(x0 + half)} {_n(high)} V{_n(low)}" '
            f'stroke="{MUTED}" stroke-width="1" fill="none"/>'
            f'<path class="rung rung-process" d="M{_n(x0 + half)} {_n(low)} H{_n(x0 + COL_W)}" '
            f'stroke="{LADDER_PROCESS}" stroke-width="2.5" fill="none"/>'
        )
        if c + 1 < len(layout.columns):
            out.append(
                f'<path class="rung-step" d="M{_n(x0 + COL_W)} {_n(low)} V{_n(high)}" '
                f'stroke="{MUTED}" stroke-width="1" fill="none"/>'
            )
        out.append(
            _text(x0 + half / 2, high - 6, [wait], size=11, anchor="middle", cls="rung-label")
        )
        out.append(
            _text(x0 + half * 1.5, low + 15, [process], size=11, anchor="middle", cls="rung-label")
        )
        out.append("</g>")

    lead, process_total = metrics.total_lead_time_min, metrics.total_process_time_min
    waiting = lead - process_total if lead is not None and process_total is not None else None
    ratio = format_percent(ratio_percent(metrics.activity_ratio))
    tx = canvas.grid_right + 16
    rows = [
        ("Lead time", format_minutes(lead)),
        ("Process time", format_minutes(process_total)),
        ("Waiting", format_minutes(waiting)),
        ("Activity ratio", ratio),
    ]
    out.append(
        f'<g class="ladder-totals" aria-label="{attr(", ".join(f"{k} {v}" for k, v in rows))}">'
        f'<rect x="{_n(tx)}" y="{_n(top + 2)}" width="{TOTALS_W}" height="{LADDER_H - 14}" '
        f'rx="4" fill="#f4f6f9" stroke="#c5ccd3"/>'
    )
    for i, (key, value) in enumerate(rows):
        ry = top + 22 + i * 18
        bold = "bold" if key in ("Lead time", "Activity ratio") else "normal"
        out.append(_text(tx + 10, ry, [key], size=12, fill=MUTED))
        out.append(
            _text(
                tx + TOTALS_W - 10,
                ry,
                [value],
                size=12,
                anchor="end",
                weight=bold,
                cls="total-" + key.lower().replace(" ", "-"),
            )
        )
    out.append("</g></g>")
    return "".join(out)


def _problem_list(canvas: _Canvas, problems: _Problems) -> str:
    """The ranked problems in up to four columns: marker, text, votes and the step they are on."""
    top, rows = canvas.list_top, canvas.list_rows
    out = [
        '<g class="problem-list" role="list" aria-label="Problems, ranked by votes">',
        _text(MARGIN, top + 16, ["Problems (ranked by votes)"], size=14, weight="bold"),
    ]
    if not problems.listed:
        out.append(_text(MARGIN, top + 40, ["No problems recorded."], size=12, fill=MUTED))
    titles = problems.step_titles
    for i, (problem, weight) in enumerate(zip(problems.listed, problems.weights, strict=True)):
        col, row = divmod(i, rows)
        x = MARGIN + col * LIST_COL_W
        y = top + 28 + row * LIST_ROW_H
        step_id = problem.step_id
        if step_id is None:
            where = "whole stream"
        elif step_id in titles:
            where = titles[step_id] or "(untitled step)"
        else:
            where = "step not shown"
        out.append(
            f'<g class="problem-item" role="listitem" data-rank="{i + 1}" '
            f'data-problem-id="{attr(problem.id, 200)}">'
        )
        marker = _Marker(i + 1, weight, problem)
        out.append(_marker(marker, x + 13, y + 13, problems.max_weight, on_step=None))
        text_w = LIST_COL_W - 44
        out.append(
            _text(
                x + 32,
                y + 11,
                _fit(problem.text or "(no text)", text_w, 12, 2),
                size=12,
                line_h=14,
                cls="problem-text",
            )
        )
        meta = f"{_votes(weight)} \u00b7 at: {where}"
        meta_line = _fit(meta, text_w, MIN_TEXT_PX, 1)
        out.append(_text(x + 32, y + 40, meta_line, size=MIN_TEXT_PX, fill=MUTED))
        out.append("</g>")
    out.append("</g>")
    return "".join(out)


def select_stream(doc: Contract, key: str | None = None) -> ContractStream:
    """The stream of a contract document named by ``key``: its id, its name, or its 1-based
    position; the first stream when ``key`` is None.

    Raises ``LookupError`` with a message listing the streams when none matches.
    """
    streams = doc.streams
    if not streams:
        raise LookupError("the board has no value stream to draw")
    if key is None:
        return streams[0]
    for stream in streams:
        if key in (stream.id, stream.name):
            return stream
    if key.isdigit() and 1 <= int(key) <= len(streams):
        return streams[int(key) - 1]
    names = ", ".join(f"{i}: {(s.name or s.id)[:60]}" for i, s in enumerate(streams[:20], 1))
    raise LookupError(f"no stream {key[:100]!r}; the board has {names}")
