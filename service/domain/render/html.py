"""A contract v1 document -> one self-contained, printable HTML report page.

The page needs nothing but itself: inline CSS, the SVG maps inline, no scripts, no fonts, images
or styles fetched from anywhere. It carries its own Content-Security-Policy in a ``<meta>`` so a
saved copy opened from disk is as locked down as the served one (the server also sends
``CSP_HEADER``). Every board text is escaped; streams, rows and texts are capped with a note.

The page is the jinja2 template ``templates/report.html`` (autoescaping on; board text goes
through the ``text`` and ``attribute`` filters, the escaping the SVG map uses too) with its
stylesheet ``templates/report.css``; this module turns the contract into what they show.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources

from jinja2 import Environment, PackageLoader, StrictUndefined
from jinja2.ext import Extension
from markupsafe import Markup

from service.domain.contract_model import (
    ComparedStep,
    ComparisonPair,
    Contract,
    ContractMetrics,
    ContractProblem,
    ContractStream,
)
from service.domain.export import problem_ranks, step_problem_ranks
from service.domain.render.svg import (
    COL_W,
    MAX_STEPS,
    ROW_H,
    ratio_percent,
    render_stream_map,
    step_element_id,
    stream_element_id,
)
from service.domain.render.textfit import (
    MAX_TEXT_CHARS,
    attr,
    esc,
    format_minutes,
    format_percent,
)
from service.domain.render.trends_html import trends_section
from service.domain.trends import Trend

# Sent by the API with the page. No script-src: scripts fall back to default-src 'none'.
CSP_HEADER = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# frame-ancestors is ignored (with a console warning) when delivered in a <meta> element.
CSP_META = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
    "base-uri 'none'; form-action 'none'"
)

MAX_STREAMS = 30
MAX_TABLE_ROWS = 500
MAX_LIST_ITEMS = 200
# Step boxes drawn on one page; streams past this budget get their tables but no map, so a
# board of 100,000 stickies still gives a page a browser opens.
MAX_PAGE_MAP_STEPS = 2_000
# Maps up to this wide are shrunk to the page width (at most to 3/4, still legible); wider maps
# keep their natural size and scroll sideways.
FIT_MAX_WIDTH = 2000

# Print: a map goes on paper at its natural size (its smallest text, 11 px, is 8.25 pt), cut
# into tiles that fit A4 portrait and landscape between 12 mm margins (186 mm = 703 px across,
# with room for the heading down). A tile overlaps the next by a step column (a lane row down),
# so every step box is whole on one of them; on wider paper tiles sit side by side again.
PRINT_TILE_W = 680.0
PRINT_TILE_H = 640.0

PROVIDERS = {"miro": "Miro", "mural": "Mural"}
STATES = {"current": "Current state", "target": "Target state", "unspecified": "Value stream"}


def _count(number: float | None) -> str:
    if number is None:
        return "?"
    return str(int(number)) if number == int(number) else f"{number:.1f}"


def _change(value: float | None, share: float | None) -> str:
    if value is None:
        return "?"
    sign = "+" if value > 0 else "-" if value < 0 else "\u00b1"
    text = f"{sign}{format_minutes(abs(value))}"
    if share is not None:
        text += f" ({'+' if share > 0 else ''}{format_percent(share)})"
    return text


def _change_class(value: float | None) -> str:
    if value is None or value == 0:
        return "num"
    return "num up" if value > 0 else "num down"


def _metric_rows(metrics: ContractMetrics) -> list[tuple[str, str]]:
    lead = metrics.total_lead_time_min
    process = metrics.total_process_time_min
    return [
        ("Lead time", format_minutes(lead)),
        ("Process time", format_minutes(process)),
        (
            "Waiting time",
            format_minutes(lead - process) if lead is not None and process is not None else "?",
        ),
        ("Activity ratio", format_percent(ratio_percent(metrics.activity_ratio))),
        ("Rolled %C&A", format_percent(ratio_percent(metrics.rolled_complete_accurate))),
        ("Handoffs", _count(metrics.handoffs)),
        (
            "Steps (value-adding / not)",
            f"{_count(metrics.step_count)} "
            f"({_count(metrics.value_adding_steps)} / "
            f"{_count(metrics.non_value_adding_steps)})",
        ),
        ("Problems", _count(metrics.problem_count)),
        ("Votes on problems", _count(metrics.problem_weight)),
    ]


def _rank_class(weight: float, max_weight: float) -> str:
    if weight <= 0:
        return "rank w0"
    share = weight / max_weight if max_weight > 0 else 0.0
    return "rank" if share >= 0.67 else "rank w1" if share >= 0.34 else "rank w2"


def _votes(weight: float) -> str:
    text = _count(weight)
    return f"{text} vote" if text == "1" else f"{text} votes"


@dataclass(frozen=True, slots=True)
class _ProblemRow:
    rank: int
    id: str
    rank_class: str
    text: str
    votes: str
    where: str


@dataclass(frozen=True, slots=True)
class _StepRow:
    id: str
    anchor: str
    order: str
    title: str
    lane: str
    value_adding: bool
    process: str
    lead: str
    wait: str
    quality: str
    problems: str  # the ranks of the step's problems


@dataclass(frozen=True, slots=True)
class PrintTile:
    """One printed piece of a map: the ``viewBox`` window ``x y w h`` drawn at 1:1."""

    x: float
    y: float
    w: float
    h: float


def _starts(total: float, size: float, step: float) -> list[float]:
    if total <= size:
        return [0.0]
    count = math.ceil((total - size) / step)
    return [min(i * step, total - size) for i in range(count + 1)]


def print_tiles(width: float, height: float) -> list[PrintTile]:
    """The tiles a ``width`` x ``height`` map prints as, row by row (see ``PRINT_TILE_W``)."""
    w, h = min(width, PRINT_TILE_W), min(height, PRINT_TILE_H)
    return [
        PrintTile(x, y, w, h)
        for y in _starts(height, PRINT_TILE_H, PRINT_TILE_H - ROW_H)
        for x in _starts(width, PRINT_TILE_W, PRINT_TILE_W - COL_W)
    ]


@dataclass(frozen=True, slots=True)
class _StreamSection:
    anchor: str
    id: str
    name: str
    state: str
    badge: str
    persona: str | None
    map: Markup | None  # None: left out, the page's map budget is spent
    map_fits: bool
    drawing_id: str
    tiles: list[PrintTile]
    metrics: list[tuple[str, str]]
    problems: list[_ProblemRow]
    problems_more: int
    ideas: list[tuple[str, str]]  # text, where
    ideas_more: int
    laned: bool
    steps: list[_StepRow]
    steps_more: int


def _problem_rows(
    problems: Sequence[ContractProblem], titles: Mapping[str, str]
) -> list[_ProblemRow]:
    weights = [float(p.weight or 0) for p in problems[:MAX_LIST_ITEMS]]
    top = max(weights, default=0.0)
    return [
        _ProblemRow(
            rank=rank,
            id=problem.id,
            rank_class=_rank_class(weight, top),
            text=problem.text or "(no text)",
            votes=_votes(weight),
            where=(
                "whole stream"
                if problem.step_id is None
                else titles.get(problem.step_id, "") or "(untitled step)"
            ),
        )
        for rank, (problem, weight) in enumerate(zip(problems, weights, strict=False), start=1)
    ]


def _stream_section(stream: ContractStream, *, draw_map: bool) -> _StreamSection:
    state = stream.state or "unspecified"
    steps, problems, ideas = stream.steps, stream.problems, stream.ideas
    titles = {s.id: s.title for s in steps}
    ranks = problem_ranks(stream)
    rendered = render_stream_map(stream) if draw_map else None
    shown_steps = steps[:MAX_TABLE_ROWS]
    return _StreamSection(
        anchor=stream_element_id(stream),
        id=stream.id,
        name=stream.name or "Value stream",
        state=state,
        badge=STATES.get(state, state),
        persona=stream.persona,
        map=Markup(rendered.svg) if rendered is not None else None,  # noqa: S704 (escaped SVG)
        map_fits=rendered is not None and rendered.width <= FIT_MAX_WIDTH,
        drawing_id=rendered.drawing_id if rendered is not None else "",
        tiles=print_tiles(rendered.width, rendered.height) if rendered is not None else [],
        metrics=_metric_rows(stream.metrics),
        problems=_problem_rows(problems, titles),
        problems_more=len(problems) - MAX_LIST_ITEMS,
        ideas=[
            (
                idea.text or "(no text)",
                "whole stream" if idea.step_id is None else titles.get(idea.step_id, "") or "?",
            )
            for idea in ideas[:MAX_LIST_ITEMS]
        ],
        ideas_more=len(ideas) - MAX_LIST_ITEMS,
        laned=any(step.lane for step in shown_steps),
        steps=[
            _StepRow(
                id=step.id,
                anchor=step_element_id(stream, step.id),
                order=_count(step.order),
                title=step.title or "(untitled)",
                lane=step.lane or "",
                value_adding=step.value_adding is not False,
                process=format_minutes(step.process_time_min),
                lead=format_minutes(step.lead_time_min),
                wait=format_minutes(step.wait_time_min),
                quality=format_percent(step.complete_accurate_pct, digits=0),
                problems=step_problem_ranks(step, ranks),
            )
            for step in shown_steps
        ],
        steps_more=len(steps) - MAX_TABLE_ROWS,
    )


def _entry_title(entry: ComparedStep) -> str:
    """A kept/removed/added entry: its title (a renamed kept step shows both titles)."""
    current, target = entry.current_title, entry.target_title
    if current and target and current != target:
        return f"{current} \u2192 {target}"
    return current or target or "?"


@dataclass(frozen=True, slots=True)
class _ChangeTable:
    """Kept steps with their time change, or removed/added steps with their times."""

    kind: str
    heading: str
    rows: list[tuple[str, str, str, str, str]]  # title, lead class, lead, process class, process
    more: int


@dataclass(frozen=True, slots=True)
class _ComparisonPair:
    current: str
    target: str
    counts: str
    exhaustive: bool | None
    figures: list[tuple[str, str, str]]  # label, class, change
    tables: list[_ChangeTable]


def _change_table(kind: str, entries: Sequence[ComparedStep]) -> _ChangeTable:
    rows = []
    for entry in entries[:MAX_TABLE_ROWS]:
        if kind == "kept":
            lead_min, process_min = entry.lead_time_change_min, entry.process_time_change_min
            rows.append(
                (
                    _entry_title(entry),
                    _change_class(lead_min),
                    _change(lead_min, entry.lead_time_change_pct),
                    _change_class(process_min),
                    _change(process_min, entry.process_time_change_pct),
                )
            )
        else:
            lead, process = entry.lead_time_min, entry.process_time_min
            rows.append(
                (_entry_title(entry), "num", format_minutes(lead), "num", format_minutes(process))
            )
    heading = {"kept": "Kept", "removed": "Removed", "added": "Added"}[kind]
    return _ChangeTable(kind, heading, rows, len(entries) - MAX_TABLE_ROWS)


def _comparison_pair(comparison: ComparisonPair, names: Mapping[str, str]) -> _ComparisonPair:
    kinds = (
        ("kept", comparison.kept),
        ("removed", comparison.removed),
        ("added", comparison.added),
    )
    figures = (
        ("Lead time change", comparison.lead_time_change_min, comparison.lead_time_change_pct),
        (
            "Process time change",
            comparison.process_time_change_min,
            comparison.process_time_change_pct,
        ),
    )
    return _ComparisonPair(
        current=comparison.current_stream_name
        or names.get(str(comparison.current_stream_id), "current state"),
        target=comparison.target_stream_name
        or names.get(str(comparison.target_stream_id), "target state"),
        counts=", ".join(f"{len(steps)} {kind}" for kind, steps in kinds),
        exhaustive=comparison.exhaustive,
        figures=[(label, _change_class(m), _change(m, pct)) for label, m, pct in figures],
        tables=[_change_table(kind, steps) for kind, steps in kinds],
    )


class _OneLine(Extension):
    """Removes line breaks and the indentation after them from the template source: the
    template is laid out one element per line, the page stays on one line (a ``"\\n"``
    expression writes a line break where the page has one)."""

    _BREAK = re.compile(r"\n[ \t]*")

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        return self._BREAK.sub("", source)


def _text_filter(value: object, limit: int = MAX_TEXT_CHARS) -> Markup:
    return Markup(esc(value, limit))  # noqa: S704 (escaped by esc)


def _attribute_filter(value: object, limit: int = MAX_TEXT_CHARS) -> Markup:
    return Markup(attr(value, limit))  # noqa: S704 (escaped by attr)


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("service.domain.render", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        extensions=[_OneLine],
    )
    env.filters["text"] = _text_filter
    env.filters["attribute"] = _attribute_filter
    return env


_TEMPLATE = _environment().get_template("report.html")
_CSS = Markup(  # noqa: S704 (our own stylesheet)
    resources.files("service.domain.render").joinpath("templates/report.css").read_text("utf-8")
)


def render_report_html(
    doc: Contract,
    *,
    imported_at: str | None = None,
    revision: int | None = None,
    trends: Sequence[Trend] = (),
) -> str:
    """Render a contract v1 document as one self-contained HTML page (UTF-8 text).

    ``imported_at`` is shown as given (an ISO 8601 timestamp, say); ``revision`` is the board's
    revision number; ``trends`` (the board's streams across its revisions up to this one) add
    the "Since the last workshop" section. Parts the decoder left empty are shown as unknown.
    """
    board = doc.board
    streams = doc.streams
    shown = streams[:MAX_STREAMS]
    names = {s.id: s.name for s in streams}

    provider_name = PROVIDERS.get(board.provider, board.provider or "Unknown provider")
    meta_parts = [f"{provider_name} board {board.id}".strip()]
    if imported_at:
        meta_parts.append(f"imported {imported_at}")
    if revision is not None:
        meta_parts.append(f"revision {revision}")
    meta_parts.append(f"{len(streams)} value stream{'s' if len(streams) != 1 else ''}")

    drawn = 0
    sections = []
    for stream in shown:
        steps = min(len(stream.steps), MAX_STEPS)
        draw_map = drawn + steps <= MAX_PAGE_MAP_STEPS
        drawn += steps if draw_map else 0
        sections.append(_stream_section(stream, draw_map=draw_map))
    comparison = doc.comparison
    pairs = [comparison, *comparison.other_pairs[:9]] if comparison is not None else []
    return _TEMPLATE.render(
        csp=CSP_META,
        css=_CSS,
        name=board.name or "Untitled board",
        meta=" \u00b7 ".join(meta_parts),
        toc=[
            {
                "anchor": stream_element_id(s),
                "name": s.name or "Value stream",
                "state": STATES.get(str(s.state), ""),
            }
            for s in shown
        ],
        streams_shown=len(shown),
        streams_total=len(streams),
        sections=sections,
        map_budget=f"{MAX_PAGE_MAP_STEPS:,}",
        # built by trends_html, which escapes every board text itself
        trends=Markup(trends_section(trends)),  # noqa: S704
        comparisons=[_comparison_pair(pair, names) for pair in pairs],
        warnings=doc.warnings[:MAX_TABLE_ROWS],
        unclassified=doc.unclassified[:MAX_TABLE_ROWS],
        unclassified_more=len(doc.unclassified) - MAX_TABLE_ROWS,
        account=doc.account,
        account_used=sum(doc.account.used.values()) if doc.account else 0,
        account_skipped=sum(entry.count for entry in doc.account.skipped) if doc.account else 0,
    )
