"""A contract v1 document -> one self-contained, printable HTML report page.

The page needs nothing but itself: inline CSS, the SVG maps inline, no scripts, no fonts, images
or styles fetched from anywhere. It carries its own Content-Security-Policy in a ``<meta>`` so a
saved copy opened from disk is as locked down as the served one (the server also sends
``CSP_HEADER``). Every board text is escaped; streams, rows and texts are capped with a note.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from service.domain.contract_model import (
    ComparedStep,
    Contract,
    ContractAccount,
    ContractComparison,
    ContractIdea,
    ContractMetrics,
    ContractProblem,
    ContractStep,
    ContractStream,
    ContractUnclassified,
)
from service.domain.render.svg import (
    MAX_STEPS,
    ratio_percent,
    render_stream_map,
    stream_element_id,
)
from service.domain.render.textfit import attr, esc, format_minutes, format_percent

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
MAX_ACCOUNT_ROWS = 50
# Step boxes drawn on one page; streams past this budget get their tables but no map, so a
# board of 100,000 stickies still gives a page a browser opens.
MAX_PAGE_MAP_STEPS = 2_000
# Maps up to this wide are shrunk to the page width (at most to 3/4, still legible); wider maps
# keep their natural size and scroll sideways.
FIT_MAX_WIDTH = 2000

PROVIDERS = {"miro": "Miro", "mural": "Mural"}
STATES = {"current": "Current state", "target": "Target state", "unspecified": "Value stream"}

_CSS = """
:root { color-scheme: light; --ink: #1f2933; --muted: #52606d; --line: #d9dee4; --soft: #f4f6f9; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #ffffff;
  font: 14px/1.45 system-ui, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans",
  "DejaVu Sans", "Liberation Sans", sans-serif, "Apple Color Emoji", "Segoe UI Emoji",
  "Noto Color Emoji"; }
main { max-width: 1600px; margin: 0 auto; padding: 24px 32px 48px; }
header.report { border-bottom: 2px solid var(--ink); padding-bottom: 12px; margin-bottom: 20px; }
h1 { font-size: 26px; margin: 0 0 4px; overflow-wrap: anywhere; }
h2 { font-size: 21px; margin: 0 0 10px; overflow-wrap: anywhere; }
h3 { font-size: 16px; margin: 22px 0 8px; }
.meta { color: var(--muted); margin: 0; }
.badge { display: inline-block; font-size: 12px; font-weight: 600; padding: 1px 8px;
  border-radius: 10px; background: var(--soft); border: 1px solid var(--line);
  vertical-align: middle; margin-left: 8px; }
.badge.current { background: #fff1e6; border-color: #f4b183; }
.badge.target { background: #e8f5e9; border-color: #9ccc9c; }
nav.toc ul { margin: 4px 0 0; padding-left: 20px; }
nav.toc a { color: #0b5cad; }
section { margin: 28px 0; }
.map { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; background: #fff;
  padding: 4px; }
.map svg { display: block; }
.map.fit svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; margin: 4px 0 8px; }
th, td { border: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top;
  overflow-wrap: anywhere; }
th { background: var(--soft); font-weight: 600; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
table.metrics td:first-child { font-weight: 600; }
.grid { display: flex; flex-wrap: wrap; gap: 8px 40px; align-items: flex-start; }
ol.problems { padding-left: 0; list-style: none; margin: 0; max-width: 900px; }
ol.problems li { display: flex; gap: 10px; margin: 0 0 8px; }
.rank { flex: none; width: 26px; height: 26px; border-radius: 50%; color: #fff;
  background: #b71c1c; font-weight: 700; font-size: 13px; text-align: center; line-height: 26px; }
.rank.w1 { background: #e65100; } .rank.w2 { background: #f9c74f; color: var(--ink); }
.rank.w0 { background: #9aa5b1; }
.muted { color: var(--muted); }
.nva { color: #6b7280; font-weight: 600; }
.up { color: #b71c1c; } .down { color: #1e7b34; }
.note { color: var(--muted); font-size: 13px; }
footer { margin-top: 36px; color: var(--muted); font-size: 12px; border-top: 1px solid var(--line);
  padding-top: 8px; }
@page { size: A4 landscape; margin: 12mm; }
@media print {
  body { font-size: 10.5pt; }
  main { max-width: none; padding: 0; }
  nav.toc { display: none; }
  section.stream { break-before: page; }
  section.stream:first-of-type { break-before: auto; }
  section.comparison, section.unclassified { break-before: page; }
  .map { overflow: visible; border: none; padding: 0; }
  .map svg { width: 100%; height: auto; max-height: 170mm; }
  tr, li { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""


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


def _metrics_table(metrics: ContractMetrics) -> str:
    lead = metrics.total_lead_time_min
    process = metrics.total_process_time_min
    rows = [
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
    body = "".join(f'<tr><td>{esc(k)}</td><td class="num">{esc(v)}</td></tr>' for k, v in rows)
    return f'<table class="metrics" aria-label="Metrics">{body}</table>'


def _rank_class(weight: float, max_weight: float) -> str:
    if weight <= 0:
        return "rank w0"
    share = weight / max_weight if max_weight > 0 else 0.0
    return "rank" if share >= 0.67 else "rank w1" if share >= 0.34 else "rank w2"


def _votes(weight: float) -> str:
    text = _count(weight)
    return f"{text} vote" if text == "1" else f"{text} votes"


def _problems(problems: Sequence[ContractProblem], titles: Mapping[str, str]) -> str:
    if not problems:
        return '<p class="muted">No problems recorded.</p>'
    weights = [float(p.weight or 0) for p in problems[:MAX_LIST_ITEMS]]
    top = max(weights, default=0.0)
    items = []
    for rank, (problem, weight) in enumerate(zip(problems, weights, strict=False), start=1):
        step_id = problem.step_id
        where = "whole stream" if step_id is None else titles.get(step_id, "") or "(untitled step)"
        items.append(
            f'<li data-rank="{rank}" data-problem-id="{attr(problem.id, 200)}">'
            f'<span class="{_rank_class(weight, top)}" aria-hidden="true">{rank}</span>'
            f'<div><div class="problem-text">{esc(problem.text or "(no text)")}</div>'
            f'<div class="muted">{esc(_votes(weight))} \u00b7 at: {esc(where, 300)}</div></div>'
            "</li>"
        )
    more = len(problems) - MAX_LIST_ITEMS
    note = f'<p class="note">{more} more problems not listed.</p>' if more > 0 else ""
    return f'<ol class="problems">{"".join(items)}</ol>{note}'


def _ideas(ideas: Sequence[ContractIdea], titles: Mapping[str, str]) -> str:
    if not ideas:
        return '<p class="muted">No ideas recorded.</p>'
    items = []
    for idea in ideas[:MAX_LIST_ITEMS]:
        step_id = idea.step_id
        where = "whole stream" if step_id is None else titles.get(step_id, "") or "?"
        items.append(
            f"<li>{esc(idea.text or '(no text)')} "
            f'<span class="muted">\u00b7 at: {esc(where, 300)}</span></li>'
        )
    more = len(ideas) - MAX_LIST_ITEMS
    note = f'<p class="note">{more} more ideas not listed.</p>' if more > 0 else ""
    return f'<ul class="ideas">{"".join(items)}</ul>{note}'


_NVA = '<span class="nva">NVA</span>'


def _steps_table(steps: Sequence[ContractStep], problem_ranks: Mapping[str, int]) -> str:
    if not steps:
        return '<p class="muted">No steps.</p>'
    laned = any(step.lane for step in steps[:MAX_TABLE_ROWS])
    head = (
        "<tr><th>#</th><th>Step</th>"
        + ("<th>Lane</th>" if laned else "")
        + "<th>Value</th><th>Process time</th>"
        "<th>Lead time</th><th>Wait time</th><th>%C&amp;A</th><th>Problems</th></tr>"
    )
    rows = []
    for step in steps[:MAX_TABLE_ROWS]:
        value_adding = step.value_adding is not False
        ranks = sorted(problem_ranks[pid] for pid in step.problem_ids if pid in problem_ranks)
        rows.append(
            f'<tr data-step-id="{attr(step.id, 200)}">'
            f'<td class="num">{esc(_count(step.order))}</td>'
            f"<td>{esc(step.title or '(untitled)', 500)}</td>"
            + (f"<td>{esc(step.lane or '', 200)}</td>" if laned else "")
            + f"<td>{'VA' if value_adding else _NVA}</td>"
            f'<td class="num">{esc(format_minutes(step.process_time_min))}</td>'
            f'<td class="num">{esc(format_minutes(step.lead_time_min))}</td>'
            f'<td class="num">{esc(format_minutes(step.wait_time_min))}</td>'
            f'<td class="num">'
            f"{esc(format_percent(step.complete_accurate_pct, digits=0))}</td>"
            f"<td>{esc(', '.join(str(r) for r in ranks[:20]))}</td></tr>"
        )
    more = len(steps) - MAX_TABLE_ROWS
    note = f'<p class="note">{more} more steps not listed.</p>' if more > 0 else ""
    return f'<table class="steps">{head}{"".join(rows)}</table>{note}'


def _stream_section(stream: ContractStream, *, draw_map: bool) -> str:
    anchor = stream_element_id(stream)
    state = stream.state or "unspecified"
    steps, problems = stream.steps, stream.problems
    titles = {s.id: s.title for s in steps}
    ranks = {p.id: rank for rank, p in enumerate(problems, start=1)}
    if draw_map:
        rendered = render_stream_map(stream)
        map_class = "map fit" if rendered.width <= FIT_MAX_WIDTH else "map"
        map_html = f'<div class="{map_class}">{rendered.svg}</div>'
    else:
        map_html = (
            '<p class="note map-left-out">The map of this stream is left out: the page already '
            f"draws {MAX_PAGE_MAP_STEPS:,} steps. Fetch it on its own as SVG "
            "(<code>GET /v1/streams/{id}/map.svg</code> or "
            "<code>vsm import FILE --format svg --stream ...</code>).</p>"
        )
    persona = stream.persona
    persona_html = f'<p class="meta">Persona: {esc(persona, 300)}</p>' if persona else ""
    return (
        f'<section class="stream" id="{anchor}" data-stream-id="{attr(stream.id, 200)}">'
        f"<h2>{esc(stream.name or 'Value stream', 300)}"
        f'<span class="badge {attr(state, 20)}">{esc(STATES.get(state, state), 40)}</span></h2>'
        f"{persona_html}"
        f"{map_html}"
        f'<div class="grid"><div><h3>Metrics</h3>{_metrics_table(stream.metrics)}'
        f"</div><div><h3>Problems, ranked by votes</h3>{_problems(problems, titles)}</div></div>"
        f"<h3>Ideas</h3>{_ideas(stream.ideas, titles)}"
        f"<h3>Steps</h3>{_steps_table(steps, ranks)}"
        "</section>"
    )


def _entry_title(entry: ComparedStep) -> str:
    """A kept/removed/added entry: its title (a renamed kept step shows both titles)."""
    current, target = entry.current_title, entry.target_title
    if current and target and current != target:
        return f"{current} \u2192 {target}"
    return current or target or "?"


def _steps_change_table(kind: str, items: Sequence[ComparedStep]) -> str:
    """Kept steps with their time change; removed/added steps with their times."""
    heading = {"kept": "Kept", "removed": "Removed", "added": "Added"}[kind]
    if not items:
        return f'<p><strong>{heading}:</strong> <span class="muted">none</span></p>'
    if kind == "kept":
        head = "<tr><th>Kept step</th><th>Lead time change</th><th>Process time change</th></tr>"
    else:
        head = f"<tr><th>{heading} step</th><th>Lead time</th><th>Process time</th></tr>"
    rows = []
    for entry in items[:MAX_TABLE_ROWS]:
        if kind == "kept":
            lead = _change(entry.lead_time_change_min, entry.lead_time_change_pct)
            process = _change(entry.process_time_change_min, entry.process_time_change_pct)
            lead_cls = _change_class(entry.lead_time_change_min)
            process_cls = _change_class(entry.process_time_change_min)
        else:
            lead = format_minutes(entry.lead_time_min)
            process = format_minutes(entry.process_time_min)
            lead_cls = process_cls = "num"
        rows.append(
            f'<tr><td>{esc(_entry_title(entry), 400)}</td><td class="{lead_cls}">{esc(lead)}</td>'
            f'<td class="{process_cls}">{esc(process)}</td></tr>'
        )
    more = len(items) - MAX_TABLE_ROWS
    note = f'<p class="note">{more} more steps not listed.</p>' if more > 0 else ""
    return f'<table class="comparison-{kind}">{head}{"".join(rows)}</table>{note}'


def _comparison_block(comparison: ContractComparison, names: Mapping[str, str]) -> str:
    current = comparison.current_stream_name or names.get(
        str(comparison.current_stream_id), "current state"
    )
    target = comparison.target_stream_name or names.get(
        str(comparison.target_stream_id), "target state"
    )
    figures = "".join(
        f'<tr><td>{label}</td><td class="{_change_class(minutes)}">'
        f"{esc(_change(minutes, pct))}</td></tr>"
        for label, minutes, pct in (
            (
                "Lead time change",
                comparison.lead_time_change_min,
                comparison.lead_time_change_pct,
            ),
            (
                "Process time change",
                comparison.process_time_change_min,
                comparison.process_time_change_pct,
            ),
        )
    )
    counts = ", ".join(
        f"{len(steps)} {kind}"
        for kind, steps in (
            ("kept", comparison.kept),
            ("removed", comparison.removed),
            ("added", comparison.added),
        )
    )
    partial = (
        '<p class="note">These streams are large: only steps with identical titles were '
        "matched.</p>"
        if comparison.exhaustive is False
        else ""
    )
    return (
        f'<div class="comparison-pair"><h3>{esc(current, 300)} \u2192 {esc(target, 300)}</h3>'
        f'<p class="muted">Steps: {esc(counts)}.</p>{partial}'
        f'<table class="comparison-figures">{figures}</table>'
        f"{_steps_change_table('kept', comparison.kept)}"
        f"{_steps_change_table('removed', comparison.removed)}"
        f"{_steps_change_table('added', comparison.added)}</div>"
    )


def _comparison_section(comparison: ContractComparison | None, names: Mapping[str, str]) -> str:
    """The contract's comparison: its first pair, then any ``other_pairs``."""
    if comparison is None:
        body = '<p class="muted">The board has no pair of current and target state streams.</p>'
    else:
        blocks = [comparison, *comparison.other_pairs[:9]]
        body = "".join(_comparison_block(block, names) for block in blocks)
    return f'<section class="comparison"><h2>Current state vs target state</h2>{body}</section>'


def _unclassified_section(rows: Sequence[ContractUnclassified]) -> str:
    if not rows:
        body = '<p class="muted">Every item on the board got a role.</p>'
    else:
        body = (
            '<table class="unclassified"><tr><th>Item</th><th>Text</th><th>Why</th></tr>'
            + "".join(
                f"<tr><td>{esc(r.item_id, 100)}</td><td>{esc(r.text, 500)}</td>"
                f"<td>{esc(r.reason, 500)}</td></tr>"
                for r in rows[:MAX_TABLE_ROWS]
            )
            + "</table>"
        )
        more = len(rows) - MAX_TABLE_ROWS
        if more > 0:
            body += f'<p class="note">{more} more items not listed.</p>'
    return f'<section class="unclassified"><h2>Not classified</h2>{body}</section>'


def _account_section(account: ContractAccount | None) -> str:
    """What became of every item read: used, skipped with the reasons, malformed, warnings."""
    if account is None:
        return ""
    used = sum(account.used.values())
    skipped = sum(entry.count for entry in account.skipped)
    rows = [
        f"<tr><td>Used</td><td>{used}</td><td>"
        + esc(", ".join(f"{role} {count}" for role, count in account.used.items()), 600)
        + "</td></tr>"
    ]
    rows += [
        f"<tr><td>Skipped</td><td>{entry.count}</td><td>{esc(entry.reason, 200)}</td></tr>"
        for entry in account.skipped[:MAX_ACCOUNT_ROWS]
    ]
    rows += [
        f"<tr><td>Malformed</td><td>{esc(item.item_id, 80)}</td>"
        f"<td>{esc(item.field or 'the item', 80)}: {esc(item.problem, 200)}</td></tr>"
        for item in account.malformed.items[:MAX_ACCOUNT_ROWS]
    ]
    warnings = "".join(
        f'<p class="note">{esc(warning.message, 400)}</p>' for warning in account.warnings
    )
    return (
        '<section class="account"><h2>What was read</h2>'
        f"<p>{account.read} items read: {used} used, {skipped} skipped, "
        f"{account.malformed.count} malformed.</p>{warnings}"
        '<table class="account"><tr><th></th><th>Items</th><th>What</th></tr>'
        f"{''.join(rows)}</table></section>"
    )


def render_report_html(
    doc: Contract, *, imported_at: str | None = None, revision: int | None = None
) -> str:
    """Render a contract v1 document as one self-contained HTML page (UTF-8 text).

    ``imported_at`` is shown as given (an ISO 8601 timestamp, say); ``revision`` is the board's
    revision number. Parts the decoder left empty are shown as unknown.
    """
    board = doc.board
    name = board.name or "Untitled board"
    provider = board.provider
    streams = doc.streams
    shown = streams[:MAX_STREAMS]
    names = {s.id: s.name for s in streams}

    provider_name = PROVIDERS.get(provider, provider or "Unknown provider")
    meta_parts = [f"{provider_name} board {board.id}".strip()]
    if imported_at:
        meta_parts.append(f"imported {imported_at}")
    if revision is not None:
        meta_parts.append(f"revision {revision}")
    meta_parts.append(f"{len(streams)} value stream{'s' if len(streams) != 1 else ''}")

    toc = "".join(
        f'<li><a href="#{stream_element_id(s)}">{esc(s.name or "Value stream", 200)}</a> '
        f'<span class="muted">{esc(STATES.get(str(s.state), ""), 40)}</span></li>'
        for s in shown
    )
    capped = (
        f'<p class="note">Showing {MAX_STREAMS} of {len(streams)} streams.</p>'
        if len(streams) > MAX_STREAMS
        else ""
    )
    drawn = 0
    parts = []
    for stream in shown:
        steps = min(len(stream.steps), MAX_STEPS)
        draw_map = drawn + steps <= MAX_PAGE_MAP_STEPS
        drawn += steps if draw_map else 0
        parts.append(_stream_section(stream, draw_map=draw_map))
    sections = "".join(parts) or ('<p class="muted">No value stream was found on this board.</p>')
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{attr(CSP_META)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="generator" content="Valuestream">'
        f"<title>{esc(name, 200)} \u2013 value stream report</title>"
        f"<style>{_CSS}</style></head><body><main>"
        f'<header class="report"><h1>{esc(name, 300)}</h1>'
        f'<p class="meta">{esc(" · ".join(meta_parts), 600)}</p></header>'
        f'<nav class="toc" aria-label="Value streams"><ul>{toc}</ul>{capped}</nav>'
        f"{sections}"
        f"{_comparison_section(doc.comparison, names)}"
        f"{_unclassified_section(doc.unclassified)}"
        f"{_account_section(doc.account)}"
        "<footer>Times: min, h, d (1 d = 8 working hours); ? = not stated on the board. "
        "Activity ratio = process time / lead time along the critical path. "
        "Made with Valuestream.</footer>"
        "</main></body></html>\n"
    )
