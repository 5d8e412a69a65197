"""Across boards over the API: labels, the portfolio, its exports and chart, recurring problems,
and each board's trends; all from stored revisions and scoped by workspace."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from testkit.service_dumps import stream_dump
from tests.api.conftest import Workspace, import_dump, shared_app_client

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

client = pytest.fixture(shared_app_client)  # one app for the module's tests


def timed_board(
    client: TestClient,
    who: Workspace,
    board_id: str,
    lead_min: int,
    *,
    name: str | None = None,
    problems: list[tuple[int, str]] | None = None,
    steps: int = 3,
) -> int:
    """Import a board whose ``steps`` steps each take 10 min of ``lead_min`` min lead time."""
    dump = stream_dump(
        steps,
        board_id=board_id,
        name=name or f"Board {board_id}",
        problems=problems or [],
        step_text=f"Schritt {{n}}\nBZ: 10 min\nDLZ: {lead_min} min",
    )
    job = import_dump(client, who, dump)
    assert job["status"] == "succeeded", job
    return int(job["board_id"])


def get(client: TestClient, who: Workspace, url: str, **params: Any) -> Any:
    response = client.get(url, headers=who.headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_portfolio_lists_each_boards_streams_with_their_key_figures(
    client: TestClient, alice: Workspace
) -> None:
    board = timed_board(client, alice, "uXjVpf0001=", 60, problems=[(1, "Freigabe fehlt (4)")])

    page = get(client, alice, "/v1/portfolio")

    assert len(page["items"]) == 1
    row = page["items"][0]
    assert (row["board_id"], row["name"], row["state"], row["revision"]) == (
        board,
        "Ist-Zustand",
        "current",
        1,
    )
    assert row["figures"] == {
        "lead_time_min": 180.0,
        "process_time_min": 30.0,
        "activity_ratio": 0.1667,
        "rolled_complete_accurate": None,
        "handoffs": 0,
        "problem_weight": 4,
        "problem_count": 1,
        "step_count": 3,
    }
    assert row["gap"] is None


def test_a_current_state_carries_the_gap_to_its_target_state(
    client: TestClient, alice: Workspace
) -> None:
    raw = (EXAMPLES / "miro-abo-workshop.json").read_bytes()
    response = client.post(
        "/v1/imports", content=raw, headers={**alice.headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 202

    from tests.api.conftest import wait_for_job

    wait_for_job(client, alice, response.json()["id"])
    rows = get(client, alice, "/v1/portfolio")["items"]

    assert [(r["name"], r["state"]) for r in rows] == [("Ist-Zustand", "current")]
    gap = rows[0]["gap"]
    assert gap["target_name"] == "Soll-Zustand"
    assert gap["lead_time_change_pct"] == -93.9  # the report's comparison says the same


def test_another_workspaces_board_never_shows_and_cannot_be_labelled_or_followed(
    client: TestClient, alice: Workspace, bob: Workspace
) -> None:
    alices = timed_board(client, alice, "uXjVpf0002=", 60, problems=[(0, "Freigabe fehlt")])
    timed_board(client, bob, "uXjVpf0003=", 60, problems=[(0, "Freigabe fehlt")])
    timed_board(client, bob, "uXjVpf0004=", 90, problems=[(1, "Freigabe fehlt")])

    rows = get(client, alice, "/v1/portfolio")["items"]
    groups = get(client, alice, "/v1/portfolio/problems")["items"]
    exported = client.get("/v1/portfolio/export", headers=alice.headers).text
    foreign = [
        client.put(f"/v1/boards/{alices}/labels", json={"labels": {"x": "y"}}, headers=bob.headers),
        client.get(f"/v1/boards/{alices}/labels", headers=bob.headers),
        client.get(f"/v1/boards/{alices}/trends", headers=bob.headers),
        client.get(f"/v1/boards/{alices}/trends.svg", headers=bob.headers),
    ]

    assert [r["board_id"] for r in rows] == [alices]
    assert groups == []  # bob's two boards share the problem; alice sees none of it
    assert "uXjVpf0003" not in exported
    assert "Board uXjVpf0003=" not in exported
    assert [r.status_code for r in foreign] == [404, 404, 404, 404]
    assert foreign[0].headers["content-type"] == "application/problem+json"


def test_labels_are_set_through_the_api_and_filter_the_portfolio(
    client: TestClient, alice: Workspace
) -> None:
    acme = timed_board(client, alice, "uXjVpf0005=", 60)
    other = timed_board(client, alice, "uXjVpf0006=", 60)

    put = client.put(
        f"/v1/boards/{acme}/labels",
        json={"labels": {"client": "acme", "team": " checkout  "}},
        headers=alice.headers,
    )
    client.put(
        f"/v1/boards/{other}/labels", json={"labels": {"client": "zenith"}}, headers=alice.headers
    )

    assert put.status_code == 200
    assert put.json() == {"board_id": acme, "labels": {"client": "acme", "team": "checkout"}}
    assert get(client, alice, f"/v1/boards/{acme}/labels")["labels"] == {
        "client": "acme",
        "team": "checkout",
    }
    only_acme = get(client, alice, "/v1/portfolio", label=["client:acme", "team:checkout"])
    assert [r["board_id"] for r in only_acme["items"]] == [acme]
    assert only_acme["items"][0]["labels"] == {"client": "acme", "team": "checkout"}
    assert get(client, alice, "/v1/portfolio", label="client:nobody")["items"] == []


@pytest.mark.parametrize(
    "labels",
    [{"Client": "acme"}, {"client": ""}, {"client": "a\u0007b"}, {f"k{i}": "v" for i in range(21)}],
)
def test_a_bad_label_is_a_422_problem_and_keeps_the_old_labels(
    client: TestClient, alice: Workspace, labels: dict[str, str]
) -> None:
    board = timed_board(client, alice, "uXjVpf0007=", 60)
    client.put(
        f"/v1/boards/{board}/labels", json={"labels": {"client": "acme"}}, headers=alice.headers
    )

    response = client.put(
        f"/v1/boards/{board}/labels", json={"labels": labels}, headers=alice.headers
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert get(client, alice, f"/v1/boards/{board}/labels")["labels"] == {"client": "acme"}


def test_the_portfolio_sorts_and_pages_with_a_keyset_cursor(
    client: TestClient, alice: Workspace
) -> None:
    for index, lead in enumerate([60, 240, 30, 120, 480]):
        timed_board(client, alice, f"uXjVpf01{index}0=", lead)

    seen: list[float] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"sort": "lead_time_min", "order": "desc", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = get(client, alice, "/v1/portfolio", **params)
        seen.extend(r["figures"]["lead_time_min"] for r in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    mixed = client.get(
        "/v1/portfolio", headers=alice.headers, params={"sort": "name", "cursor": cursor or "x"}
    )

    assert seen == [1440.0, 720.0, 360.0, 180.0, 90.0]
    assert mixed.status_code == 400


def test_a_cursor_for_another_sort_is_refused(client: TestClient, alice: Workspace) -> None:
    for index in range(3):
        timed_board(client, alice, f"uXjVpf02{index}0=", 60 * (index + 1))
    first = get(client, alice, "/v1/portfolio", sort="lead_time_min", limit=1)

    response = client.get(
        "/v1/portfolio",
        headers=alice.headers,
        params={"sort": "handoffs", "limit": 1, "cursor": first["next_cursor"]},
    )

    assert response.status_code == 400
    assert response.json()["type"].endswith("/invalid-cursor")


def test_the_portfolio_exports_as_csv_and_xlsx_with_guarded_text(
    client: TestClient, alice: Workspace
) -> None:
    timed_board(client, alice, "uXjVpf0008=", 60, name='=HYPERLINK("http://evil")')

    csv_response = client.get(
        "/v1/portfolio/export", params={"format": "csv"}, headers=alice.headers
    )
    xlsx_response = client.get(
        "/v1/portfolio/export", params={"format": "xlsx"}, headers=alice.headers
    )

    rows = list(csv.DictReader(io.StringIO(csv_response.text)))
    assert csv_response.headers["content-disposition"] == 'attachment; filename="portfolio.csv"'
    assert [(r["board"], r["lead_time_min"], r["activity_ratio"]) for r in rows] == [
        ('\'=HYPERLINK("http://evil")', "180.0", "0.1667")
    ]
    sheet = load_workbook(io.BytesIO(xlsx_response.content)).active
    header, values = list(sheet.iter_rows(values_only=True))
    assert header[1] == "board"
    assert header[7] == "lead_time_min"
    assert values[1] == '\'=HYPERLINK("http://evil")'
    assert values[7] == 180
    assert sheet.cell(row=2, column=2).data_type == "s"  # text, not a formula


def test_recurring_problems_group_similar_texts_across_boards(
    client: TestClient, alice: Workspace
) -> None:
    first = timed_board(
        client, alice, "uXjVpf0009=", 60, problems=[(1, "Bestätigungsmail landet im Spam (3)")]
    )
    second = timed_board(
        client,
        alice,
        "uXjVpf0010=",
        60,
        problems=[(0, "Bestätigungs-Mail landet oft im Spam (2)"), (2, "Drucker kaputt")],
    )

    groups = get(client, alice, "/v1/portfolio/problems")["items"]
    strict = get(client, alice, "/v1/portfolio/problems", similarity=1.0)["items"]
    too_loose = client.get(
        "/v1/portfolio/problems", params={"similarity": 0.1}, headers=alice.headers
    )

    assert [(g["title"], g["total_votes"], g["boards"]) for g in groups] == [
        ("Bestätigungsmail landet im Spam", 5, 2)
    ]
    places = [(o["board_id"], o["step_title"], o["votes"]) for o in groups[0]["occurrences"]]
    assert places == [(first, "Schritt 2", 3), (second, "Schritt 1", 2)]
    link = groups[0]["occurrences"][0]["report_url"]
    page, _, anchor = link.partition("#")
    report = client.get(page, headers=alice.headers).text
    row = re.search(rf'<tr id="{anchor}"[^>]*>.*?</tr>', report)
    assert page == f"/v1/boards/{first}/report.html"
    assert row is not None
    assert "Schritt 2" in row.group(0)  # the problem's step, on its report
    assert strict == []
    assert too_loose.status_code == 422


def test_a_board_imported_again_has_a_trend_and_a_change_since_the_last_workshop(
    client: TestClient, alice: Workspace
) -> None:
    board = timed_board(client, alice, "uXjVpf0011=", 120)
    timed_board(client, alice, "uXjVpf0011=", 60)

    trends = get(client, alice, f"/v1/boards/{board}/trends")["trends"]
    chart = client.get(f"/v1/boards/{board}/trends.svg", headers=alice.headers)
    portfolio = get(client, alice, "/v1/portfolio")["items"]

    assert len(trends) == 1
    points = trends[0]["points"]
    assert [(p["revision"], p["matched_by"], p["figures"]["lead_time_min"]) for p in points] == [
        (1, "first", 360.0),
        (2, "frame", 180.0),
    ]
    delta = trends[0]["since_last_workshop"]
    assert (
        delta["since_revision"],
        delta["lead_time_change_min"],
        delta["lead_time_change_pct"],
    ) == (
        1,
        -180.0,
        -50.0,
    )
    assert chart.headers["content-type"] == "image/svg+xml"
    assert (
        len(ElementTree.fromstring(chart.text).findall("{http://www.w3.org/2000/svg}polyline")) == 1
    )
    assert [r["revision"] for r in portfolio] == [2]


def test_the_scatter_chart_labels_each_stream_with_escaped_text(
    client: TestClient, alice: Workspace
) -> None:
    timed_board(client, alice, "uXjVpf0012=", 60, name="Checkout <3 & co")

    response = client.get("/v1/portfolio/chart.svg", headers=alice.headers)

    assert response.status_code == 200
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert "<3" not in response.text
    assert "Checkout &lt;3 &amp; co" in response.text
    assert "Ist-Zustand" in response.text


def test_the_report_page_shows_the_change_since_the_last_workshop(
    client: TestClient, alice: Workspace
) -> None:
    board = timed_board(client, alice, "uXjVpf0013=", 120)
    first = client.get(f"/v1/boards/{board}/report.html", headers=alice.headers).text
    timed_board(client, alice, "uXjVpf0013=", 60)

    latest = client.get(f"/v1/boards/{board}/report.html", headers=alice.headers).text
    as_of_first = client.get(
        f"/v1/boards/{board}/report.html", params={"revision": 1}, headers=alice.headers
    ).text

    assert "Since the last workshop" not in first
    assert "Since the last workshop" in latest
    assert "-3 h (-50 %)" in latest
    assert "Since the last workshop" not in as_of_first
