"""Uploaded dumps in the database, a megabyte per row, from the request to the worker.

The API writes an upload's chunks as they arrive (one short transaction each, so SQLite's single
writer is never held for the length of a transfer) and hands the upload to its job in the
transaction that stores the job. The worker reads the chunks back wherever it runs: the bytes
live in the database every process already shares (SQLite file or PostgreSQL), so no shared
volume is needed. An upload nobody claimed (a dropped connection, a crash mid-transfer) is
deleted by :func:`purge_abandoned_uploads`.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert
from sqlmodel import Session, col, delete, select

from service.db.engine import begin_write
from service.db.tables import ImportUpload, ImportUploadChunk

CHUNK_BYTES = 1 << 20
"""Bytes per stored row: large enough that a 100 MB dump is 100 inserts, small enough that
neither side holds more than a few of them at once."""

ABANDONED_AFTER = timedelta(hours=1)
"""An upload without a job this old is not arriving any more (no transfer takes that long)."""


@dataclass(frozen=True, slots=True)
class StoredUpload:
    """A complete upload: its row id, size and SHA-256 (hex) of its bytes."""

    id: int
    size_bytes: int
    sha256: str


def open_upload(session: Session, workspace_id: int) -> int:
    """Add an empty upload for ``workspace_id``; flushes (the caller commits). Its id."""
    upload = ImportUpload(workspace_id=workspace_id)
    session.add(upload)
    session.flush()
    assert upload.id is not None
    return upload.id


def add_chunk(session: Session, upload_id: int, seq: int, data: bytes) -> None:
    """Add chunk number ``seq`` (from 0) of the upload (a Core insert: no ORM object for a
    megabyte that is never read back here); the caller commits."""
    session.execute(insert(ImportUploadChunk).values(upload_id=upload_id, seq=seq, data=data))


def close_upload(session: Session, upload_id: int, size_bytes: int, sha256: str) -> StoredUpload:
    """Record the upload's size and hash once every chunk is stored; flushes only."""
    upload = session.get(ImportUpload, upload_id)
    if upload is None:
        raise LookupError(f"upload {upload_id} is gone")
    upload.size_bytes = size_bytes
    upload.sha256 = sha256
    session.add(upload)
    session.flush()
    return StoredUpload(id=upload_id, size_bytes=size_bytes, sha256=sha256)


def store_bytes(session: Session, workspace_id: int, raw: bytes) -> StoredUpload:
    """Store ``raw`` (already in memory: a live fetch, the demo) as an upload, in the caller's
    transaction; flushes only."""
    upload_id = open_upload(session, workspace_id)
    view = memoryview(raw)
    for seq, start in enumerate(range(0, len(raw), CHUNK_BYTES)):
        add_chunk(session, upload_id, seq, bytes(view[start : start + CHUNK_BYTES]))
    return close_upload(session, upload_id, len(raw), hashlib.sha256(raw).hexdigest())


def read_job_upload(session: Session, job_id: int) -> bytes | None:
    """The bytes of job ``job_id``'s upload, or None when it has none (any more).

    Chunks are fetched one row at a time into one growing buffer, so the peak is about the
    upload's size (plus one chunk), not twice it.
    """
    upload_id = session.exec(select(ImportUpload.id).where(ImportUpload.job_id == job_id)).first()
    if upload_id is None:
        return None
    buffer = io.BytesIO()
    rows = session.exec(
        select(ImportUploadChunk.data)
        .where(ImportUploadChunk.upload_id == upload_id)
        .order_by(col(ImportUploadChunk.seq))
        .execution_options(yield_per=4)
    )
    for data in rows:
        buffer.write(data)
    # getvalue hands over the buffer's own bytes object when nothing else refers to it
    return buffer.getvalue()


def delete_job_upload(session: Session, job_id: int) -> None:
    """Delete the job's upload and its chunks (in the caller's transaction)."""
    upload_ids = select(ImportUpload.id).where(ImportUpload.job_id == job_id)
    session.exec(delete(ImportUploadChunk).where(col(ImportUploadChunk.upload_id).in_(upload_ids)))
    session.exec(delete(ImportUpload).where(col(ImportUpload.job_id) == job_id))


def discard_upload(session: Session, upload_id: int) -> None:
    """Delete an upload that will not become a job (refused, replayed, cut off); flushes."""
    session.exec(delete(ImportUploadChunk).where(col(ImportUploadChunk.upload_id) == upload_id))
    session.exec(delete(ImportUpload).where(col(ImportUpload.id) == upload_id))


def purge_abandoned_uploads(
    session: Session, *, now: datetime, older_than: timedelta = ABANDONED_AFTER
) -> int:
    """Delete uploads that never got a job and were started before ``now - older_than``;
    commits; returns how many."""
    begin_write(session)
    ids = list(
        session.exec(
            select(ImportUpload.id).where(
                col(ImportUpload.job_id).is_(None),
                col(ImportUpload.created_at) < now - older_than,
            )
        ).all()
    )
    for upload_id in ids:
        if upload_id is not None:
            discard_upload(session, upload_id)
    session.commit()
    return len(ids)
