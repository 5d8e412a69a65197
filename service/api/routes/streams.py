"""``/v1/streams/{id}``: one value stream (contract v1) with ETags, and its exports."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Header, Query, Response
from sqlmodel import Session, col

from service.api.deps import SessionDep, WorkspaceDep
from service.api.problems import ProblemError, responses
from service.api.routes.boards import RevisionQuery
from service.api.schemas import StreamPublic
from service.db.tables import Board, RevisionStream, Stream
from service.domain.contract_model import decode_stream
from service.domain.export import stream_to_markdown, streams_to_csv

router = APIRouter(prefix="/streams", tags=["streams"])


@dataclass(frozen=True, slots=True)
class StreamRow:
    """A stream as stored for one revision; ``document`` is its contract JSON, unparsed."""

    stream_id: int
    board_id: int
    revision: int
    key: str
    etag: str
    document: str


def stream_document_or_404(
    session: Session, workspace_id: int, stream_id: int, revision: int | None
) -> StreamRow:
    """The stream as of ``revision`` (default: the latest revision containing it); 404 when it
    is unknown, in another workspace, or absent from that revision.

    The document is read as text: serving it needs no JSON parse and no re-serialization.
    """
    number, etag, document, key, board_id = _latest_row(
        session,
        workspace_id,
        stream_id,
        revision,
        RevisionStream.revision_number,
        RevisionStream.etag,
        sa.cast(RevisionStream.data, sa.Text),
        Stream.key,
        Stream.board_id,
    )
    return StreamRow(stream_id, board_id, number, key, etag, document)


def stream_row_or_404(
    session: Session, workspace_id: int, stream_id: int, revision: int | None
) -> tuple[RevisionStream, str, int]:
    """Like ``stream_document_or_404``, with the stored row (document parsed), key, board id."""
    row, key, board_id = _latest_row(
        session, workspace_id, stream_id, revision, RevisionStream, Stream.key, Stream.board_id
    )
    return row, key, board_id


def _latest_row(
    session: Session, workspace_id: int, stream_id: int, revision: int | None, *columns: Any
) -> tuple[Any, ...]:
    """``columns`` of the stream as of ``revision`` (None: the latest revision holding it), or
    the 404 problem when it is unknown, in another workspace, or absent from that revision."""
    query = (
        sa.select(*columns)
        .join(Stream, col(Stream.id) == col(RevisionStream.stream_id))
        .join(Board, col(Board.id) == col(Stream.board_id))
        .where(col(RevisionStream.stream_id) == stream_id, col(Board.workspace_id) == workspace_id)
    )
    if revision is not None:
        query = query.where(col(RevisionStream.revision_number) == revision)
    row = session.execute(
        query.order_by(col(RevisionStream.revision_number).desc()).limit(1)
    ).first()
    if row is None:
        where = f" in revision {revision}" if revision is not None else ""
        raise ProblemError("not-found", f"No stream {stream_id}{where}.")
    return tuple(row)


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (or ``*``); weak tags match too."""
    if not if_none_match:
        return False
    candidates = [part.strip() for part in if_none_match.split(",")]
    return "*" in candidates or any(c.removeprefix("W/") == etag for c in candidates)


@router.get(
    "/{stream_id}",
    response_model=StreamPublic,
    responses={**responses(401, 404, 422), 304: {"description": "Not modified (If-None-Match)"}},
)
def get_stream(
    stream_id: int,
    workspace_id: WorkspaceDep,
    session: SessionDep,
    revision: RevisionQuery = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The stream in the latest revision that contains it (or in ``revision``). Carries an
    ``ETag``; send it back as ``If-None-Match`` to get 304 while the stream is unchanged."""
    row = stream_document_or_404(session, workspace_id, stream_id, revision)
    etag = f'"{row.etag}"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    # StreamPublic, assembled around the stored document (valid JSON, written by the worker).
    body = (
        f'{{"id":{row.stream_id},"board_id":{row.board_id},"revision":{row.revision},'
        f'"key":{json.dumps(row.key)},"schema_version":1,"stream":{row.document}}}'
    )
    return Response(content=body, media_type="application/json", headers=headers)


@router.get(
    "/{stream_id}/export",
    responses={
        **responses(401, 404, 422),
        200: {
            "content": {"text/csv": {}, "text/markdown": {}, "application/json": {}},
            "description": "The stream as a file",
        },
    },
)
def export_stream(
    stream_id: int,
    workspace_id: WorkspaceDep,
    session: SessionDep,
    format: Annotated[Literal["csv", "markdown", "json"], Query()] = "json",
    revision: RevisionQuery = None,
) -> Response:
    """The stream as CSV (one row per step), Markdown (tables) or JSON (contract v1 stream),
    served as a download."""
    row = stream_document_or_404(session, workspace_id, stream_id, revision)
    stream = json.loads(row.document)
    stem = f"stream-{row.stream_id}-r{row.revision}"
    if format == "csv":
        content = streams_to_csv([decode_stream(stream)])
        media, suffix = "text/csv; charset=utf-8", "csv"
    elif format == "markdown":
        content, media, suffix = (
            stream_to_markdown(decode_stream(stream)),
            "text/markdown; charset=utf-8",
            "md",
        )
    else:
        content = json.dumps(
            {
                "schema_version": 1,
                "board_id": row.board_id,
                "revision": row.revision,
                "key": row.key,
                "stream": stream,
            },
            ensure_ascii=False,
            indent=2,
        )
        media, suffix = "application/json", "json"
    return Response(
        content=content,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="{stem}.{suffix}"',
            "ETag": f'"{row.etag}-{format}"',
            "X-Content-Type-Options": "nosniff",
        },
    )
