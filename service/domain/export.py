"""Contract v1 documents -> Markdown and CSV text, and human-readable times.

Pure functions shared by the CLI (``vsm import --format markdown|csv``) and the REST exports
(``GET /v1/streams/{id}/export?format=...``). Every string that came from a board is untrusted:
Markdown cells are escaped (table pipes, line breaks, HTML and Markdown syntax), CSV cells are
guarded against formula injection, and control characters are dropped from both.
"""

from __future__ import annotations

import csv
import io
import math
import unicodedata
from collections.abc import Iterable, Mapping, Sequence

from service.domain.contract_model import (
    ComparedStep,
    ComparisonPair,
    Contract,
    ContractMetrics,
    ContractStep,
    ContractStream,
)

# Columns of ``streams_to_csv``; one row per step.
CSV_COLUMNS: tuple[str, ...] = (
    "stream",
    "state",
    "order",
    "step",
    "lane",
    "value_adding",
    "process_time_min",
    "lead_time_min",
    "wait_time_min",
    "complete_accurate_pct",
    "problems",
    "problem_weight",
)

# A spreadsheet evaluates a cell starting with one of these as a formula (OWASP "CSV injection").
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

# Backslash-escaped in Markdown so board text cannot open links, emphasis, code or table cells.
_MARKDOWN_SPECIAL = frozenset("\\`*_[]|#!~")

_MISSING = "\u2013"  # en dash: "unknown"

# The steps tables' problem column, in the report page, the CLI and Markdown alike: the ranks
# (1 = most votes) of the step's problems in the stream's ranked problem list.
PROBLEM_RANKS_HEADER = "Problem ranks"


def safe_text(value: object) -> str:
    """``value`` as text without control characters (terminal escapes, NUL); keeps ``\\n``/``\\t``.

    None becomes the empty string.
    """
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():  # no Cc or Cs character (nor Cf, Z*, ...): nothing to remove, in C
        return text
    return "".join(
        ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs")
    )


def _number(value: float) -> str:
    """One decimal at most, none from 100 up and for whole numbers: 1.5, 12, 130."""
    rounded = round(value) if abs(value) >= 100 else round(value, 1)
    if rounded == int(rounded):
        return str(int(rounded))
    return f"{rounded:.1f}"


def format_minutes(minutes: float | None, *, hours_per_day: float = 8.0) -> str:
    """Minutes in the largest unit that reads naturally: ``"20 min"``, ``"1.5 h"``, ``"3 d"``.

    Days are working days of ``hours_per_day`` hours (8 by default, like the default ruleset), so
    ``format_minutes(960)`` is ``"2 d"``. Units switch at one of the larger unit: under 1 minute
    seconds, under 1 hour minutes, under one working day hours, else days. Unknown (None) or
    non-finite values give an en dash.
    """
    if minutes is None or not math.isfinite(minutes):
        return _MISSING
    day = 60.0 * hours_per_day if hours_per_day > 0 else 480.0
    size = abs(minutes)
    if size == 0:
        return "0 min"
    if size < 1:
        return f"{_number(minutes * 60)} s"
    if size < 60:
        return f"{_number(minutes)} min"
    if size < day:
        return f"{_number(minutes / 60)} h"
    return f"{_number(minutes / day)} d"


def format_percent(value: float | None) -> str:
    """A percentage (0-100 scale) as ``"80 %"``; None gives an en dash."""
    if value is None or not math.isfinite(value):
        return _MISSING
    return f"{_number(value)} %"


def format_ratio(value: float | None) -> str:
    """A fraction (0-1 scale, e.g. activity ratio) as a percentage ``"4.2 %"``; None: en dash."""
    if value is None or not math.isfinite(value):
        return _MISSING
    return format_percent(value * 100)


def format_change(minutes: float | None, pct: float | None) -> str:
    """A time change: ``"-2 d (-85 %)"``; a sign always shows, None parts are left out."""
    if minutes is None or not math.isfinite(minutes):
        return _MISSING
    sign = "+" if minutes > 0 else "-" if minutes < 0 else "±"
    text = f"{sign}{format_minutes(abs(minutes))}"
    if pct is not None and math.isfinite(pct):
        pct_sign = "+" if pct > 0 else ""
        text += f" ({pct_sign}{_number(pct)} %)"
    return text


def markdown_text(value: object) -> str:
    """Board text for a Markdown table cell or list item: safe to render, still readable.

    HTML-significant characters become entities, Markdown syntax characters are
    backslash-escaped, line breaks become ``<br>`` (the only way to break a table cell).
    """
    text = safe_text(value)
    out: list[str] = []
    for ch in text:
        if ch == "&":
            out.append("&amp;")
        elif ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        elif ch == '"':
            out.append("&quot;")
        elif ch in _MARKDOWN_SPECIAL:
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("<br>")
        elif ch == "\t":
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out).strip()


def _table(header: Sequence[str], align: str, rows: Iterable[Sequence[str]]) -> list[str]:
    """A pipe table; ``align`` has one letter per column: ``l`` left, ``r`` right."""
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def _yes_no(value: object) -> str:
    if value is None:
        return _MISSING
    return "yes" if value else "no"


def step_labels(stream: ContractStream) -> dict[str, str]:
    """Step id -> ``"3. Title"`` for naming the step a problem or idea hangs on."""
    return {step.id: f"{step.order}. {safe_text(step.title)}" for step in stream.steps}


def attached_to(labels: Mapping[str, str], step_id: str | None) -> str:
    """The label (from ``step_labels``) of the step a problem or idea hangs on, else
    ``whole stream``."""
    return labels.get(step_id, "whole stream") if step_id is not None else "whole stream"


def _stream_heading(stream: ContractStream) -> str:
    name = safe_text(stream.name) or "(unnamed stream)"
    return f"{name} ({safe_text(stream.state)})"


def stream_to_markdown(stream: ContractStream, *, level: int = 2) -> str:
    """One contract stream as Markdown: heading, persona and lanes, steps, problems, ideas, metrics.

    ``level`` is the heading level of the stream's own heading (its sections get ``level + 1``).
    """
    h = "#" * max(1, min(level, 5))
    sub = h + "#"
    labels = step_labels(stream)
    lines = [f"{h} {markdown_text(_stream_heading(stream))}", ""]
    if stream.persona:
        lines += [f"Persona: {markdown_text(stream.persona)}", ""]
    lanes = [markdown_text(lane) for lane in stream.lanes]
    if lanes:
        lines += ["Lanes: " + ", ".join(lanes), ""]

    steps = stream.steps
    lines += [f"{sub} Steps", ""]
    if steps:
        # a board without swimlanes gets no column of dashes
        show_lane = any(step.lane for step in steps)
        ranks = problem_ranks(stream)
        header = ["#", "Step", "Lane", "Value-adding", "PT", "LT", "WT", "%C&A"]
        header.append(PROBLEM_RANKS_HEADER)
        align = "rlllrrrrr"
        if not show_lane:
            del header[2]
            align = align[:2] + align[3:]
        rows = []
        for step in steps:
            row = [
                str(step.order),
                markdown_text(step.title),
                markdown_text(step.lane) or _MISSING,
                _yes_no(step.value_adding),
                format_minutes(step.process_time_min),
                format_minutes(step.lead_time_min),
                format_minutes(step.wait_time_min),
                format_percent(step.complete_accurate_pct),
                step_problem_ranks(step, ranks) or _MISSING,
            ]
            if not show_lane:
                del row[2]
            rows.append(row)
        lines += _table(header, align, rows)
    else:
        lines.append("No steps.")
    lines.append("")

    problems = stream.problems
    lines += [f"{sub} Problems (most votes first)", ""]
    if problems:
        lines += _table(
            ("Rank", "Votes", "Problem", "Step"),
            "rrll",
            (
                (
                    str(rank),
                    str(problem.weight),
                    markdown_text(problem.text),
                    markdown_text(attached_to(labels, problem.step_id)),
                )
                for rank, problem in enumerate(problems, start=1)
            ),
        )
    else:
        lines.append("No problems.")
    lines.append("")

    ideas = stream.ideas
    lines += [f"{sub} Ideas", ""]
    if ideas:
        lines += _table(
            ("Idea", "Step"),
            "ll",
            (
                (markdown_text(idea.text), markdown_text(attached_to(labels, idea.step_id)))
                for idea in ideas
            ),
        )
    else:
        lines.append("No ideas.")
    lines.append("")

    lines += [f"{sub} Metrics", ""]
    lines += _table(("Metric", "Value"), "lr", metric_rows(stream.metrics))
    lines.append("")
    return "\n".join(lines)


def metric_rows(metrics: ContractMetrics) -> list[tuple[str, str]]:
    """The stream metrics as (label, human-readable value) pairs, in reading order."""

    def count(value: int | None) -> str:
        return _MISSING if value is None else str(value)

    return [
        ("Steps", count(metrics.step_count)),
        ("Value-adding steps", count(metrics.value_adding_steps)),
        ("Non-value-adding steps", count(metrics.non_value_adding_steps)),
        ("Total process time", format_minutes(metrics.total_process_time_min)),
        ("Total lead time", format_minutes(metrics.total_lead_time_min)),
        ("Activity ratio", format_ratio(metrics.activity_ratio)),
        ("Rolled %C&A", format_ratio(metrics.rolled_complete_accurate)),
        ("Handoffs", count(metrics.handoffs)),
        ("Problems", count(metrics.problem_count)),
        ("Votes on problems", count(metrics.problem_weight)),
    ]


def comparison_rows(comparison: ComparisonPair) -> list[tuple[str, str]]:
    """The current-vs-target comparison as (label, value) pairs; step titles are joined by ``;``."""

    def titles(entries: Sequence[ComparedStep]) -> str:
        names = [_comparison_title(entry) for entry in entries]
        return "; ".join(names) if names else _MISSING

    return [
        ("Current stream", safe_text(comparison.current_stream_name or _MISSING)),
        ("Target stream", safe_text(comparison.target_stream_name or _MISSING)),
        ("Kept steps", titles(comparison.kept)),
        ("Removed steps", titles(comparison.removed)),
        ("Added steps", titles(comparison.added)),
        (
            "Lead time change",
            format_change(comparison.lead_time_change_min, comparison.lead_time_change_pct),
        ),
        (
            "Process time change",
            format_change(comparison.process_time_change_min, comparison.process_time_change_pct),
        ),
    ]


def _comparison_title(entry: ComparedStep) -> str:
    """A kept/removed/added entry's title; a kept step renamed shows both titles."""
    current, target = entry.current_title, entry.target_title
    if current is not None and target is not None and current != target:
        return f"{safe_text(current)} → {safe_text(target)}"
    return safe_text(current or target or "")


def problem_ranks(stream: ContractStream) -> dict[str, int]:
    """Problem id -> rank in the stream's problem list (1 = most votes; the list is ranked)."""
    return {problem.id: rank for rank, problem in enumerate(stream.problems, start=1)}


def step_problem_ranks(step: ContractStep, ranks: Mapping[str, int], limit: int = 20) -> str:
    """The ranks of ``step``'s problems, ascending: ``"1, 4"``; empty when it has none."""
    found = sorted(ranks[pid] for pid in step.problem_ids if pid in ranks)
    return ", ".join(str(rank) for rank in found[:limit])


def contract_to_markdown(doc: Contract) -> str:
    """A contract v1 document as one Markdown report: board, streams, comparison, leftovers."""
    board = doc.board
    title = safe_text(board.name) or "Value streams"
    lines = [
        f"# {markdown_text(title)}",
        "",
        f"Source: {markdown_text(board.provider)} board {markdown_text(board.id)}",
        "",
    ]
    streams = doc.streams
    for stream in streams:
        lines.append(stream_to_markdown(stream, level=2))
    if not streams:
        lines += ["No value stream found on this board.", ""]
    comparison = doc.comparison
    if comparison is not None:
        lines += ["## Current vs target state", ""]
        lines += _table(
            ("", "Value"),
            "ll",
            ((label, markdown_text(value)) for label, value in comparison_rows(comparison)),
        )
        lines.append("")
    unclassified = doc.unclassified
    lines += [f"## Unclassified items ({len(unclassified)})", ""]
    if unclassified:
        lines += _table(
            ("Item", "Text", "Reason"),
            "lll",
            (
                (
                    markdown_text(entry.item_id),
                    markdown_text(entry.text),
                    markdown_text(entry.reason),
                )
                for entry in unclassified
            ),
        )
    else:
        lines.append("Every item found a role.")
    lines.append("")
    return "\n".join(lines)


def csv_cell(value: object) -> str | int | float:
    """A value for a CSV cell: numbers stay numbers, text is cleaned and formula-guarded.

    Text starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading ``'`` so
    that spreadsheets show it instead of evaluating it. None becomes the empty string.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return value if not isinstance(value, float) or math.isfinite(value) else ""
    text = safe_text(value)
    if text.startswith(_FORMULA_PREFIXES):
        return "'" + text
    return text


# Spreadsheet dialects: "excel" (comma, decimal point) and "excel-de" (semicolon, decimal comma)
# as German Excel expects when it opens a .csv by double-click.
CSV_DIALECTS: dict[str, tuple[str, str]] = {"excel": (",", "."), "excel-de": (";", ",")}
# Excel reads a CSV as UTF-8 only when the file starts with a byte order mark.
CSV_BOM = "\ufeff"


def streams_to_csv(
    streams: Sequence[ContractStream], *, dialect: str = "excel", bom: bool = True
) -> str:
    """One row per step across ``streams``, with a header row, starting with a BOM.

    Times are in minutes as numbers (empty when unknown), ``problems`` counts the problems
    attached to the step and ``problem_weight`` sums their votes. Lines end with CRLF (RFC 4180).
    ``dialect`` is a key of ``CSV_DIALECTS``: ``excel-de`` separates with ``;`` and writes
    decimal commas. Raises ``ValueError`` for another dialect.
    """
    if dialect not in CSV_DIALECTS:
        raise ValueError(f"unknown CSV dialect {dialect!r}: use {' or '.join(CSV_DIALECTS)}")
    delimiter, decimal = CSV_DIALECTS[dialect]
    buffer = io.StringIO()
    if bom:
        buffer.write(CSV_BOM)
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(CSV_COLUMNS)
    for stream in streams:
        weights = {problem.id: problem.weight or 0 for problem in stream.problems}
        for step in stream.steps:
            row = (
                stream.name,
                stream.state,
                step.order,
                step.title,
                step.lane,
                step.value_adding,
                step.process_time_min,
                step.lead_time_min,
                step.wait_time_min,
                step.complete_accurate_pct,
                len(step.problem_ids),
                sum(weights.get(pid, 0) for pid in step.problem_ids),
            )
            writer.writerow([_localized(csv_cell(value), decimal) for value in row])
    return buffer.getvalue()


def _localized(cell: str | int | float, decimal: str) -> str | int | float:
    if decimal == "." or not isinstance(cell, float):
        return cell
    return repr(cell).replace(".", decimal)
