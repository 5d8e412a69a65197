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
from typing import Any

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


def _step_labels(stream: Mapping[str, Any]) -> dict[str, str]:
    """Step id -> ``"3. Title"`` for naming the step a problem or idea hangs on."""
    labels: dict[str, str] = {}
    for step in stream.get("steps") or ():
        labels[str(step.get("id"))] = f"{step.get('order')}. {safe_text(step.get('title'))}"
    return labels


def _stream_heading(stream: Mapping[str, Any]) -> str:
    name = safe_text(stream.get("name")) or "(unnamed stream)"
    return f"{name} ({safe_text(stream.get('state'))})"


def stream_to_markdown(stream: Mapping[str, Any], *, level: int = 2) -> str:
    """One contract stream as Markdown: heading, persona and lanes, steps, problems, ideas, metrics.

    ``level`` is the heading level of the stream's own heading (its sections get ``level + 1``).
    """
    h = "#" * max(1, min(level, 5))
    sub = h + "#"
    labels = _step_labels(stream)
    lines = [f"{h} {markdown_text(_stream_heading(stream))}", ""]
    if stream.get("persona"):
        lines += [f"Persona: {markdown_text(stream['persona'])}", ""]
    lanes = [markdown_text(lane) for lane in stream.get("lanes") or ()]
    if lanes:
        lines += ["Lanes: " + ", ".join(lanes), ""]

    steps = stream.get("steps") or ()
    lines += [f"{sub} Steps", ""]
    if steps:
        # a board without swimlanes gets no column of dashes
        show_lane = any(step.get("lane") for step in steps)
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
                str(step.get("order")),
                markdown_text(step.get("title")),
                markdown_text(step.get("lane")) or _MISSING,
                _yes_no(step.get("value_adding")),
                format_minutes(step.get("process_time_min")),
                format_minutes(step.get("lead_time_min")),
                format_minutes(step.get("wait_time_min")),
                format_percent(step.get("complete_accurate_pct")),
                step_problem_ranks(step, ranks) or _MISSING,
            ]
            if not show_lane:
                del row[2]
            rows.append(row)
        lines += _table(header, align, rows)
    else:
        lines.append("No steps.")
    lines.append("")

    problems = stream.get("problems") or ()
    lines += [f"{sub} Problems (most votes first)", ""]
    if problems:
        lines += _table(
            ("Rank", "Votes", "Problem", "Step"),
            "rrll",
            (
                (
                    str(rank),
                    str(problem.get("weight")),
                    markdown_text(problem.get("text")),
                    markdown_text(labels.get(str(problem.get("step_id")), "whole stream")),
                )
                for rank, problem in enumerate(problems, start=1)
            ),
        )
    else:
        lines.append("No problems.")
    lines.append("")

    ideas = stream.get("ideas") or ()
    lines += [f"{sub} Ideas", ""]
    if ideas:
        lines += _table(
            ("Idea", "Step"),
            "ll",
            (
                (
                    markdown_text(idea.get("text")),
                    markdown_text(labels.get(str(idea.get("step_id")), "whole stream")),
                )
                for idea in ideas
            ),
        )
    else:
        lines.append("No ideas.")
    lines.append("")

    lines += [f"{sub} Metrics", ""]
    lines += _table(("Metric", "Value"), "lr", metric_rows(stream.get("metrics") or {}))
    lines.append("")
    return "\n".join(lines)


def metric_rows(metrics: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The stream metrics as (label, human-readable value) pairs, in reading order."""

    def count(key: str) -> str:
        value = metrics.get(key)
        return _MISSING if value is None else str(value)

    return [
        ("Steps", count("step_count")),
        ("Value-adding steps", count("value_adding_steps")),
        ("Non-value-adding steps", count("non_value_adding_steps")),
        ("Total process time", format_minutes(metrics.get("total_process_time_min"))),
        ("Total lead time", format_minutes(metrics.get("total_lead_time_min"))),
        ("Activity ratio", format_ratio(metrics.get("activity_ratio"))),
        ("Rolled %C&A", format_ratio(metrics.get("rolled_complete_accurate"))),
        ("Handoffs", count("handoffs")),
        ("Problems", count("problem_count")),
        ("Votes on problems", count("problem_weight")),
    ]


def comparison_rows(comparison: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The current-vs-target comparison as (label, value) pairs; step titles are joined by ``;``."""

    def titles(key: str) -> str:
        entries = comparison.get(key) or ()
        names = [_comparison_title(entry) for entry in entries]
        return "; ".join(names) if names else _MISSING

    rows = [
        ("Current stream", safe_text(comparison.get("current_stream_name") or _MISSING)),
        ("Target stream", safe_text(comparison.get("target_stream_name") or _MISSING)),
        ("Kept steps", titles("kept")),
        ("Removed steps", titles("removed")),
        ("Added steps", titles("added")),
        (
            "Lead time change",
            format_change(
                comparison.get("lead_time_change_min"), comparison.get("lead_time_change_pct")
            ),
        ),
        (
            "Process time change",
            format_change(
                comparison.get("process_time_change_min"), comparison.get("process_time_change_pct")
            ),
        ),
    ]
    return rows


def _comparison_title(entry: object) -> str:
    """A kept/removed/added entry: a title string, or a dict naming the step(s)."""
    if isinstance(entry, Mapping):
        current = entry.get("current_title")
        target = entry.get("target_title")
        if current is not None and target is not None and current != target:
            return f"{safe_text(current)} → {safe_text(target)}"
        return safe_text(entry.get("title") or current or target or "")
    return safe_text(entry)


def problem_ranks(stream: Mapping[str, Any]) -> dict[str, int]:
    """Problem id -> rank in the stream's problem list (1 = most votes; the list is ranked)."""
    return {
        str(problem.get("id")): rank
        for rank, problem in enumerate(stream.get("problems") or (), start=1)
        if isinstance(problem, Mapping)
    }


def step_problem_ranks(step: Mapping[str, Any], ranks: Mapping[str, int], limit: int = 20) -> str:
    """The ranks of ``step``'s problems, ascending: ``"1, 4"``; empty when it has none."""
    found = sorted(ranks[str(pid)] for pid in step.get("problem_ids") or () if str(pid) in ranks)
    return ", ".join(str(rank) for rank in found[:limit])


def contract_to_markdown(doc: Mapping[str, Any]) -> str:
    """A contract v1 document as one Markdown report: board, streams, comparison, leftovers."""
    board = doc.get("board") or {}
    title = safe_text(board.get("name")) or "Value streams"
    lines = [
        f"# {markdown_text(title)}",
        "",
        f"Source: {markdown_text(board.get('provider'))} board {markdown_text(board.get('id'))}",
        "",
    ]
    streams = doc.get("streams") or ()
    for stream in streams:
        lines.append(stream_to_markdown(stream, level=2))
    if not streams:
        lines += ["No value stream found on this board.", ""]
    comparison = doc.get("comparison")
    if comparison:
        lines += ["## Current vs target state", ""]
        lines += _table(
            ("", "Value"),
            "ll",
            ((label, markdown_text(value)) for label, value in comparison_rows(comparison)),
        )
        lines.append("")
    unclassified = doc.get("unclassified") or ()
    lines += [f"## Unclassified items ({len(unclassified)})", ""]
    if unclassified:
        lines += _table(
            ("Item", "Text", "Reason"),
            "lll",
            (
                (
                    markdown_text(entry.get("item_id")),
                    markdown_text(entry.get("text")),
                    markdown_text(entry.get("reason")),
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


def streams_to_csv(streams: Sequence[Mapping[str, Any]]) -> str:
    """One row per step across ``streams`` (contract v1 stream dicts), with a header row.

    Times are in minutes as numbers (empty when unknown), ``problems`` counts the problems
    attached to the step and ``problem_weight`` sums their votes. Lines end with CRLF (RFC 4180).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for stream in streams:
        weights = {
            str(problem.get("id")): problem.get("weight") or 0
            for problem in stream.get("problems") or ()
        }
        for step in stream.get("steps") or ():
            problem_ids = [str(pid) for pid in step.get("problem_ids") or ()]
            row = (
                stream.get("name"),
                stream.get("state"),
                step.get("order"),
                step.get("title"),
                step.get("lane"),
                step.get("value_adding"),
                step.get("process_time_min"),
                step.get("lead_time_min"),
                step.get("wait_time_min"),
                step.get("complete_accurate_pct"),
                len(problem_ids),
                sum(weights.get(pid, 0) for pid in problem_ids),
            )
            writer.writerow([csv_cell(value) for value in row])
    return buffer.getvalue()
