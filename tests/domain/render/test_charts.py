"""Trend line chart and portfolio scatter: well-formed, escaped, bounded SVG."""

from __future__ import annotations

from xml.etree import ElementTree

from service.domain.render.charts import (
    MAX_DOT_LABELS,
    MAX_SERIES,
    Dot,
    Series,
    scatter_chart_svg,
    trend_chart_svg,
)

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("x")</script>&]]>\x00'


def parse(svg: str) -> ElementTree.Element:
    return ElementTree.fromstring(svg)


def test_a_trend_draws_one_line_per_stream_through_its_known_points() -> None:
    svg = trend_chart_svg(
        [
            Series("Ist", [(1, 1855.0), (2, 900.0), (3, 620.0)]),
            Series("Soll", [(1, 115.0), (3, 90.0)]),
        ],
        "lead_time_min",
    )

    root = parse(svg)
    lines = root.findall(f"{SVG}polyline")
    assert [len(line.get("points", "").split()) for line in lines] == [3, 2]
    assert "r1" in svg
    assert "r3" in svg
    assert "3.9 d" in svg  # 1,855 min in working days, the report's unit


def test_an_unknown_value_breaks_the_line() -> None:
    root = parse(
        trend_chart_svg([Series("Ist", [(1, 10.0), (2, None), (3, 30.0), (4, 40.0)])], "handoffs")
    )

    assert [len(line.get("points", "").split()) for line in root.findall(f"{SVG}polyline")] == [2]
    assert len(root.findall(f"{SVG}circle")) == 3


def test_board_text_in_charts_is_escaped() -> None:
    trend = trend_chart_svg([Series(HOSTILE, [(1, 0.1), (2, 0.2)])], "activity_ratio")
    scatter = scatter_chart_svg([Dot(HOSTILE, HOSTILE, 600.0, 0.05, href="#x")])

    for svg in (trend, scatter):
        parse(svg)
        assert "<script" not in svg
        assert "&lt;script&gt;" in svg


def test_the_scatter_places_each_stream_and_labels_the_first_ones() -> None:
    dots = [Dot(f"Stream {i}", "Board", 60.0 * (i + 1), 0.01 * (i + 1)) for i in range(60)]

    root = parse(scatter_chart_svg(dots))

    assert len(root.findall(f"{SVG}circle")) == 60
    labels = [t.text for t in root.findall(f"{SVG}text") if (t.text or "").startswith("Stream ")]
    assert len(labels) == MAX_DOT_LABELS


def test_streams_that_cannot_be_placed_are_left_out_of_the_scatter() -> None:
    svg = scatter_chart_svg([Dot("no lead", "b", 0.0, 0.1), Dot("nan", "b", 10.0, float("nan"))])

    assert "No stream has both a lead time and an activity ratio." in svg


def test_a_trend_of_many_streams_is_capped_with_a_note() -> None:
    series = [Series(f"S{i}", [(1, float(i))]) for i in range(MAX_SERIES + 5)]

    svg = trend_chart_svg(series, "problem_weight")

    assert f"{MAX_SERIES} of {MAX_SERIES + 5} streams shown" in svg


def _trend(*leads: float) -> list:
    from service.domain.contract_model import decode_metrics
    from service.domain.ruleset import Ruleset
    from service.domain.trends import BoardRevision, RevisionStream, follow_streams

    return follow_streams(
        [
            BoardRevision(
                n,
                f"2026-0{n}-01T09:00:00Z",
                [
                    RevisionStream(
                        1,
                        "Ist <Abo>",
                        "current",
                        "f1",
                        decode_metrics({"total_lead_time_min": lead, "activity_ratio": 0.1 * n}),
                    )
                ],
            )
            for n, lead in enumerate(leads, 1)
        ],
        Ruleset(),
    )


def test_the_report_shows_what_changed_since_the_last_workshop_with_the_trend_charts() -> None:
    from service.domain.contract_model import decode_contract
    from service.domain.render.html import render_report_html

    page = render_report_html(
        decode_contract({"board": {"name": "Abo"}, "streams": []}),
        revision=2,
        trends=_trend(960.0, 480.0),
    )

    assert "Since the last workshop" in page
    assert "r1 \u2192 r2" in page
    assert "-1 d (-50 %)" in page  # 480 min less: one working day is 480 min
    assert "+10.0 pp" in page
    assert "Ist &lt;Abo&gt;" in page
    assert page.count("<svg") == 2


def test_a_board_with_one_revision_has_no_since_the_last_workshop_section() -> None:
    from service.domain.contract_model import decode_contract
    from service.domain.render.html import render_report_html

    page = render_report_html(
        decode_contract({"board": {"name": "Abo"}, "streams": []}), trends=_trend(960.0)
    )

    assert "Since the last workshop" not in page
