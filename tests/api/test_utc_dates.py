"""Dates on /v1/connections* and /v1/boards/{id}/sync carry their time zone (UTC, ``Z``), as on
every other route; SQLite hands back naive datetimes."""

from __future__ import annotations

import json
from datetime import datetime

from service.api.routes.connections import BoardSyncPublic, ConnectionPublic

NAIVE = datetime(2026, 12, 2, 7, 0, 0)


def test_a_board_sync_state_shows_its_dates_in_utc() -> None:
    sync = BoardSyncPublic(
        board_id=1,
        provider="miro",
        external_id="b",
        connection_id=1,
        status="ok",
        error=None,
        remote_modified_at=None,
        last_checked_at=NAIVE,
        next_check_at=NAIVE,
        last_import_job_id=None,
    )

    shown = json.loads(sync.model_dump_json())

    assert (shown["last_checked_at"], shown["next_check_at"]) == ("2026-12-02T07:00:00Z",) * 2


def test_a_connection_shows_its_dates_in_utc() -> None:
    connection = ConnectionPublic(
        id=1,
        provider="miro",
        account_id="a",
        account_name="A",
        user_id="u",
        user_name="U",
        scopes=[],
        status="active",
        status_reason=None,
        expires_at=NAIVE,
        created_at=NAIVE,
        updated_at=NAIVE,
    )

    shown = json.loads(connection.model_dump_json())

    assert {shown[k] for k in ("expires_at", "created_at", "updated_at")} == {
        "2026-12-02T07:00:00Z"
    }
