"""The front door across boards: the portfolio page, the recurring problems page and the board
page's labels form and trend charts, scoped by the signed-in workspace."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Workspace
from tests.api.test_portfolio import timed_board
from tests.web.test_front_door import ORIGIN, sign_in


def label(http: TestClient, who: Workspace, board: int, **labels: str) -> None:
    answer = http.put(f"/v1/boards/{board}/labels", json={"labels": labels}, headers=who.headers)
    assert answer.status_code == 200, answer.text


def cells(page: str, name: str) -> list[list[str]]:
    """The words of every table cell labelled ``name`` (tags removed, entities decoded)."""
    found = re.findall(rf'<td data-label="{re.escape(name)}"[^>]*>(.*?)</td>', page, re.S)
    return [html.unescape(re.sub(r"<[^>]+>", " ", cell)).split() for cell in found]


def test_the_portfolio_page_lists_the_workspaces_streams_with_a_chart_and_exports(
    client: TestClient, alice: Workspace, bob: Workspace
) -> None:
    fast = timed_board(client, alice, "uXjVweb001=", 60, name="Q&A <3 fast")
    timed_board(client, alice, "uXjVweb002=", 600, name="Slow board")
    timed_board(client, bob, "uXjVweb003=", 60, name="Bobs board")
    sign_in(client, alice)

    answer = client.get("/web/portfolio")

    assert answer.status_code == 200
    assert "Q&amp;A &lt;3 fast" in answer.text
    assert "<3" not in answer.text
    assert "Slow board" in answer.text
    assert "Bobs board" not in answer.text
    assert answer.text.count("<circle") == 2  # the scatter, drawn into the page
    assert f'<a href="/web/boards/{fast}">' in answer.text  # a dot links its board
    assert (
        'href="/v1/portfolio/export?format=xlsx&amp;sort=board_name&amp;order=asc"' in answer.text
    )
    assert 'href="/v1/portfolio/export?format=csv&amp;sort=board_name&amp;order=asc"' in answer.text
    assert "<script" not in answer.text


def test_a_column_heading_sorts_the_portfolio_and_a_second_click_reverses_it(
    client: TestClient, alice: Workspace
) -> None:
    timed_board(client, alice, "uXjVweb004=", 60, name="A fast")
    timed_board(client, alice, "uXjVweb005=", 600, name="B slow")
    sign_in(client, alice)
    start = client.get("/web/portfolio").text
    link = re.search(r'<a href="(\?[^"]*sort=lead_time_min[^"]*)">Lead time</a>', start)
    assert link

    first = client.get("/web/portfolio" + html.unescape(link.group(1))).text
    again = re.search(r'<a href="(\?[^"]*sort=lead_time_min[^"]*)">Lead time</a>', first)
    assert again
    second = client.get("/web/portfolio" + html.unescape(again.group(1))).text

    assert [w[0] for w in cells(first, "Board")] == ["B", "A"]  # slowest first
    assert 'aria-sort="descending"' in first
    assert [w[0] for w in cells(second, "Board")] == ["A", "B"]
    assert 'aria-sort="ascending"' in second


def test_the_portfolio_is_paged_with_a_next_page_link(
    client: TestClient, alice: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("service.web.portfolio_pages.ROWS_PER_PAGE", 1)
    timed_board(client, alice, "uXjVweb006=", 60, name="A first")
    timed_board(client, alice, "uXjVweb007=", 60, name="B second")
    sign_in(client, alice)

    first = client.get("/web/portfolio").text
    link = re.search(r'<a href="(\?[^"]+)" rel="next">Next page</a>', first)
    assert link
    second = client.get("/web/portfolio" + html.unescape(link.group(1))).text
    forged = client.get("/web/portfolio?cursor=bm9wZQ")

    assert [w[0] for w in cells(first, "Board")] == ["A"]
    assert [w[0] for w in cells(second, "Board")] == ["B"]
    assert 'rel="next"' not in second
    assert "First page" in second
    assert forged.status_code == 400


def test_the_label_filter_keeps_the_boards_that_carry_the_label(
    client: TestClient, alice: Workspace, bob: Workspace
) -> None:
    acme = timed_board(client, alice, "uXjVweb008=", 60, name="Acme board")
    other = timed_board(client, alice, "uXjVweb009=", 60, name="Other board")
    bobs = timed_board(client, bob, "uXjVweb010=", 60, name="Bobs board")
    label(client, alice, acme, client="acme")
    label(client, alice, other, client="globex")
    label(client, bob, bobs, client="initech")
    sign_in(client, alice)

    answer = client.get("/web/portfolio", params={"label": "client:acme"})

    assert "Acme board" in answer.text
    assert "Other board" not in answer.text
    assert '<option value="client:acme" selected>' in answer.text
    assert '<option value="client:globex">' in answer.text
    assert "initech" not in answer.text  # another workspace's labels are not offered
    assert "label=client%3Aacme" in answer.text  # the exports and sort links keep the filter


def test_the_recurring_problems_page_links_each_problem_to_its_step_on_the_report(
    client: TestClient, alice: Workspace, bob: Workspace
) -> None:
    first = timed_board(
        client, alice, "uXjVweb011=", 60, problems=[(1, "Freigabe <dauert> zu lange (3)")]
    )
    timed_board(client, alice, "uXjVweb012=", 60, problems=[(0, "Freigabe dauert lange")])
    timed_board(client, bob, "uXjVweb013=", 60, problems=[(0, "Freigabe dauert zu lange")])
    sign_in(client, alice)

    answer = client.get("/web/portfolio/problems")
    links = re.findall(r'<a class="step-link" href="([^"]+)">([^<]+)</a>', answer.text)
    report_page, _, anchor = links[0][0].partition("#")
    report = client.get(report_page).text

    assert answer.status_code == 200
    assert "Freigabe &lt;dauert&gt; zu lange" in answer.text
    assert "2 boards" in answer.text  # bob's board is not counted
    assert [text for _, text in links] == ["Schritt 2", "Schritt 1"]
    assert report_page == f"/v1/boards/{first}/report.html"
    assert re.search(rf'<tr id="{anchor}" data-step-id="[^"]+"><td class="num">2<', report)


def test_setting_and_removing_a_label_on_the_board_page(
    client: TestClient, alice: Workspace
) -> None:
    board = timed_board(client, alice, "uXjVweb014=", 60)
    csrf = sign_in(client, alice)

    set_answer = client.post(
        f"/web/boards/{board}/labels",
        data={"csrf": csrf, "action": "set", "key": " Client ", "value": "Acme  Corp"},
        headers=ORIGIN,
        follow_redirects=False,
    )
    after_set = client.get(f"/v1/boards/{board}/labels").json()["labels"]
    page = client.get(f"/web/boards/{board}").text
    remove_answer = client.post(
        f"/web/boards/{board}/labels",
        data={"csrf": csrf, "action": "remove", "key": "client"},
        headers=ORIGIN,
        follow_redirects=False,
    )
    after_remove = client.get(f"/v1/boards/{board}/labels").json()["labels"]

    assert set_answer.status_code == 303
    assert set_answer.headers["location"] == f"/web/boards/{board}#labels"
    assert after_set == {"client": "Acme Corp"}
    assert '<span class="label">client: Acme Corp</span>' in page
    assert f'<img src="/v1/boards/{board}/trends.svg?figure=lead_time_min"' in page
    assert remove_answer.status_code == 303
    assert after_remove == {}


def test_a_bad_label_is_refused_on_the_board_page_and_the_labels_stay(
    client: TestClient, alice: Workspace
) -> None:
    board = timed_board(client, alice, "uXjVweb015=", 60)
    label(client, alice, board, team="checkout")
    csrf = sign_in(client, alice)

    answer = client.post(
        f"/web/boards/{board}/labels",
        data={"csrf": csrf, "action": "set", "key": "kein schlüssel", "value": "x"},
        headers=ORIGIN,
    )

    assert answer.status_code == 422
    assert 'role="alert"' in answer.text
    assert "lower-case letters" in answer.text
    assert client.get(f"/v1/boards/{board}/labels").json()["labels"] == {"team": "checkout"}


@pytest.mark.parametrize(
    ("headers", "token"),
    [(ORIGIN, "guess"), ({"Origin": "https://evil.example"}, None)],
)
def test_the_labels_form_refuses_a_post_without_the_token_or_from_another_site(
    client: TestClient, alice: Workspace, headers: dict[str, str], token: str | None
) -> None:
    board = timed_board(client, alice, "uXjVweb016=", 60)
    csrf = sign_in(client, alice)

    answer = client.post(
        f"/web/boards/{board}/labels",
        data={"csrf": token or csrf, "action": "set", "key": "client", "value": "acme"},
        headers=headers,
    )

    assert answer.status_code == 403
    assert client.get(f"/v1/boards/{board}/labels").json()["labels"] == {}


def test_another_workspaces_board_cannot_be_labelled_from_the_page(
    client: TestClient, alice: Workspace, bob: Workspace
) -> None:
    board = timed_board(client, bob, "uXjVweb017=", 60)
    csrf = sign_in(client, alice)

    answer = client.post(
        f"/web/boards/{board}/labels",
        data={"csrf": csrf, "action": "set", "key": "client", "value": "acme"},
        headers=ORIGIN,
    )

    assert answer.status_code == 404
    assert client.get(f"/v1/boards/{board}/labels", headers=bob.headers).json()["labels"] == {}


@pytest.mark.parametrize("path", ["/web/portfolio", "/web/portfolio/problems"])
def test_the_pages_across_boards_need_a_session(client: TestClient, path: str) -> None:
    answer = client.get(path, follow_redirects=False)

    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/web/login?next=/web/portfolio")
