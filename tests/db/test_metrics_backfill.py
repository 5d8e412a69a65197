"""Migration 0005 fills revision_stream.metrics from the stored documents."""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from service.db.migrate import upgrade_database
from tests.db.test_migrations import empty_engine  # noqa: F401  (the fixture)

DOCUMENT = {"id": "s1", "name": "Ist", "metrics": {"total_lead_time_min": 480.0, "handoffs": 2}}


def test_streams_stored_before_the_metrics_column_get_their_metrics(
    empty_engine: Engine,  # noqa: F811
) -> None:
    upgrade_database(empty_engine, "0004")
    with empty_engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO workspace (id, name, created_at) VALUES (1, 'w', CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO board (id, workspace_id, provider, external_id, name, source, "
                "created_at, updated_at) VALUES (1, 1, 'miro', 'b', 'B', 'file', "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO revision (id, board_id, number, content_hash, rules_hash, trigger, "
                "item_count, connector_count, stream_count, step_count, problem_count, "
                "unclassified_count, created_at) VALUES "
                "(1, 1, 1, 'h', 'r', 't', 0, 0, 1, 0, 0, 0, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO stream (id, board_id, key, created_at) "
                "VALUES (1, 1, 's1', CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO revision_stream (revision_id, stream_id, revision_number, position, "
                "name, state, step_count, etag, data) VALUES (1, 1, 1, 0, 'Ist', 'current', 0, "
                "'e', :data)"
            ),
            {"data": json.dumps(DOCUMENT)},
        )

    upgrade_database(empty_engine)

    with empty_engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT metrics FROM revision_stream")).scalar_one()
    assert (json.loads(stored) if isinstance(stored, str) else stored) == DOCUMENT["metrics"]
