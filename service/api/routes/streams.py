"""``/v1/streams/{id}``: one value stream (contract v1) with ETags, and its exports."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from service.api.deps import SessionDep, WorkspaceDep, request_workspace
from service.api.etags import etag_matches
from service.api.problems import ProblemError, responses
from service.api.routes.boards import RevisionQuery
from service.api.schemas import StreamPublic, stream_json
from service.db.engine import PlainQuery
from service.db.loop_reads import LoopReads, Reads
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
    document: str | bytes


@dataclass(frozen=True, slots=True)
class StreamHead:
    """A stream's row for one revision without its document: what decides its answer, since
    the ETag is the hash of the board, the key and the document."""

    stream_id: int
    board_id: int
    revision: int
    key: str
    etag: str

    def with_document(self, document: str | bytes) -> StreamRow:
        return StreamRow(
            self.stream_id, self.board_id, self.revision, self.key, self.etag, document
        )


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
        raise _not_found(stream_id, revision)
    return tuple(row)


_rs = RevisionStream.__table__  # type: ignore[attr-defined]
_stream = Stream.__table__  # type: ignore[attr-defined]
_board = Board.__table__  # type: ignore[attr-defined]


def _hot_query(*, pinned: bool, with_document: bool, as_bytes: bool) -> sa.Select[Any]:
    """The stream's revision number, ETag, key and board id (and document as text) at the
    latest revision holding it, or at ``:revision`` when ``pinned``; empty for another
    workspace's stream. Built once per shape: SQLAlchemy then reuses the compiled statement."""
    columns = [_rs.c.revision_number, _rs.c.etag, _stream.c.key, _stream.c.board_id]
    if with_document:
        columns.append(document_column(as_bytes))
    query = (
        sa.select(*columns)
        .join(_stream, _stream.c.id == _rs.c.stream_id)
        .join(_board, _board.c.id == _stream.c.board_id)
        .where(
            _rs.c.stream_id == sa.bindparam("stream"),
            _board.c.workspace_id == sa.bindparam("workspace"),
        )
    )
    if pinned:
        query = query.where(_rs.c.revision_number == sa.bindparam("revision"))
    return query.order_by(_rs.c.revision_number.desc()).limit(1)


def document_column(as_bytes: bool) -> Any:
    """A stream's stored document as the hot reads select it (here and ``service.api.hot``):
    SQLite hands a BLOB cast over as the stored UTF-8 bytes, so the document goes out as it
    is stored, without a decode into str and an encode back (0.3 ms of CPU at 300 KB)."""
    return sa.cast(_rs.c.data, sa.LargeBinary if as_bytes else sa.Text)


class StreamReader:
    """The hot read of ``GET /v1/streams/{id}``: plain compiled queries run on the event loop
    (:class:`~service.db.loop_reads.LoopReads`), built once per app (bench/api_read.py)."""

    def __init__(self, engine: Engine, loop_reads: LoopReads) -> None:
        self._loop_reads = loop_reads
        as_bytes = loop_reads.inline
        self._latest = {
            (pinned, with_document): PlainQuery(
                engine,
                _hot_query(pinned=pinned, with_document=with_document, as_bytes=as_bytes),
            )
            for pinned in (False, True)
            for with_document in (False, True)
        }
        self._document = PlainQuery(
            engine,
            sa.select(document_column(as_bytes)).where(
                _rs.c.stream_id == sa.bindparam("stream"),
                _rs.c.revision_number == sa.bindparam("revision"),
            ),
        )

    async def read(
        self, workspace_id: int, stream_id: int, revision: int | None, if_none_match: str | None
    ) -> StreamRow | str:
        """The stream's row, or its stored ETag alone when ``if_none_match`` names it (the
        document is not read then); the 404 problem when there is no such stream here."""
        async with self._loop_reads.reads() as reads:
            return await self.read_with(reads, workspace_id, stream_id, revision, if_none_match)

    async def read_with(
        self,
        reads: Reads,
        workspace_id: int,
        stream_id: int,
        revision: int | None,
        if_none_match: str | None,
    ) -> StreamRow | str:
        """``read`` with the look-ups of a request that holds them already."""
        if if_none_match:
            head = await self.head(reads, workspace_id, stream_id, revision)
            if etag_matches(if_none_match, stream_etag(head.etag)):
                return head.etag
            return head.with_document(await self.document(reads, head))
        params = {"stream": stream_id, "workspace": workspace_id, "revision": revision}
        row = await reads.first(self._latest[(revision is not None, True)], **params)
        if row is None:
            raise _not_found(stream_id, revision)
        number, etag, key, board_id, document = row
        return StreamRow(stream_id, board_id, number, key, etag, document)

    async def head(
        self, reads: Reads, workspace_id: int, stream_id: int, revision: int | None
    ) -> StreamHead:
        """The stream's row without its document (the 404 problem when there is none here)."""
        params = {"stream": stream_id, "workspace": workspace_id, "revision": revision}
        meta = await reads.first(self._latest[(revision is not None, False)], **params)
        if meta is None:
            raise _not_found(stream_id, revision)
        number, etag, key, board_id = meta
        return StreamHead(stream_id, board_id, number, key, etag)

    async def document(self, reads: Reads, head: StreamHead) -> str | bytes:
        """The document of the stream ``head`` read. Rows of a revision are never rewritten, so
        this second read sees the same row (a deleted board's: the 404 problem)."""
        found = await reads.first(self._document, stream=head.stream_id, revision=head.revision)
        if found is None:
            raise _not_found(head.stream_id, head.revision)
        document: str | bytes = found[0]
        return document


def stream_etag(stored: str) -> str:
    """The header value of a stored stream ETag: weak, because the body also carries the
    revision number, which moves on every import while the stream itself may not."""
    return f'W/"{stored}"'


def _not_found(stream_id: int, revision: int | None) -> ProblemError:
    where = f" in revision {revision}" if revision is not None else ""
    return ProblemError("not-found", f"No stream {stream_id}{where}.")


# Parameters the route reads itself, declared here for the API docs only. FastAPI's
# per-parameter dependency resolution cost a quarter of this route's CPU (bench/api_read.py).
_STREAM_PARAMETERS = [
    {
        "name": "revision",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1},
        "description": "Revision number; default: the latest.",
    },
    {
        "name": "if-none-match",
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": "An ETag of this stream: 304 while the stream is unchanged.",
    },
]


def revision_param(request: Request) -> int | None:
    """The ``revision`` query parameter (a positive integer), or the 422 problem."""
    raw = request.query_params.get("revision")
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1 or len(raw) > 18:
        raise ProblemError(
            "validation-error",
            "Invalid: query.revision.",
            errors=[{"field": "query.revision", "message": "must be a positive integer"}],
        )
    return int(raw)


@router.get(
    "/{stream_id}",
    response_model=StreamPublic,
    responses={**responses(401, 404, 422), 304: {"description": "Not modified (If-None-Match)"}},
    openapi_extra={"parameters": _STREAM_PARAMETERS, "security": [{"ApiKey": []}]},
)
async def get_stream(stream_id: int, request: Request) -> Response:
    """The stream in the latest revision that contains it (or in ``revision``). Carries a weak
    ``ETag`` that changes when the stream changes (not on every revision); send it back as
    ``If-None-Match`` to get 304 while the stream is unchanged."""
    workspace_id = await request_workspace(request)
    revision = revision_param(request)
    if_none_match = request.headers.get("if-none-match")
    reader: StreamReader = request.app.state.stream_reader
    return stream_response(await reader.read(workspace_id, stream_id, revision, if_none_match))


def stream_response(found: StreamRow | str) -> Response:
    """The answer of ``StreamReader.read``'s result: the stream, or 304 for its ETag alone."""
    if isinstance(found, str):
        return Response(status_code=304, headers=_stream_headers(found))
    body = stream_json(found.stream_id, found.board_id, found.revision, found.key, found.document)
    return Response(
        content=body, media_type="application/json", headers=_stream_headers(found.etag)
    )


def _stream_headers(stored_etag: str) -> dict[str, str]:
    return {"ETag": stream_etag(stored_etag), "Cache-Control": "private, no-cache"}


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
