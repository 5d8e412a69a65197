"""``GET /v1/boards/{id}/revisions/{n}/explain.svg``: the stored board drawn as it was read."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connectors.dump import load_dump
from service.db.tables import Revision, RevisionContent
from service.domain.digitize import digitize
from service.domain.ruleset import Ruleset
from service.domain.serialize import board_to_dict
from service.rules_file import ruleset_to_dict
from tests.api.render.conftest import Seeded, seed_board

SVG = "{http://www.w3.org/2000/svg}"
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "miro-abo-workshop.json"


@pytest.fixture
def stored(engine: Engine, seeded: Seeded) -> int:
    """A board of the first workspace whose revision 1 holds the example board, as imports
    store it (normalized board, effective rules, contract)."""
    board = load_dump(json.loads(EXAMPLE.read_text(encoding="utf-8")))
    with Session(engine) as session:
        board_id, _ = seed_board(session, seeded.workspace_id, digitize(board), "b3")
        content = session.exec(
            select(RevisionContent)
            .join(Revision, Revision.id == RevisionContent.revision_id)  # type: ignore[arg-type]
            .where(Revision.board_id == board_id)
        ).one()
        content.board = board_to_dict(board)
        content.ruleset = ruleset_to_dict(Ruleset())
        session.add(content)
        session.commit()
    return board_id


def _items(svg: str) -> list[ET.Element]:
    root = ET.fromstring(svg)
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == "board-item"]


def test_the_explain_view_draws_every_item_by_its_role(
    client: TestClient, stored: int, auth: dict[str, str]
) -> None:
    response = client.get(f"/v1/boards/{stored}/revisions/1/explain.svg", headers=auth)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "script-src" not in response.headers["content-security-policy"]
    items = _items(response.text)
    roles = [g.get("data-role") for g in items]
    assert roles.count("step") + roles.count("wait") == 13  # 8 in Ist, 5 in Soll
    assert roles.count("problem") == 6
    root = ET.fromstring(response.text)
    badges = [g for g in root.iter(f"{SVG}g") if g.get("class") == "order-badge"]
    assert len(badges) == 13
    assert "<script" not in response.text


def test_an_unchanged_explain_view_answers_304(
    client: TestClient, stored: int, auth: dict[str, str]
) -> None:
    url = f"/v1/boards/{stored}/revisions/1/explain.svg"
    first = client.get(url, headers=auth)

    again = client.get(url, headers={**auth, "If-None-Match": first.headers["etag"]})

    assert again.status_code == 304


@pytest.mark.parametrize("number", [2, 0])
def test_a_revision_the_board_does_not_have_is_a_404(
    client: TestClient, stored: int, auth: dict[str, str], number: int
) -> None:
    response = client.get(f"/v1/boards/{stored}/revisions/{number}/explain.svg", headers=auth)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_another_workspaces_board_is_a_404_and_no_key_a_401(
    client: TestClient, stored: int, seeded: Seeded
) -> None:
    url = f"/v1/boards/{stored}/revisions/1/explain.svg"

    assert client.get(url).status_code == 401
    other = client.get(url, headers={"Authorization": f"Bearer {seeded.other_key}"})
    assert other.status_code == 404


def test_a_stored_board_that_cannot_be_read_is_a_409_problem(
    client: TestClient, seeded: Seeded, auth: dict[str, str]
) -> None:
    # the seeded revision stores an empty dict where the normalized board belongs
    response = client.get(f"/v1/boards/{seeded.board_id}/revisions/1/explain.svg", headers=auth)

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert "cannot be drawn" in response.json()["detail"]
