"""Migration 0008 moves the uploads of queued jobs from chunk rows into files, and back."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from service.db.migrate import downgrade_database, upgrade_database
from service.usecases.uploads import UploadFolder
from tests.db.test_migrations import empty_engine  # noqa: F401  (the fixture)


def test_a_queued_jobs_upload_survives_the_move_to_files_and_back(
    empty_engine: Engine,  # noqa: F811
    tmp_path: Path,
) -> None:
    folder = tmp_path / "uploads"
    upgrade_database(empty_engine, "0007")
    with empty_engine.begin() as connection:
        run = connection.execute
        run(
            sa.text(
                "INSERT INTO workspace (id, name, created_at) VALUES (1, 'w', CURRENT_TIMESTAMP)"
            )
        )
        run(
            sa.text(
                "INSERT INTO import_job (id, workspace_id, kind, status, progress, trigger, "
                "attempts, created_at) VALUES (7, 1, 'import', 'queued', 0, 'api', 0, "
                "CURRENT_TIMESTAMP)"
            )
        )
        run(
            sa.text(
                "INSERT INTO import_upload (id, workspace_id, job_id, size_bytes, created_at) "
                "VALUES (1, 1, 7, 9, CURRENT_TIMESTAMP), (2, 1, NULL, 3, CURRENT_TIMESTAMP)"
            )
        )
        run(
            sa.text("INSERT INTO import_upload_chunk (upload_id, seq, data) VALUES (:u, :s, :d)"),
            [
                {"u": 1, "s": 1, "d": b"def"},
                {"u": 1, "s": 0, "d": b"abc"},
                {"u": 1, "s": 2, "d": b"ghi"},
                {"u": 2, "s": 0, "d": b"cut"},  # still arriving when the service stopped
            ],
        )

    upgrade_database(empty_engine, upload_dir=folder)

    with empty_engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT job_id, file_name FROM import_upload")).all()
    assert len(rows) == 1
    ((job_id, name),) = rows
    assert job_id == 7
    assert UploadFolder(folder).read(name) == b"abcdefghi"
    assert [p.name for p in folder.iterdir()] == [name]

    downgrade_database(empty_engine, "0007", upload_dir=folder)

    with empty_engine.connect() as connection:
        data = connection.execute(
            sa.text("SELECT data FROM import_upload_chunk WHERE upload_id = 1")
        ).scalar_one()
    assert bytes(data) == b"abcdefghi"
