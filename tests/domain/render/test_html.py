"""The report page: self-contained, complete, printable, and inert whatever the board says."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from typing import Any

import pytest

from service.domain.render.html import (
    CSP_HEADER,
    MAX_PAGE_MAP_STEPS,
    MAX_STREAMS,
    PRINT_TILE_H,
    PRINT_TILE_W,
    print_tiles,
)
from service.domain.render.svg import BOX_H, BOX_W, COL_W, ROW_H
from tests.domain.render.contracts import abo_stream, document, linear_stream, page_of

HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=1</script>'

COMPARISON = {
    "current_stream_id": "s1",
    "current_stream_name": "Ist-Zustand",
    "target_stream_id": "lin",
    "target_stream_name": "Soll-Zustand",
    "kept": [
        {
            "current_step_id": "st5",
            "target_step_id": "lin-6",
            "current_title": "Zugang freischalten",
            "target_title": "Zugang freischalten",
            "similarity": 1.0,
            "lead_time_change_min": None,
            "lead_time_change_pct": None,
            "process_time_change_min": -1,
            "process_time_change_pct": -50.0,
        },
        {
            "current_step_id": "st3",
            "target_step_id": "lin-2",
            "current_title": "Adresse prüfen",
            "target_title": "Adresse automatisch prüfen",
            "similarity": 0.8,
            "lead_time_change_min": -100,
            "lead_time_change_pct": -83.3,
            "process_time_change_min": 0,
            "process_time_change_pct": 0.0,
        },
    ],
    "removed": [
        {
            "current_step_id": "st4",
            "current_title": "Warten auf Freigabe durch Teamleitung",
            "lead_time_min": 1440,
            "process_time_min": None,
        }
    ],
    "added": [
        {
            "target_step_id": "lin-1",
            "target_title": "Online-Formular",
            "lead_time_min": 60,
            "process_time_min": 10,
        }
    ],
    "lead_time_change_min": -1500,
    "lead_time_change_pct": -77.7,
    "process_time_change_min": 5,
    "process_time_change_pct": 22.7,
    "exhaustive": True,
    "other_pairs": [],
}


class Tags(HTMLParser):
    """Every start tag with its attributes, and the page's visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> Tags:
    parser = Tags()
    parser.feed(page)
    parser.close()
    return parser


def two_stream_doc(**changes: Any) -> dict[str, Any]:
    target = {**linear_stream(6), "state": "target", "name": "Soll-Zustand"}
    return {**document([abo_stream(), target], comparison=COMPARISON), **changes}


def test_the_page_fetches_nothing_and_runs_nothing() -> None:
    page = page_of(two_stream_doc())
    tags = parse(page).tags

    assert not [t for t, _ in tags if t in ("script", "link", "iframe", "object", "embed", "img")]
    for _, attrs in tags:
        for name in ("src", "href", "xlink:href", "action", "srcset"):
            value = attrs.get(name)
            assert value is None or value.startswith("#"), (name, value)
        assert not [k for k in attrs if k.startswith("on")]
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page
    assert set(re.findall(r"url\((.)", page)) <= {"#"}
    assert "@import" not in page


def test_the_page_contains_every_streams_map() -> None:
    page = page_of(two_stream_doc())
    svgs = re.findall(r'<svg [^>]*class="vsm-map".*?</svg>', page, flags=re.DOTALL)

    assert [ET.fromstring(svg).get("data-stream-id") for svg in svgs] == ["s1", "lin"]


def test_each_stream_has_its_metrics_table() -> None:
    tags = parse(page_of(two_stream_doc()))
    text = " ".join(tags.text)

    assert sum(1 for t, a in tags.tags if t == "table" and a.get("class") == "metrics") == 2
    for label in ("Lead time", "Process time", "Activity ratio", "Rolled %C&A", "Handoffs"):
        assert label in text
    assert "1.1 %" in text  # activity ratio 0.0114
    assert "90 %" in text  # rolled %C&A 0.9
    assert "5 (4 / 1)" in text


def test_problems_are_ranked_with_the_steps_they_belong_to() -> None:
    page = page_of(two_stream_doc())
    problems = page.split('<ol class="problems">')[1].split("</ol>")[0]
    text = " ".join(parse(problems).text)

    assert text.index("Medienbruch") < text.index("Freigabe dauert Tage") < text.index("Übersicht")
    assert "5 votes · at: Zahlungsdaten prüfen" in text
    assert "1 vote · at: whole stream" in text


def test_the_comparison_shows_kept_removed_added_and_time_changes() -> None:
    page = page_of(two_stream_doc())
    section = page.split('<section class="comparison">')[1].split("</section>")[0]
    text = " ".join(parse(section).text)

    assert "Ist-Zustand → Soll-Zustand" in text
    assert "Steps: 2 kept, 1 removed, 1 added." in text
    assert "Zugang freischalten" in text
    assert "Adresse prüfen → Adresse automatisch prüfen -1.7 h (-83.3 %)" in text
    assert "Warten auf Freigabe durch Teamleitung 3 d" in text
    assert "Online-Formular 1 h 10 min" in text
    assert "-3.1 d (-77.7 %)" in text
    assert "+5 min (+22.7 %)" in text


def test_every_other_current_target_pair_is_shown_too() -> None:
    second = {**COMPARISON, "current_stream_name": "Ist B", "target_stream_name": "Soll B"}
    doc = two_stream_doc(comparison={**COMPARISON, "other_pairs": [second]})

    text = " ".join(parse(page_of(doc)).text)

    assert "Ist-Zustand → Soll-Zustand" in text
    assert "Ist B → Soll B" in text


def test_a_comparison_of_huge_streams_says_it_matched_identical_titles_only() -> None:
    page = page_of(two_stream_doc(comparison={**COMPARISON, "exhaustive": False}))

    assert "only steps with identical titles were matched" in page


def test_a_board_without_target_state_says_there_is_nothing_to_compare() -> None:
    page = page_of(document([abo_stream()]))

    assert "no pair of current and target state streams" in page


def test_unclassified_items_are_listed_with_the_reason() -> None:
    text = " ".join(parse(page_of(two_stream_doc())).text)

    assert "Kaffee holen ☕" in text
    assert "no rule matched a gray shape" in text


def test_the_page_says_when_the_board_was_imported_and_which_revision() -> None:
    text = " ".join(
        parse(page_of(two_stream_doc(), imported_at="2026-11-27T06:00Z", revision=4)).text
    )

    assert "Abo-Workshop" in text
    assert "Miro board uXjVabc= · imported 2026-11-27T06:00Z · revision 4" in text


def test_the_page_prints_on_any_paper_with_a_page_per_stream() -> None:
    page = page_of(two_stream_doc())

    assert "@media print" in page
    assert "@page" in page
    assert not re.search(r"@page\s*{[^}]*size:", page)  # the printer picks A4/A3 and orientation
    assert re.search(r"section\.stream\s*{\s*break-before:\s*page;", page)


@pytest.mark.parametrize(
    "place", ["step", "problem", "board", "unclassified", "comparison", "imported_at", "lane"]
)
def test_a_hostile_sticky_is_shown_as_text_and_runs_nothing(place: str) -> None:
    doc = two_stream_doc()
    imported_at = None
    stream = doc["streams"][0]
    if place == "step":
        stream["steps"][0]["title"] = HOSTILE
    elif place == "problem":
        stream["problems"][0]["text"] = HOSTILE
    elif place == "board":
        doc["board"] = {**doc["board"], "name": HOSTILE}
    elif place == "unclassified":
        doc["unclassified"][0]["text"] = HOSTILE
    elif place == "comparison":
        doc["comparison"] = {**COMPARISON, "added": [{"target_title": HOSTILE}]}
    elif place == "lane":
        stream["steps"][0]["lane"] = HOSTILE
    else:
        imported_at = HOSTILE

    page = page_of(doc, imported_at=imported_at)
    tags = parse(page)

    assert "<script" not in page
    assert "<img" not in page
    assert not [k for _, attrs in tags.tags for k in attrs if k.startswith("on")]
    assert "window.pwned=1" in "".join(tags.text)


def test_the_csp_header_allows_no_script_and_no_outside_request() -> None:
    directives = dict(
        (part.split()[0], part.split()[1:]) for part in CSP_HEADER.split("; ") if part
    )

    assert "script-src" not in directives
    assert directives["default-src"] == ["'none'"]
    assert directives["img-src"] == ["data:"]
    assert directives["frame-ancestors"] == ["'none'"]


def test_the_page_carries_its_own_csp_for_saved_copies() -> None:
    tags = parse(page_of(two_stream_doc())).tags

    meta = [a for t, a in tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]

    assert len(meta) == 1
    assert "default-src 'none'" in (meta[0].get("content") or "")


def test_the_same_document_renders_to_the_same_page() -> None:
    assert page_of(two_stream_doc()) == page_of(two_stream_doc())


def test_more_streams_than_the_cap_are_cut_with_a_note() -> None:
    streams = [linear_stream(2, stream_id=f"s{i}") for i in range(MAX_STREAMS + 3)]

    page = page_of(document(streams))

    assert page.count('<section class="stream"') == MAX_STREAMS
    assert f"Showing {MAX_STREAMS} of {MAX_STREAMS + 3} streams" in page


def test_a_board_without_streams_still_renders_a_page() -> None:
    page = page_of({"schema_version": 1, "board": {}, "streams": []})

    assert "No value stream was found" in page
    assert page.startswith("<!DOCTYPE html>")


def test_a_page_of_huge_streams_draws_maps_up_to_its_budget_and_says_where_the_rest_are() -> None:
    streams = [linear_stream(500, stream_id=f"big{i}") for i in range(6)]

    page = page_of(document(streams))

    drawn = MAX_PAGE_MAP_STEPS // 500
    assert page.count('class="vsm-map"') == drawn
    assert page.count('class="note map-left-out"') == 6 - drawn
    assert page.count('<section class="stream"') == 6


def test_warnings_are_shown_with_what_to_change_and_escaped() -> None:
    warning = {
        "code": "skipped-frame",
        "message": f"The frame '{HOSTILE}' holds no flow.",
        "item_ids": ["f1", "s1"],
        "fix": "Rename the frame or remove its title word from streams.skip in the rules.",
    }
    page = page_of(two_stream_doc(warnings=[warning]))
    parsed = parse(page)
    text = " ".join(parsed.text)

    assert "Warnings" in text
    assert f"The frame '{HOSTILE}' holds no flow." in text
    assert "streams.skip" in text
    assert "(2 items)" in text
    assert "<script>window.pwned" not in page


def test_a_board_without_warnings_shows_no_warnings_section() -> None:
    assert 'class="warnings"' not in page_of(two_stream_doc())


def _print_block(page: str) -> str:
    start = page.index("@media print")
    depth, end = 0, start
    for end in range(page.index("{", start), len(page)):
        depth += {"{": 1, "}": -1}.get(page[end], 0)
        if depth == 0:
            break
    return page[start : end + 1]


def test_no_printed_text_is_below_8_pt() -> None:
    page = page_of(two_stream_doc(streams=[linear_stream(14)]))

    css = re.findall(r"font(?:-size)?:\s*([\d.]+)(px|pt)", page)
    svg_text = [float(size) for size in re.findall(r'font-size="([\d.]+)"', page)]
    tiles = re.findall(
        r'<svg[^>]*class="print-tile" width="([\d.]+)" height="([\d.]+)" '
        r'viewBox="[\d.]+ [\d.]+ ([\d.]+) ([\d.]+)"',
        page,
    )

    assert css
    assert min(float(size) * (0.75 if unit == "px" else 1.0) for size, unit in css) >= 8
    # maps print 1:1 (a tile's viewBox is its size), where 11 px of map text is 8.25 pt
    assert svg_text
    assert min(svg_text) >= 11
    assert len(tiles) > 1
    assert all(width == view_w and height == view_h for width, height, view_w, view_h in tiles)
    assert "width: 100%" not in _print_block(page)


def test_print_tiles_fit_the_paper_and_hold_every_step_box_whole() -> None:
    width, height = 24 + 136 + 40 * COL_W + 208 + 24, 1500.0
    tiles = print_tiles(width, height)

    assert all(t.w <= PRINT_TILE_W and t.h <= PRINT_TILE_H for t in tiles)
    assert min(t.x for t in tiles) == 0
    assert max(t.x + t.w for t in tiles) == width
    assert max(t.y + t.h for t in tiles) == height
    for column in range(40):
        left = 24 + 136 + column * COL_W
        assert any(t.x <= left and left + BOX_W <= t.x + t.w for t in tiles), column
    for row in range(10):
        top = 100 + row * ROW_H
        if top + BOX_H <= height:
            assert any(t.y <= top and top + BOX_H <= t.y + t.h for t in tiles), row


def test_printed_tables_and_lists_are_not_split_mid_row() -> None:
    block = _print_block(page_of(two_stream_doc()))

    assert re.search(r"tr, li \{ break-inside: avoid; page-break-inside: avoid; \}", block)
    assert re.search(r"\.print-tile \{[^}]*break-inside: avoid", block)
    assert re.search(r"thead \{ display: table-header-group; \}", block)
