"""Uploads stored in chunks: read back whole, deleted with their job, abandoned ones swept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, func, select

from service.db.tables import ImportJob, ImportUpload, ImportUploadChunk, Workspace, utcnow
from service.usecases import uploads
from service.usecases.uploads import (
    delete_job_upload,
    open_upload,
    purge_abandoned_uploads,
    read_job_upload,
    store_bytes,
)


@pytest.fixture
def workspace_id(db_session: Session) -> int:
    workspace = Workspace(name="uploads")
    db_session.add(workspace)
    db_session.commit()
    assert workspace.id is not None
    return workspace.id


def a_job(session: Session, workspace_id: int, upload_id: int) -> int:
    job = ImportJob(workspace_id=workspace_id)
    session.add(job)
    session.flush()
    upload = session.get(ImportUpload, upload_id)
    assert upload is not None
    assert job.id is not None
    upload.job_id = job.id
    session.add(upload)
    session.commit()
    return job.id


def test_bytes_stored_in_chunks_come_back_whole_and_in_order(
    db_session: Session, workspace_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uploads, "CHUNK_BYTES", 7)
    raw = bytes(range(256)) * 3

    stored = store_bytes(db_session, workspace_id, raw)
    job_id = a_job(db_session, workspace_id, stored.id)

    chunks = db_session.exec(select(func.count()).select_from(ImportUploadChunk)).one()
    assert chunks == -(-len(raw) // 7)
    assert stored.size_bytes == len(raw)
    assert read_job_upload(db_session, job_id) == raw


def test_a_finished_job_takes_its_upload_and_chunks_with_it(
    db_session: Session, workspace_id: int
) -> None:
    job_id = a_job(db_session, workspace_id, store_bytes(db_session, workspace_id, b"{}" * 9).id)

    delete_job_upload(db_session, job_id)
    db_session.commit()

    assert read_job_upload(db_session, job_id) is None
    assert db_session.exec(select(func.count()).select_from(ImportUploadChunk)).one() == 0


def test_the_sweep_deletes_only_old_uploads_that_never_got_a_job(
    db_session: Session, workspace_id: int
) -> None:
    now = utcnow()
    abandoned = store_bytes(db_session, workspace_id, b"abandoned").id
    arriving = open_upload(db_session, workspace_id)
    claimed = store_bytes(db_session, workspace_id, b"claimed").id
    db_session.commit()
    for upload_id in (abandoned, claimed):
        row = db_session.get(ImportUpload, upload_id)
        assert row is not None
        row.created_at = now - timedelta(hours=2)
        db_session.add(row)
    db_session.commit()
    a_job(db_session, workspace_id, claimed)

    purged = purge_abandoned_uploads(db_session, now=now)

    assert purged == 1
    left = set(db_session.exec(select(ImportUpload.id)).all())
    assert left == {arriving, claimed}
    chunk_owners = set(db_session.exec(select(ImportUploadChunk.upload_id)).all())
    assert chunk_owners == {claimed}
