"""An upload streamed from the request body to the database, a chunk at a time, bounded.

``POST /v1/imports`` does not parse the dump: it stores the bytes as they arrive (hashing them
on the way, for idempotency keys) and leaves parsing to the worker, so the 202 comes in time
proportional to the bytes and the API holds about one chunk per upload in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator

import structlog
from fastapi import Request
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from service.api.problems import ProblemError
from service.db.engine import SessionFactory, begin_write
from service.usecases.uploads import (
    CHUNK_BYTES,
    StoredUpload,
    add_chunk,
    close_upload,
    discard_upload,
    open_upload,
)

log = structlog.get_logger(__name__)


def too_large(limit: int) -> ProblemError:
    return ProblemError("payload-too-large", f"The dump is larger than the limit of {limit} bytes.")


async def _json_body(request: Request) -> AsyncIterator[bytes]:
    async for piece in request.stream():
        if piece:
            yield piece


async def _file_part(request: Request, field: str) -> AsyncIterator[bytes]:
    """The bytes of the form's ``field`` file; Starlette spools parts over 1 MB to a temporary
    file, so memory stays bounded here too."""
    form = await request.form(max_files=4, max_fields=8)
    try:
        part = form.get(field)
        if not isinstance(part, UploadFile):
            raise ProblemError(
                "validation-error",
                f"The form has no {field!r} file.",
                errors=[{"field": f"body.{field}", "message": "field required"}],
            )
        while piece := await part.read(CHUNK_BYTES):
            yield piece
    finally:
        await form.close()


def upload_pieces(request: Request, file_field: str) -> AsyncIterator[bytes]:
    """The dump's bytes as they arrive: the JSON body itself, or a multipart form's
    ``file_field``; 415 for other media types."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        return _json_body(request)
    if media_type == "multipart/form-data":
        return _file_part(request, file_field)
    raise ProblemError(
        "unsupported-media-type",
        f"Send application/json or multipart/form-data with a {file_field!r} file.",
    )


class _Writer:
    """Writes one upload's chunks in order, each in a short transaction of its own session,
    and hashes them on the same worker thread (off the event loop)."""

    def __init__(self, sessions: SessionFactory, workspace_id: int) -> None:
        self._sessions = sessions
        self._workspace_id = workspace_id
        self.upload_id: int | None = None
        self._seq = 0
        self.size = 0
        self._digest = hashlib.sha256()

    def open(self) -> None:
        with self._sessions() as session:
            begin_write(session)
            self.upload_id = open_upload(session, self._workspace_id)
            session.commit()

    def write(self, data: bytes) -> None:
        assert self.upload_id is not None
        self._digest.update(data)
        with self._sessions() as session:
            begin_write(session)
            add_chunk(session, self.upload_id, self._seq, data)
            session.commit()
        self._seq += 1
        self.size += len(data)

    def close(self) -> StoredUpload:
        assert self.upload_id is not None
        with self._sessions() as session:
            begin_write(session)
            stored = close_upload(session, self.upload_id, self.size, self._digest.hexdigest())
            session.commit()
        return stored

    def discard(self) -> None:
        if self.upload_id is None:
            return
        with self._sessions() as session:
            begin_write(session)
            discard_upload(session, self.upload_id)
            session.commit()


async def stream_upload(
    request: Request,
    sessions: SessionFactory,
    workspace_id: int,
    limit: int,
    *,
    file_field: str = "file",
) -> StoredUpload:
    """Store the request's dump as an upload of ``workspace_id`` and return it (not yet
    handed to a job). 413 past ``limit`` bytes (``Content-Length`` is checked first), 415 for
    other media types; a refused or broken-off upload leaves nothing behind.

    One chunk is written (on a worker thread) while the next one arrives: the transfer and
    the database write overlap, and at most two chunks are held.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + (64 * 1024):
        raise too_large(limit)
    pieces = upload_pieces(request, file_field)
    writer = _Writer(sessions, workspace_id)
    writing: asyncio.Future[None] | None = None
    received = 0
    pending = bytearray()

    async def hand_on(chunk: bytes) -> None:
        nonlocal writing
        if writing is not None:
            await writing
        writing = asyncio.ensure_future(run_in_threadpool(writer.write, chunk))

    try:
        await run_in_threadpool(writer.open)
        async for piece in pieces:
            received += len(piece)
            if received > limit:
                raise too_large(limit)
            pending += piece
            while len(pending) >= CHUNK_BYTES:
                chunk = bytes(pending[:CHUNK_BYTES])
                del pending[:CHUNK_BYTES]
                await hand_on(chunk)
        if pending:
            await hand_on(bytes(pending))
        if writing is not None:
            await writing
        return await run_in_threadpool(writer.close)
    except BaseException:
        if writing is not None:  # let the write in flight end before deleting what it wrote
            with contextlib.suppress(BaseException):
                await asyncio.shield(writing)
        try:
            await run_in_threadpool(writer.discard)
        except SQLAlchemyError as exc:  # the sweep deletes it; the first error is the answer
            log.warning(
                "upload_discard_failed", upload_id=writer.upload_id, error=type(exc).__name__
            )
        raise


async def discard(sessions: SessionFactory, upload: StoredUpload) -> None:
    """Delete a stored upload that will not become a job (the request was refused after it).

    Best effort: when the database refuses this too, the hourly sweep deletes it, and the
    request's own error is the one to answer with."""

    def run() -> None:
        with sessions() as session:
            begin_write(session)
            discard_upload(session, upload.id)
            session.commit()

    try:
        await run_in_threadpool(run)
    except SQLAlchemyError as exc:
        log.warning("upload_discard_failed", upload_id=upload.id, error=type(exc).__name__)
