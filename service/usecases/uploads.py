"""Uploaded dumps as files in the upload folder, from the request to the worker.

The API writes an upload's bytes to a new file in the folder as they arrive (``.part``), flushes
it to disk and renames it to its final name once complete; only then does the database learn of
it, in the transaction that stores its job (an ``import_upload`` row naming the file). The
worker reads the file wherever it runs (the folder is shared by every API process and worker:
a local folder for the embedded default, a shared volume when they run on different hosts) and
deletes it once the job is finished. Files no job refers to (a dropped connection, a crash
between the rename and the commit, a refused request) are deleted by
:func:`purge_abandoned_uploads`.

Why files and not database rows: writing the bytes once to a file costs what the disk costs;
SQLite wrote them twice (its log, then the table) and PostgreSQL received them as escaped text,
6 to 17 times the file write for a 100 MB upload (docs/performance.md, "The import side").
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from sqlmodel import Session, col, delete, select

from service.db.tables import ImportUpload

ABANDONED_AFTER = timedelta(hours=1)
"""A file no job refers to, untouched this long, is not arriving any more (no transfer takes
that long) and is deleted by the sweep."""

_SUFFIX = ".dump"
_PARTIAL = ".part"
_NAME = re.compile(r"[0-9a-f]{32}\.(dump|part)")
"""What the folder's own files look like; the sweep touches nothing else in the folder."""


@dataclass(frozen=True, slots=True)
class StoredUpload:
    """A complete upload: its file's name in the folder, its size and SHA-256 (hex; None when
    not asked for)."""

    name: str
    size_bytes: int
    sha256: str | None


class UploadFile:
    """One upload being written: ``write`` the bytes in order, then ``finish`` (on disk and
    renamed to its final name) or ``abandon`` (deleted). Not thread-safe: one writer at a time,
    which may be any thread. With ``hashed``, the SHA-256 of the bytes is taken on the way."""

    def __init__(self, folder: Path, *, hashed: bool) -> None:
        self._folder = folder
        token = secrets.token_hex(16)
        self.name = token + _SUFFIX
        self._partial = folder / (token + _PARTIAL)
        self._file: BinaryIO | None = self._partial.open("xb")
        self._digest = hashlib.sha256() if hashed else None
        self.size = 0

    def write(self, pieces: Iterable[bytes]) -> None:
        """Append ``pieces`` (hashlib and the write let other threads run meanwhile) and start
        writing them to disk without waiting, so that ``finish`` has little left to flush."""
        assert self._file is not None
        for piece in pieces:
            if self._digest is not None:
                self._digest.update(piece)
            self._file.write(piece)
            self.size += len(piece)
        self._file.flush()
        _start_writeback(self._file.fileno())

    def finish(self) -> StoredUpload:
        """Flush the bytes to disk and give the file its final name (atomically: a reader sees
        the whole upload or none), the rename itself flushed too."""
        assert self._file is not None
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        os.replace(self._partial, self._folder / self.name)
        _sync_folder(self._folder)
        digest = self._digest.hexdigest() if self._digest is not None else None
        return StoredUpload(self.name, self.size, digest)

    def abandon(self) -> None:
        """Close and delete what was written (idempotent)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._partial.unlink(missing_ok=True)


def _start_writeback(descriptor: int) -> None:
    """Have the kernel start writing the file's dirty pages to disk now, in the background,
    and drop the pages already written from the page cache (the worker reads the file once,
    later). On Linux ``POSIX_FADV_DONTNEED`` does both; it only advises, so where it is
    missing or refused nothing changes but the time ``fsync`` takes. An 86 MB upload's final
    ``fsync`` went from 0.11 s to 0.07 s, its 202 from 2.1x writing the bytes to disk to
    1.5x (bench/upload.py, docs/performance.md)."""
    advise = getattr(os, "posix_fadvise", None)
    if advise is None:
        return
    with contextlib.suppress(OSError):
        advise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)


def _sync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@dataclass(frozen=True)
class UploadFolder:
    """The folder uploads are kept in (``VSM_UPLOAD_DIR``); built by the composition root."""

    path: Path

    def create(self, *, hashed: bool) -> UploadFile:
        """A new, empty upload file (the folder is created when missing); ``hashed``: take
        the SHA-256 of its bytes (only an idempotency key needs it; it was a fifth of the API's
        CPU for an 86 MB upload in bench/upload.py)."""
        self.path.mkdir(parents=True, exist_ok=True)
        return UploadFile(self.path, hashed=hashed)

    def store(self, raw: bytes, *, sha256: str | None = None) -> StoredUpload:
        """Write ``raw`` (already in memory: a live fetch, the web form, the demo) as an
        upload with its SHA-256: ``sha256`` when the caller took it already, else taken here.
        The caller hands it to a job (:func:`attach_upload`) or deletes it."""
        upload = self.create(hashed=sha256 is None)
        try:
            upload.write([raw])
            stored = upload.finish()
        except BaseException:
            upload.abandon()
            raise
        return stored if sha256 is None else replace(stored, sha256=sha256)

    def read(self, name: str) -> bytes | None:
        """The upload's bytes, or None when its file is gone."""
        try:
            return self._file(name).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, name: str) -> None:
        """Delete the upload's file (idempotent)."""
        self._file(name).unlink(missing_ok=True)

    def _file(self, name: str) -> Path:
        if not _NAME.fullmatch(name):  # a name from the database, never a path
            raise ValueError(f"not an upload's name: {name[:80]!r}")
        return self.path / name


def attach_upload(session: Session, workspace_id: int, job_id: int, upload: StoredUpload) -> None:
    """Record that job ``job_id`` imports ``upload``; flushes (the caller commits, and deletes
    the file if it does not)."""
    session.add(
        ImportUpload(
            workspace_id=workspace_id,
            job_id=job_id,
            file_name=upload.name,
            size_bytes=upload.size_bytes,
            sha256=upload.sha256,
        )
    )
    session.flush()


def job_upload_name(session: Session, job_id: int) -> str | None:
    """The file name of job ``job_id``'s upload, or None when it has none (any more)."""
    return session.exec(select(ImportUpload.file_name).where(ImportUpload.job_id == job_id)).first()


def delete_job_upload(session: Session, job_id: int) -> str | None:
    """Forget the job's upload (in the caller's transaction) and return its file's name: the
    caller deletes the file once it has committed (before, a failed commit would leave a job
    without its upload)."""
    name = job_upload_name(session, job_id)
    if name is not None:
        session.exec(delete(ImportUpload).where(col(ImportUpload.job_id) == job_id))
    return name


def purge_abandoned_uploads(
    session: Session,
    folder: UploadFolder,
    *,
    now: datetime,
    older_than: timedelta = ABANDONED_AFTER,
) -> int:
    """Delete the folder's upload files that no job refers to and that were last written
    before ``now - older_than``; returns how many. Safe with several processes sharing the
    folder: a file just renamed is younger than the cutoff until its job is long committed."""
    cutoff = (now - older_than).timestamp()
    try:
        entries = list(os.scandir(folder.path))
    except FileNotFoundError:
        return 0
    stale = []
    for entry in entries:
        if not _NAME.fullmatch(entry.name):
            continue
        try:
            if entry.stat().st_mtime < cutoff:
                stale.append(entry.name)
        except FileNotFoundError:
            continue  # another process deleted it meanwhile
    purged = 0
    for start in range(0, len(stale), 500):
        batch = stale[start : start + 500]
        referenced = set(
            session.exec(
                select(ImportUpload.file_name).where(col(ImportUpload.file_name).in_(batch))
            ).all()
        )
        session.rollback()  # read only; no transaction held while deleting files
        for name in batch:
            if name not in referenced:
                folder.delete(name)
                purged += 1
    return purged
