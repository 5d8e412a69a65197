"""Markdown/CSV exports and human-readable times: readable, and hostile board text made inert."""

from __future__ import annotations

import csv
import io
import math
import unicodedata
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain.contract_model import decode_contract, decode_stream
from service.domain.export import (
    CSV_COLUMNS,
    contract_to_markdown,
    csv_cell,
    format_minutes,
    markdown_text,
    safe_text,
    stream_to_markdown,
    streams_to_csv,
)


def _stream(
    *,
    name: str = "Ist-Zustand",
    state: str = "current",
    steps: list[dict[str, Any]] | None = None,
    problems: list[dict[str, Any]] | None = None,
    ideas: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "id": "s1",
        "name": name,
        "state": state,
        "frame_id": "f1",
        "persona": "Lena, 34",
        "lanes": ["Kundin"],
        "steps": steps
        if steps is not None
        else [
            {
                "id": "st1",
                "order": 1,
                "title": "Registrieren",
                "lane": "Kundin",
                "value_adding": True,
                "process_time_min": 8.0,
                "lead_time_min": 960.0,
                "wait_time_min": 952.0,
                "complete_accurate_pct": 75.0,
                "source_item_ids": ["1"],
                "problem_ids": ["p1", "p2"],
            },
            {
                "id": "st2",
                "order": 2,
                "title": "Bestätigung abwarten",
                "lane": None,
                "value_adding": False,
                "process_time_min": None,
                "lead_time_min": None,
                "wait_time_min": None,
                "complete_accurate_pct": None,
                "source_item_ids": ["2"],
                "problem_ids": [],
            },
        ],
        "problems": problems
        if problems is not None
        else [
            {
                "id": "p1",
                "text": "Passwortregeln unklar",
                "step_id": "st1",
                "weight": 3,
                "source_item_ids": ["3"],
            },
            {
                "id": "p2",
                "text": "Captcha",
                "step_id": "st1",
                "weight": 2,
                "source_item_ids": ["4"],
            },
            {
                "id": "p3",
                "text": "Kein Support",
                "step_id": None,
                "weight": 0,
                "source_item_ids": ["5"],
            },
        ],
        "ideas": ideas
        if ideas is not None
        else [{"id": "i1", "text": "Magic Link", "step_id": "st1", "source_item_ids": ["6"]}],
        "metrics": {
            "step_count": 2,
            "value_adding_steps": 1,
            "non_value_adding_steps": 1,
            "total_process_time_min": 8.0,
            "total_lead_time_min": 960.0,
            "activity_ratio": 8.0 / 960.0,
            "rolled_complete_accurate": 0.75,
            "handoffs": 0,
            "problem_count": 3,
            "problem_weight": 5,
        },
    }


def _step(title: str) -> dict[str, Any]:
    step = _stream()["steps"][0]
    return {**step, "title": title}


def _rows(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff")  # Excel reads UTF-8 only after a BOM
    return list(csv.DictReader(io.StringIO(text[1:])))


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (None, "\u2013"),
        (math.nan, "\u2013"),
        (0, "0 min"),
        (0.5, "30 s"),
        (5, "5 min"),
        (6.5, "6.5 min"),
        (59, "59 min"),
        (60, "1 h"),
        (90, "1.5 h"),
        (240, "4 h"),
        (479, "8 h"),
        (480, "1 d"),
        (960, "2 d"),
        (720, "1.5 d"),
        (480 * 130, "130 d"),
    ],
)
def test_format_minutes_uses_the_largest_sensible_unit_with_eight_hour_days(
    minutes: float | None, expected: str
) -> None:
    assert format_minutes(minutes) == expected


def test_format_minutes_follows_a_different_working_day_length() -> None:
    assert format_minutes(450, hours_per_day=7.5) == "1 d"


def test_safe_text_drops_terminal_escapes_but_keeps_line_breaks() -> None:
    assert safe_text("a\x1b[31mred\x07\nb\tc\x00") == "a[31mred\nb\tc"


@settings(max_examples=500)
@given(st.text(alphabet=st.characters(exclude_categories=())))
def test_safe_text_removes_exactly_the_control_characters_and_surrogates(text: str) -> None:
    kept = "".join(
        ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs")
    )
    assert safe_text(text) == kept


@pytest.mark.parametrize(
    ("hostile", "must_not_contain", "must_contain"),
    [
        ("a | b", "a | b", "a \\| b"),
        ("<script>alert(1)</script>", "<script>", "&lt;script&gt;"),
        ("line1\nline2", "\n", "line1<br>line2"),
        ("[click](javascript:alert(1))", "[click]", "\\[click\\]"),
        ("**bold** `code`", "**bold**", "\\*\\*bold\\*\\*"),
        ("<img src=x onerror=alert(1)>", "<img", "&lt;img"),
    ],
)
def test_markdown_text_makes_board_text_inert(
    hostile: str, must_not_contain: str, must_contain: str
) -> None:
    escaped = markdown_text(hostile)

    assert must_not_contain not in escaped
    assert must_contain in escaped


def test_stream_markdown_has_one_table_row_per_step_even_with_hostile_titles() -> None:
    stream = _stream(steps=[_step("A | B\n<script>x</script>"), _step("Normal")])

    markdown = stream_to_markdown(decode_stream(stream))

    steps_part = markdown.split("Problems (most votes first)")[0]
    step_rows = [line for line in steps_part.splitlines() if line.startswith("| 1 |")]
    assert len(step_rows) == 2
    # a row keeps its 9 cells: the pipe in the title is escaped, not a cell border
    assert all(row.count(" | ") == 8 for row in step_rows)
    assert "<script>" not in markdown


def test_stream_markdown_shows_times_problems_ideas_and_metrics() -> None:
    markdown = stream_to_markdown(decode_stream(_stream()))

    assert markdown.startswith("## Ist-Zustand (current)")
    assert "| 1 | Registrieren | Kundin | yes | 8 min | 2 d | 2 d | 75 % | 1, 2 |" in markdown
    assert "| 1 | 3 | Passwortregeln unklar | 1. Registrieren |" in markdown
    assert "| 3 | 0 | Kein Support | whole stream |" in markdown
    assert "| Magic Link | 1. Registrieren |" in markdown
    assert "| Activity ratio | 0.8 % |" in markdown
    assert "| Rolled %C&A | 75 % |" in markdown


def test_contract_markdown_lists_every_stream_the_comparison_and_unclassified_items() -> None:
    doc = {
        "schema_version": 1,
        "board": {"provider": "miro", "id": "uXjVN4pQ2kE=", "name": "Allied <b>Medien</b>"},
        "streams": [_stream(), _stream(name="Soll-Zustand", state="target")],
        "comparison": {
            "kept": [{"current_title": "Registrieren", "target_title": "Registrieren"}],
            "removed": [{"current_title": "Bestätigung abwarten"}],
            "added": [],
            "lead_time_change_min": -900.0,
            "lead_time_change_pct": -93.75,
        },
        "unclassified": [{"item_id": "9", "text": "=HYPERLINK(1)", "reason": "no rule"}],
        "decisions": [],
    }

    markdown = contract_to_markdown(decode_contract(doc))

    assert markdown.startswith("# Allied &lt;b&gt;Medien&lt;/b&gt;")
    assert "## Ist-Zustand (current)" in markdown
    assert "## Soll-Zustand (target)" in markdown
    assert "## Current vs target state" in markdown
    assert "Bestätigung abwarten" in markdown
    assert "## Unclassified items (1)" in markdown


def test_streams_csv_has_one_row_per_step_across_streams() -> None:
    streams = [_stream(), _stream(name="Soll-Zustand", state="target")]

    rows = _rows(streams_to_csv([decode_stream(s) for s in streams]))

    assert [row["stream"] for row in rows] == [
        "Ist-Zustand",
        "Ist-Zustand",
        "Soll-Zustand",
        "Soll-Zustand",
    ]
    first = rows[0]
    assert list(first) == list(CSV_COLUMNS)
    assert first["step"] == "Registrieren"
    assert first["value_adding"] == "yes"
    assert first["lead_time_min"] == "960.0"
    assert first["problems"] == "2"
    assert first["problem_weight"] == "5"
    assert rows[1]["process_time_min"] == ""


@pytest.mark.parametrize(
    "formula",
    ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1:A2)", "\t=1", "\r=1"],
)
def test_streams_csv_defuses_formulas_in_board_text(formula: str) -> None:
    stream = _stream(name=formula, steps=[_step(formula)], problems=[], ideas=[])

    rows = _rows(streams_to_csv([decode_stream(stream)]))

    assert rows[0]["stream"].startswith("'")
    assert rows[0]["step"].startswith("'")


def test_streams_csv_keeps_commas_quotes_and_newlines_inside_one_cell() -> None:
    title = 'Prüfen, "freigeben"\nund senden'
    stream = _stream(steps=[_step(title)], problems=[], ideas=[])

    rows = _rows(streams_to_csv([decode_stream(stream)]))

    assert len(rows) == 1
    assert rows[0]["step"] == title


def test_csv_cell_keeps_numbers_as_numbers() -> None:
    assert csv_cell(-5) == -5
    assert csv_cell(2.5) == 2.5
    assert csv_cell(None) == ""
    assert csv_cell(math.inf) == ""


def test_stream_markdown_leaves_out_the_lane_column_on_a_board_without_lanes() -> None:
    stream = _stream(steps=[{**_step("Registrieren"), "lane": None}], problems=[], ideas=[])

    markdown = stream_to_markdown(decode_stream(stream))

    assert "| # | Step | Value-adding | PT |" in markdown
    assert "| 1 | Registrieren | yes | 8 min |" in markdown


def test_the_steps_problem_column_holds_the_ranks_of_the_ranked_problem_list() -> None:
    from service.domain.export import PROBLEM_RANKS_HEADER, problem_ranks, step_problem_ranks

    stream = decode_stream(
        {
            "problems": [{"id": "p-top"}, {"id": "p-second"}, {"id": "p-third"}],
            "steps": [
                {"id": "s1", "order": 1, "problem_ids": ["p-third", "p-top"]},
                {"id": "s2", "order": 2},
            ],
        }
    )
    ranks = problem_ranks(stream)

    markdown = stream_to_markdown(stream)

    assert step_problem_ranks(stream.steps[0], ranks) == "1, 3"
    assert step_problem_ranks(stream.steps[1], ranks) == ""
    assert PROBLEM_RANKS_HEADER in markdown


def test_the_german_excel_dialect_separates_with_semicolons_and_writes_decimal_commas() -> None:
    from service.domain.export import streams_to_csv as to_csv

    stream = decode_stream(
        {
            "name": "Ist; Zustand",
            "steps": [{"id": "s", "order": 1, "title": "Zahlen", "process_time_min": 6.5}],
        }
    )

    text = to_csv([stream], dialect="excel-de")
    rows = list(csv.DictReader(io.StringIO(text[1:]), delimiter=";"))

    assert text.startswith("\ufeffstream;state;order;")
    assert rows[0]["process_time_min"] == "6,5"
    assert rows[0]["stream"] == "Ist; Zustand"
    assert rows[0]["order"] == "1"


def test_an_unknown_csv_dialect_is_refused() -> None:
    with pytest.raises(ValueError, match="excel-de"):
        streams_to_csv([], dialect="excel-fr")
