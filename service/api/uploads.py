"""An upload streamed from the request body to a file in the upload folder, bounded.

``POST /v1/imports`` does not parse the dump: it writes the bytes as they arrive (hashing them
on the way, for idempotency keys) and leaves parsing to the worker, so the 202 comes in time
proportional to the bytes and the API holds about two batches (8 MB) per upload in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

import structlog
from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from service.api.problems import ProblemError
from service.usecases.uploads import StoredUpload, UploadFolder

log = structlog.get_logger(__name__)
T = TypeVar("T")

DISK_RETRY_AFTER_S = 60
BATCH_BYTES = 4 << 20
"""Bytes handed to the writing thread at once, while the next batch arrives. Each hand-over is
a thread hop, a hand-over of the GIL between the receiving loop and the writing thread and a
start of the write-back: an 86 MB upload took 1.85x writing the bytes to disk at 1 MB, 1.78x at
2 MB, 1.45-1.70x at 4 MB, 1.54x at 8 MB (bench/upload.py, 2026-12-03, docs/performance.md);
4 MB costs the API 9 MB over idle during the upload, 8 MB 17 MB."""


async def _on_disk(call: Callable[[], T]) -> T:
    """Run a file operation of the upload on a worker thread. A full or failing disk is the
    service's state, not a bug: 503 ``not-ready`` with ``Retry-After`` (nothing is kept)."""
    try:
        return await run_in_threadpool(call)
    except OSError as exc:
        log.warning("upload_folder_failed", error=str(exc))
        reason = exc.strerror or type(exc).__name__
        raise ProblemError(
            "not-ready",
            f"The upload folder cannot take the dump ({reason}); nothing was stored. "
            "Try again later.",
            headers={"Retry-After": str(DISK_RETRY_AFTER_S)},
        ) from exc


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
        while piece := await part.read(BATCH_BYTES):
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


async def stream_upload(
    request: Request, folder: UploadFolder, limit: int, *, hashed: bool, file_field: str = "file"
) -> StoredUpload:
    """Write the request's dump to a new file in ``folder`` and return it (not yet handed to
    a job), with its SHA-256 when ``hashed``. 413 past ``limit`` bytes (``Content-Length`` is
    checked first), 415 for other media types; a refused or broken-off upload leaves no file
    behind.

    The pieces as received are written by a worker thread, a batch at a time, while the next
    batch arrives (no copy of the bytes is made here); at most two batches are held.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + (64 * 1024):
        raise too_large(limit)
    pieces = upload_pieces(request, file_field)
    upload = await _on_disk(lambda: folder.create(hashed=hashed))
    writing: asyncio.Future[None] | None = None
    received = 0
    batch: list[bytes] = []
    batched = 0

    async def hand_on(full: list[bytes]) -> None:
        nonlocal writing
        if writing is not None:
            await writing
        writing = asyncio.ensure_future(_on_disk(lambda: upload.write(full)))

    try:
        async for piece in pieces:
            received += len(piece)
            if received > limit:
                raise too_large(limit)
            batch.append(piece)
            batched += len(piece)
            if batched >= BATCH_BYTES:
                await hand_on(batch)
                batch, batched = [], 0
        await hand_on(batch)
        assert writing is not None
        await writing
        return await _on_disk(upload.finish)
    except BaseException:
        if writing is not None:  # let the write in flight end before deleting what it wrote
            with contextlib.suppress(BaseException):
                await asyncio.shield(writing)
        await run_in_threadpool(upload.abandon)
        raise
