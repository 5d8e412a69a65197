"""A board as it was drawn, coloured by what the reader understood: the explain view (SVG).

Every item stands at its place on the board, scaled to fit: filled by its role (steps yellow,
waiting orange, problems red, ideas green, data blue, ...), order numbers on the steps, streams
and lanes outlined, a thin line from every data, problem and idea item to the step it was
attached to, and items that got no role hatched, with the reason in their ``<title>`` (shown on
hover). Every item's ``<title>`` says its role and the rule that decided it. A facilitator sees
in one look what was read and why a number is off.

Board text is untrusted: every text goes through ``textfit.esc``/``attr`` (escaped, XML-invalid
characters dropped, capped); the SVG holds no script, no link and no outside reference, so it
is safe under the same Content-Security-Policy as the maps. At most ``MAX_ITEMS`` items are
drawn (a note says how many were left out), so the output is bounded whatever the board.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from service.domain.board import Board, Geometry, Item, ItemKind
from service.domain.classification import Classification, Decision
from service.domain.classify import classify
from service.domain.render.textfit import attr, esc
from service.domain.ruleset import Role, Ruleset, StreamState
from service.domain.streams import Stream, build_streams, unplaced
from service.domain.template import TRIANGLE_SHAPES

MAX_ITEMS = 20_000
MAX_WIDTH = 1600.0
MAX_HEIGHT = 1200.0
MARGIN = 24.0
HEADER = 40.0
LABEL_CHARS = 40

FILLS: Mapping[Role | None, str] = {
    Role.STEP: "#ffe066",
    Role.WAIT: "#ffa94d",
    Role.PROBLEM: "#ff8787",
    Role.IDEA: "#8ce99a",
    Role.DATA: "#74c0fc",
    Role.PERSONA: "#d0bfff",
    Role.LEGEND: "#e9ecef",
    Role.NOTE: "#ced4da",
    None: "#ffffff",
}
STATE_STROKES = {
    StreamState.CURRENT: "#1c7ed6",
    StreamState.TARGET: "#2f9e44",
    StreamState.UNSPECIFIED: "#495057",
}
_LEGEND = (
    ("step", Role.STEP),
    ("waiting", Role.WAIT),
    ("problem", Role.PROBLEM),
    ("idea", Role.IDEA),
    ("data", Role.DATA),
    ("persona", Role.PERSONA),
    ("note / legend", Role.NOTE),
)


@dataclass(frozen=True, slots=True)
class _Scale:
    left: float
    top: float
    factor: float

    def x(self, value: float) -> float:
        return MARGIN + (value - self.left) * self.factor

    def y(self, value: float) -> float:
        return MARGIN + HEADER + (value - self.top) * self.factor

    def length(self, value: float) -> float:
        return value * self.factor


def _n(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _geometry(item: Item) -> Geometry | None:
    geometry = item.geometry
    if geometry is None or not geometry.is_finite() or geometry.width < 0 or geometry.height < 0:
        return None
    return geometry


def _first_line(text: str) -> str:
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line if len(line) <= LABEL_CHARS else line[: LABEL_CHARS - 1] + "\u2026"


def explain_board(board: Board, ruleset: Ruleset | None = None) -> str:
    """The explain view of ``board`` read with ``ruleset`` (default rules): one SVG document."""
    rules = ruleset if ruleset is not None else Ruleset()
    classification = classify(board, rules)
    streams = build_streams(board, classification, rules)
    return render_explain_svg(board, classification, streams)


def render_explain_svg(
    board: Board, classification: Classification, streams: Sequence[Stream]
) -> str:
    """The explain view of an already digitized board (see the module docstring)."""
    placed = [(item, g) for item in board.items if (g := _geometry(item)) is not None]
    drawn = sorted(placed, key=lambda pair: _draw_order(pair[0]))[:MAX_ITEMS]
    left_out = len(placed) - len(drawn)
    if drawn:
        left = min(g.left for _, g in drawn)
        top = min(g.top for _, g in drawn)
        right = max(g.right for _, g in drawn)
        bottom = max(g.bottom for _, g in drawn)
    else:
        left = top = 0.0
        right = bottom = 1.0
    span_x, span_y = max(right - left, 1.0), max(bottom - top, 1.0)
    factor = min(MAX_WIDTH / span_x, MAX_HEIGHT / span_y)
    if not math.isfinite(factor) or factor <= 0:
        factor = 1.0
    scale = _Scale(left, top, factor)
    width = 2 * MARGIN + span_x * factor
    height = 2 * MARGIN + HEADER + span_y * factor + 28

    decisions = {d.item_id: d for d in classification.decisions}
    reasons = {u.item_id: u.reason for u in classification.unclassified}
    reasons.update({u.item_id: u.reason for u in unplaced(board, classification, streams)})
    geometry = {item.id: g for item, g in drawn}
    order: dict[str, int] = {}
    links: list[tuple[str, str, str]] = []  # (item id, step item id, kind)
    for stream in streams:
        step_item = {step.id: step.source_item_ids[0] for step in stream.steps}
        for step in stream.steps:
            order[step.source_item_ids[0]] = step.order
            for data_id in step.source_item_ids[1:]:
                links.append((data_id, step.source_item_ids[0], "data"))
        for problem in stream.problems:
            if problem.step_id is not None:
                links.append((problem.source_item_ids[0], step_item[problem.step_id], "problem"))
        for idea in stream.ideas:
            if idea.step_id is not None:
                links.append((idea.source_item_ids[0], step_item[idea.step_id], "idea"))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="vsm-explain" width="{_n(width)}" '
        f'height="{_n(height)}" viewBox="0 0 {_n(width)} {_n(height)}" role="img" '
        f'aria-label="{attr(f"How {board.name} was read", 300)}">',
        "<title>" + esc(f"How the board {board.name!r} was read", 300) + "</title>",
        "<defs>"
        '<pattern id="vsm-explain-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#868e96" stroke-width="2"/></pattern>'
        "</defs>",
        "<style>"
        "text{font-family:system-ui,'Segoe UI',Roboto,Arial,sans-serif;fill:#1f2933}"
        ".item{stroke:#868e96;stroke-width:0.6}"
        ".unread{stroke:#495057;stroke-dasharray:3 2}"
        ".frame{fill:none;stroke:#adb5bd;stroke-width:1}"
        ".stream{fill:none;stroke-width:3}"
        ".lane{fill:none;stroke:#7950f2;stroke-width:1.2;stroke-dasharray:8 4}"
        ".link{stroke:#495057;stroke-width:0.8;opacity:0.7}"
        ".order{fill:#1f2933}.order-text{fill:#ffffff;font-weight:700}"
        "</style>",
        f'<rect width="{_n(width)}" height="{_n(height)}" fill="#f8f9fa"/>',
        _header(board, streams, left_out),
    ]
    parts.extend(_frame(item, g, scale) for item, g in drawn if item.kind is ItemKind.CONTAINER)
    for stream in streams:
        parts.append(_stream_outline(stream, geometry, scale))
    for item, g in drawn:
        if item.kind is not ItemKind.CONTAINER:
            parts.append(_item(item, g, scale, decisions, reasons, classification))
    parts.append('<g class="links">')
    for source, target, kind in links:
        a, b = geometry.get(source), geometry.get(target)
        if a is not None and b is not None:
            parts.append(
                f'<line class="link link-{kind}" x1="{_n(scale.x(a.x))}" y1="{_n(scale.y(a.y))}" '
                f'x2="{_n(scale.x(b.x))}" y2="{_n(scale.y(b.y))}"/>'
            )
    parts.append("</g>")
    parts.append('<g class="orders">')
    for item_id, number in sorted(order.items()):
        g = geometry.get(item_id)
        if g is not None:
            cx, cy = scale.x(g.left), scale.y(g.top)
            parts.append(
                f'<g class="order-badge"><circle class="order" cx="{_n(cx)}" cy="{_n(cy)}" '
                f'r="9"/><text class="order-text" x="{_n(cx)}" y="{_n(cy + 3.5)}" '
                f'font-size="10" text-anchor="middle">{number}</text></g>'
            )
    parts.append("</g>")
    parts.append(_legend(height))
    parts.append("</svg>")
    return "".join(parts) + "\n"


def _draw_order(item: Item) -> tuple[int, float, str]:
    """Frames first (largest first, so nested frames stay visible), then everything else."""
    g = item.geometry
    area = g.width * g.height if g is not None else 0.0
    if item.kind is ItemKind.CONTAINER:
        return (0, -area, item.id)
    return (1, -area, item.id)


def _header(board: Board, streams: Sequence[Stream], left_out: int) -> str:
    summary = ", ".join(
        f"{stream.name} ({stream.state.value}, {len(stream.steps)} steps)" for stream in streams
    )
    note = f" \u2013 {left_out} items not drawn" if left_out else ""
    return (
        f'<text x="{_n(MARGIN)}" y="{_n(MARGIN + 14)}" font-size="16" font-weight="700">'
        f"{esc(board.name, 200)}</text>"
        f'<text x="{_n(MARGIN)}" y="{_n(MARGIN + 32)}" font-size="11">'
        f"{esc((summary or 'no value stream') + note, 600)}</text>"
    )


def _frame(item: Item, g: Geometry, scale: _Scale) -> str:
    x, y = scale.x(g.left), scale.y(g.top)
    return (
        f'<g class="container"><rect class="frame" x="{_n(x)}" y="{_n(y)}" '
        f'width="{_n(scale.length(g.width))}" height="{_n(scale.length(g.height))}"/>'
        f'<text x="{_n(x + 4)}" y="{_n(y + 12)}" font-size="10" fill="#495057">'
        f"{esc(_first_line(item.text), 200)}</text>"
        f"<title>{esc(item.text, 300)}</title></g>"
    )


def _stream_area(
    stream: Stream, geometry: Mapping[str, Geometry]
) -> tuple[float, float, float, float] | None:
    """(left, top, right, bottom) of the stream: its frame, else the box around its steps."""
    if stream.frame_id is not None and stream.frame_id in geometry:
        g = geometry[stream.frame_id]
        return g.left, g.top, g.right, g.bottom
    boxes = [
        geometry[s.source_item_ids[0]] for s in stream.steps if s.source_item_ids[0] in geometry
    ]
    if not boxes:
        return None
    pad = 10.0
    return (
        min(b.left for b in boxes) - pad,
        min(b.top for b in boxes) - pad,
        max(b.right for b in boxes) + pad,
        max(b.bottom for b in boxes) + pad,
    )


def _stream_outline(stream: Stream, geometry: Mapping[str, Geometry], scale: _Scale) -> str:
    area = _stream_area(stream, geometry)
    if area is None:
        return ""
    left, top, right, bottom = area
    stroke = STATE_STROKES[stream.state]
    parts = [
        f'<g class="stream-outline" data-state="{stream.state.value}">'
        f'<rect class="stream" stroke="{stroke}" x="{_n(scale.x(left))}" '
        f'y="{_n(scale.y(top))}" width="{_n(scale.length(right - left))}" '
        f'height="{_n(scale.length(bottom - top))}"/>'
        f"<title>{esc(f'stream {stream.name} ({stream.state.value})', 300)}</title></g>"
    ]
    for index, lane in enumerate(stream.lane_spans):
        start, end = lane.start, lane.end
        last = index == len(stream.lane_spans) - 1
        if lane.axis == "columns":
            lo = left if index == 0 else start
            hi = right if last else end
            box = (lo, top, hi, bottom)
        else:
            lo = top if index == 0 else start
            hi = bottom if last else end
            box = (left, lo, right, hi)
        parts.append(
            f'<g class="lane-outline"><rect class="lane" x="{_n(scale.x(box[0]))}" '
            f'y="{_n(scale.y(box[1]))}" width="{_n(scale.length(max(box[2] - box[0], 0)))}" '
            f'height="{_n(scale.length(max(box[3] - box[1], 0)))}"/>'
            f"<title>{esc(f'lane {lane.name} (rule {lane.rule})', 300)}</title></g>"
        )
    return "".join(parts)


def _item(
    item: Item,
    g: Geometry,
    scale: _Scale,
    decisions: Mapping[str, Decision],
    reasons: Mapping[str, str],
    classification: Classification,
) -> str:
    role = classification.roles.get(item.id)
    decision = decisions.get(item.id)
    reason = reasons.get(item.id)
    x, y = scale.x(g.left), scale.y(g.top)
    w, h = max(scale.length(g.width), 1.0), max(scale.length(g.height), 1.0)
    if item.kind in (ItemKind.CONNECTOR, ItemKind.IMAGE, ItemKind.OTHER):
        fill, css, role_text = "none", "item", item.kind.value
    elif reason is not None:
        fill, css, role_text = "url(#vsm-explain-hatch)", "item unread", "not read"
    elif item.id in classification.dots:
        fill, css, role_text = "#495057", "item dot", "vote dot"
    else:
        fill, css, role_text = FILLS.get(role, "#ffffff"), "item", role.value if role else ""
    if (
        role is None
        and reason is None
        and item.kind in (ItemKind.TEXT, ItemKind.SHAPE)
        and item.id not in classification.dots
    ):
        fill, role_text = "#ffffff", "title or lane label"
    why = ""
    if reason is not None:
        why = f"not read: {reason}"
    elif decision is not None:
        why = f"{role_text} \u2013 rule {decision.rule}: {decision.why}"
    elif role_text:
        why = role_text
    text = " ".join(item.text.split())[:300] or item.kind.value
    title = f"{text}\n{why}".strip()
    shape = (item.shape or "").casefold()
    if shape in TRIANGLE_SHAPES:
        body = (
            f'<polygon class="{css}" points="{_n(x + w / 2)},{_n(y)} {_n(x + w)},{_n(y + h)} '
            f'{_n(x)},{_n(y + h)}" fill="{fill}"/>'
        )
    elif item.id in classification.dots or shape in ("circle", "ellipse", "oval"):
        body = (
            f'<ellipse class="{css}" cx="{_n(x + w / 2)}" cy="{_n(y + h / 2)}" '
            f'rx="{_n(w / 2)}" ry="{_n(h / 2)}" fill="{fill}"/>'
        )
    else:
        body = (
            f'<rect class="{css}" x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" height="{_n(h)}" '
            f'fill="{fill}"/>'
        )
    label = ""
    font = min(10.0, max(h / 3, 4.0))
    if w > 24 and h > 8 and item.text.strip():
        fits = max(int(w / (font * 0.55)), 1)
        label = (
            f'<text x="{_n(x + 2)}" y="{_n(y + min(font + 1, h - 1))}" '
            f'font-size="{_n(font)}">{esc(_first_line(item.text)[:fits], 200)}</text>'
        )
    role_attr = "unread" if reason is not None else (role.value if role else "none")
    return (
        f'<g class="board-item" data-role="{role_attr}">{body}{label}'
        f"<title>{esc(title, 600)}</title></g>"
    )


def _legend(height: float) -> str:
    y = height - MARGIN
    parts = ['<g class="legend">']
    x = MARGIN
    for name, role in _LEGEND:
        parts.append(
            f'<rect x="{_n(x)}" y="{_n(y - 9)}" width="12" height="10" fill="{FILLS[role]}" '
            'stroke="#868e96" stroke-width="0.6"/>'
            f'<text x="{_n(x + 16)}" y="{_n(y)}" font-size="10">{name}</text>'
        )
        x += 20 + 6 * len(name) + 12
    parts.append(
        f'<rect x="{_n(x)}" y="{_n(y - 9)}" width="12" height="10" '
        'fill="url(#vsm-explain-hatch)" stroke="#495057"/>'
        f'<text x="{_n(x + 16)}" y="{_n(y)}" font-size="10">not read (hover for why)</text>'
    )
    parts.append("</g>")
    return "".join(parts)
