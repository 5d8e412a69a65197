"""The hot reads' common case, answered before FastAPI routes the request (issue 16).

``GET`` of a stream, a stream's map, the board list, a board, its streams, a revision, the
report and the report page, with a valid API key and no query string, are answered here:
FastAPI's routing (every route's pattern tried in turn), its dependency resolution and the
threadpool hops of sync routes cost several times the work itself (bench/api_read.py). Anything
else (another method, a query string, a cookie instead of a key, an unknown or revoked key, a
rate limit reached, an id past the id columns' range, a row not found, an error) goes on to the
FastAPI routes unchanged, which answer it as before: the problems, the validation and the
OpenAPI document stay theirs, and the routes' own code stays the one reference for what an
answer holds. The key is looked up as ``keys.authenticate`` does, behind the same
:class:`~service.usecases.keys.KeyCache`.

The look-ups run on the event loop, without a threadpool hop (``service.db.loop_reads``): on
SQLite on one connection of the loop's own (in WAL mode a reader never waits for a writer, and
an indexed look-up costs less than a thread hop), on PostgreSQL awaited on the loop's asyncpg
connections, one round trip each. The signed trigger's transaction runs on the loop too
(:class:`HotTrigger`).

What does not change between revisions is rendered once and kept (:class:`RenderCache`): the
report, the report page, a stream's map and a revision's detail, keyed by the stored rows that
determine them, so a new revision or new rules never meet a stale entry; a stream and a board's
streams page likewise, keyed by their streams' ETags (hashes of their documents), so a read
looks up the heads and carries a document out of the database only on a miss.
"""

from __future__ import annotations

import inspect
import json
import re
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import structlog
from cachetools import LRUCache
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from service.api.deps import encode_cursor
from service.api.etags import etag_matches, json_bytes_with_etag
from service.api.problems import ProblemError
from service.api.ratelimit import RateLimiter
from service.api.routes import boards, render, streams, webhooks
from service.api.schemas import BoardPublic, stream_json, stream_page
from service.bootstrap import Runtime
from service.db.engine import PlainQuery, max_id
from service.db.loop_reads import LoopReads, Reads
from service.db.tables import ApiKey, Board, Revision, RevisionStream, Stream
from service.usecases.keys import KeyCache, could_be_key, hash_key, key_workspace

log = structlog.get_logger(__name__)

# Rendered answers kept per process, in bytes of body: a 20-stream report page is ~300 KB.
RENDER_CACHE_BYTES = 64 * 1024 * 1024

_board = Board.__table__  # type: ignore[attr-defined]
_key = ApiKey.__table__  # type: ignore[attr-defined]
_revision = Revision.__table__  # type: ignore[attr-defined]
_rs = RevisionStream.__table__  # type: ignore[attr-defined]
_stream = Stream.__table__  # type: ignore[attr-defined]

_BOARD_COLUMNS = (
    _board.c.id,
    _board.c.provider,
    _board.c.external_id,
    _board.c.name,
    _board.c.source,
    _board.c.latest_revision_number,
    _board.c.rules,
    _board.c.created_at,
    _board.c.updated_at,
)


class RenderCache:
    """Rendered bodies by the key of what determines them, bounded by their bytes (LRU).

    Thread-safe: answers are rendered, and kept, on the threadpool."""

    def __init__(self, max_bytes: int = RENDER_CACHE_BYTES) -> None:
        self._entries: LRUCache[Any, Answer] = LRUCache(
            maxsize=max_bytes, getsizeof=lambda answer: len(answer.body) + 512
        )
        self._lock = threading.Lock()
        self.max_bytes = max_bytes

    def get(self, key: Any) -> Answer | None:
        with self._lock:
            return self._entries.get(key)

    def put(self, key: Any, answer: Answer) -> None:
        if len(answer.body) + 512 > self.max_bytes:
            return
        with self._lock:
            self._entries[key] = answer


@dataclass(frozen=True, slots=True)
class Answer:
    """A 200 answer: its body, media type and headers (an ETag among them)."""

    body: bytes
    media_type: str
    headers: dict[str, str]

    @classmethod
    def of(cls, response: Response) -> Answer:
        headers = {
            name: value
            for name, value in response.headers.items()
            if name not in ("content-length", "content-type")
        }
        return cls(bytes(response.body), response.headers["content-type"], headers)

    def response(self, if_none_match: str | None) -> Response:
        etag = self.headers.get("etag")
        if etag is not None and etag_matches(if_none_match, etag):
            return Response(status_code=304, headers=self.headers)
        return Response(self.body, media_type=self.media_type, headers=self.headers)


class _Fallthrough(Exception):
    """Not the common case: the FastAPI routes answer."""


_ROUTES: list[tuple[re.Pattern[str], str, str]] = [
    (re.compile(r"/v1/streams/([0-9]{1,18})"), "stream", "/v1/streams/{stream_id}"),
    (re.compile(r"/v1/streams/([0-9]{1,18})/map\.svg"), "map", "/v1/streams/{stream_id}/map.svg"),
    (re.compile(r"/v1/boards"), "boards", "/v1/boards"),
    (re.compile(r"/v1/boards/([0-9]{1,18})"), "board", "/v1/boards/{board_id}"),
    (
        re.compile(r"/v1/boards/([0-9]{1,18})/streams"),
        "streams",
        "/v1/boards/{board_id}/streams",
    ),
    (
        re.compile(r"/v1/boards/([0-9]{1,18})/revisions/([0-9]{1,18})"),
        "revision",
        "/v1/boards/{board_id}/revisions/{number}",
    ),
    (re.compile(r"/v1/boards/([0-9]{1,18})/report"), "report", "/v1/boards/{board_id}/report"),
    (
        re.compile(r"/v1/boards/([0-9]{1,18})/report\.html"),
        "report_page",
        "/v1/boards/{board_id}/report.html",
    ),
]


def _match(path: str) -> tuple[str, tuple[str | Any, ...]] | None:
    """The hot route ``path`` names and its ids, or None."""
    for pattern, name, _ in _ROUTES:
        matched = pattern.fullmatch(path)
        if matched is not None:
            return name, matched.groups()
    return None


@dataclass(frozen=True, slots=True)
class _Template:
    """What the request middleware reads for the metrics' route label (``scope["route"]``)."""

    path: str


class HotReads:
    """Pure ASGI middleware serving the hot reads' common case (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        runtime: Runtime,
        state: State,
        loop_reads: LoopReads,
        stream_reader: streams.StreamReader,
        cache: RenderCache | None = None,
    ) -> None:
        self.app = app
        self._runtime = runtime
        self._state = state
        self._loop_reads = loop_reads
        self._streams = stream_reader
        self._cache = cache or RenderCache()
        engine = runtime.engine
        self._max_id = max_id(engine)
        self._page = runtime.settings.page_size_default
        self._templates = {name: _Template(template) for _, name, template in _ROUTES}
        self._handlers: dict[str, _Handler] = {
            "stream": self._stream,
            "map": self._map,
            "boards": self._boards,
            "board": self._board,
            "streams": self._board_streams,
            "revision": self._revision,
            "report": self._report,
            "report_page": self._report_page,
        }
        board_query = sa.select(*_BOARD_COLUMNS).where(
            _board.c.workspace_id == sa.bindparam("workspace")
        )
        # Untyped: the row as stored is the key of its JSON (board_json), processed on a miss.
        self._q_board = PlainQuery(engine, board_query.where(_board.c.id == sa.bindparam("board")))
        self._q_boards = PlainQuery(engine, board_query.order_by(_board.c.id).limit(self._page + 1))
        self._q_streams = PlainQuery(
            engine,
            sa.select(
                _rs.c.stream_id,
                _rs.c.position,
                _stream.c.key,
                streams.document_column(as_bytes=loop_reads.inline),
            )
            .join(_stream, _stream.c.id == _rs.c.stream_id)
            .where(
                _stream.c.board_id == sa.bindparam("board"),
                _rs.c.revision_number == sa.bindparam("number"),
            )
            .order_by(_rs.c.position)
            .limit(self._page + 1),
        )
        # The first page's streams at the board's latest revision, without their documents.
        self._q_stream_heads = PlainQuery(
            engine,
            sa.select(
                _rs.c.stream_id,
                _rs.c.position,
                _stream.c.key,
                _rs.c.etag,
                _board.c.latest_revision_number,
            )
            .join(_stream, _stream.c.id == _rs.c.stream_id)
            .join(
                _board,
                sa.and_(
                    _board.c.id == _stream.c.board_id,
                    _rs.c.revision_number == _board.c.latest_revision_number,
                ),
            )
            .where(
                _board.c.id == sa.bindparam("board"),
                _board.c.workspace_id == sa.bindparam("workspace"),
            )
            .order_by(_rs.c.position)
            .limit(self._page + 1),
        )
        self._q_key = PlainQuery(
            engine,
            sa.select(_key.c.workspace_id, _key.c.revoked_at).where(
                _key.c.key_hash == sa.bindparam("hash")
            ),
        )
        self._q_revision = PlainQuery(
            engine,
            sa.select(_revision)
            .join(_board, _board.c.id == _revision.c.board_id)
            .where(
                _revision.c.board_id == sa.bindparam("board"),
                _revision.c.number == sa.bindparam("number"),
                _board.c.workspace_id == sa.bindparam("workspace"),
            ),
            typed=True,
        )
        self._q_latest = PlainQuery(
            engine,
            sa.select(_board.c.latest_revision_number, _board.c.rules, _revision)
            .join(
                _revision,
                sa.and_(
                    _revision.c.board_id == _board.c.id,
                    _revision.c.number == _board.c.latest_revision_number,
                ),
            )
            .where(
                _board.c.id == sa.bindparam("board"),
                _board.c.workspace_id == sa.bindparam("workspace"),
            ),
            typed=True,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or scope.get("query_string")
            or scope.get("root_path")
        ):
            await self.app(scope, receive, send)
            return
        found = _match(scope["path"])
        if found is None:
            await self.app(scope, receive, send)
            return
        name, groups = found
        response = await self._answer(scope, name, groups)
        if response is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self._templates[name]
        await response(scope, receive, send)

    async def _answer(
        self, scope: Scope, name: str, groups: tuple[str | Any, ...]
    ) -> Response | None:
        ids = tuple(int(group) for group in groups)
        if any(value > self._max_id for value in ids):
            return None
        secret = None
        if_none_match = None
        for header, value in scope["headers"]:  # the first of each, as Starlette reads them
            if header == b"authorization" and secret is None:
                secret = value.decode("latin-1")
            elif header == b"if-none-match" and if_none_match is None:
                if_none_match = value.decode("latin-1")
        if secret is None:
            return None
        scheme, _, credentials = secret.partition(" ")
        if scheme.lower() != "bearer" or not credentials:
            return None
        if not could_be_key(credentials):
            return None
        handler = self._handlers[name]
        try:
            async with self._loop_reads.reads() as reads:
                answer = await self._authorized(reads, credentials, handler, ids, if_none_match)
            # Counted after the handler, off the loop when the count is a Redis round trip.
            limiter = self._limiter()
            if limiter is not None and await limiter.wait(credentials) is not None:
                raise _Fallthrough  # the route answers 429 (only allowed requests count)
            if isinstance(answer, _Render):
                answer = await run_in_threadpool(self._render, answer)
        except (_Fallthrough, ProblemError):
            return None
        except Exception as exc:
            # The routes answer instead (an unreachable database as their 503 problem).
            log.warning("hot_read_fell_back", route=name, error=type(exc).__name__)
            return None
        return answer if isinstance(answer, Response) else answer.response(if_none_match)

    def _limiter(self) -> RateLimiter | None:
        limiter: RateLimiter | None = getattr(self._state, "rate_limiter", None)
        return limiter

    async def _authorized(
        self,
        reads: Reads,
        credentials: str,
        handler: _Handler,
        ids: tuple[int, ...],
        if_none_match: str | None,
    ) -> Answer | Response | _Render:
        """``handler``'s answer for the key's workspace. A key the cache forgot is looked up
        here (``keys.authenticate``'s query) rather than by the routes: when it expires, every
        request in flight would otherwise take the slow path at once, each second."""
        cache: KeyCache = self._state.key_cache
        workspace_id = cache.workspace_of(credentials)
        if workspace_id is None:
            row = await reads.first(self._q_key, hash=hash_key(credentials))
            workspace_id = key_workspace(row)
            if workspace_id is None:
                raise _Fallthrough  # unknown or revoked: the routes answer 401
            cache.remember(credentials, workspace_id)
        # The handler first: a request it sends on to the routes (a 404) is counted there, once;
        # the caller counts the rest against the rate limit.
        return await handler(reads, workspace_id, ids, if_none_match)

    # -- the answers -------------------------------------------------------------------------

    async def _stream(
        self, reads: Reads, workspace_id: int, ids: tuple[int, ...], if_none_match: str | None
    ) -> Answer | Response:
        head = await self._streams.head(reads, workspace_id, ids[0], None)
        if etag_matches(if_none_match, streams.stream_etag(head.etag)):
            return streams.stream_response(head.etag)
        # The answer is the stream's row at that revision, which the ETag (a hash of the
        # board, the key and the document) names: kept, so a read costs one look-up of the
        # head instead of carrying the document out of the database each time.
        key = ("stream", head.stream_id, head.revision, head.etag)
        cached = self._cache.get(key)
        if cached is None:
            document = await self._streams.document(reads, head)
            cached = Answer.of(streams.stream_response(head.with_document(document)))
            self._cache.put(key, cached)
        return cached

    async def _map(
        self, reads: Reads, workspace_id: int, ids: tuple[int, ...], if_none_match: str | None
    ) -> Answer | _Render:
        (stream_id,) = ids
        found = await self._streams.read_with(reads, workspace_id, stream_id, None, "*")
        assert isinstance(found, str)
        key = ("map", stream_id, found)
        cached = self._cache.get(key)
        if cached is not None:
            return cached

        def draw(session: Any) -> Response:
            return render.get_stream_map(stream_id, workspace_id, session, None, None)

        return _Render(key, draw)

    async def _boards(
        self, reads: Reads, workspace_id: int, ids: tuple[int, ...], if_none_match: str | None
    ) -> Response:
        rows = await reads.all(self._q_boards, workspace=workspace_id)
        following = None
        if len(rows) > self._page:
            rows = rows[: self._page]
            following = encode_cursor({"after": rows[-1][0]})
        # Page[BoardPublic] as pydantic writes it (the route's bytes, so the same ETag).
        items = b",".join(self._board_json(row) for row in rows)
        body = b'{"items":[%s],"limit":%d,"next_cursor":%s}' % (
            items,
            self._page,
            json.dumps(following).encode(),
        )
        return json_bytes_with_etag(body, if_none_match)

    async def _board(
        self, reads: Reads, workspace_id: int, ids: tuple[int, ...], if_none_match: str | None
    ) -> Response:
        row = await reads.first(self._q_board, workspace=workspace_id, board=ids[0])
        if row is None:
            raise _Fallthrough
        return json_bytes_with_etag(self._board_json(row), if_none_match)

    def _board_json(self, stored: tuple[Any, ...]) -> bytes:
        """A board row as ``BoardPublic`` JSON, kept by the row as stored: a page of boards
        costs no validation and no date formatting while they do not change."""
        key = ("board", stored)
        cached = self._cache.get(key)
        if cached is None:
            row = self._q_board.process(stored)
            cached = Answer(_board_json(row), "application/json", {})
            self._cache.put(key, cached)
        return cached.body

    async def _board_streams(
        self, reads: Reads, workspace_id: int, ids: tuple[int, ...], if_none_match: str | None
    ) -> Answer:
        (board_id,) = ids
        heads = await reads.all(self._q_stream_heads, workspace=workspace_id, board=board_id)
        if not heads:
            raise _Fallthrough  # no such board here, no revision yet, or a revision of none
        # The page is its streams' rows at the board's latest revision, which their ETags
        # name (as a stream's answer, above): kept by them.
        key = ("streams", board_id, tuple(heads))
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        number = int(heads[0][4])
        rows = await reads.all(self._q_streams, board=board_id, number=number)
        following = None
        if len(rows) > self._page:
            rows = rows[: self._page]
            following = encode_cursor({"after": rows[-1][1]})
        items = [
            stream_json(stream_id, board_id, number, key, document)
            for stream_id, _, key, document in rows
        ]
        body = stream_page(items, self._page, following)
        cached = Answer.of(json_bytes_with_etag(body, None))
        self._cache.put(key, cached)
        return cached

    async def _revision(
        self, reads: Reads, workspace_id: int, ids: tuple[int, ...], if_none_match: str | None
    ) -> Answer | _Render:
        board_id, number = ids
        row = await reads.first(
            self._q_revision, workspace=workspace_id, board=board_id, number=number
        )
        if row is None:
            raise _Fallthrough
        key = ("revision", row)
        cached = self._cache.get(key)
        if cached is not None:
            return cached

        def detail(session: Any) -> Response:
            found = boards.get_revision(board_id, number, workspace_id, session)
            return Response(found.model_dump_json().encode(), media_type="application/json")

        return _Render(key, detail)

    async def _latest(self, reads: Reads, workspace_id: int, board_id: int) -> tuple[Any, ...]:
        row = await reads.first(self._q_latest, workspace=workspace_id, board=board_id)
        if row is None:
            raise _Fallthrough  # no such board here, or no revision yet
        return row

    async def _report(
        self, reads: Reads, workspace_id: int, ids: tuple[int, ...], if_none_match: str | None
    ) -> Answer | _Render:
        (board_id,) = ids
        number, _, *revision = await self._latest(reads, workspace_id, board_id)
        key = ("report", board_id, number, tuple(revision))
        cached = self._cache.get(key)
        if cached is not None:
            return cached

        def report(session: Any) -> Response:
            return boards.get_report(board_id, workspace_id, session, number, None)

        return _Render(key, report)

    async def _report_page(
        self, reads: Reads, workspace_id: int, ids: tuple[int, ...], if_none_match: str | None
    ) -> Answer | _Render:
        (board_id,) = ids
        number, rules, *revision = await self._latest(reads, workspace_id, board_id)
        # The page's trends follow the board's current rules, so they are part of the key.
        key = ("page", board_id, number, tuple(revision), json.dumps(rules, sort_keys=True))
        cached = self._cache.get(key)
        if cached is not None:
            return cached

        def page(session: Any) -> Response:
            return render.get_report_page(board_id, workspace_id, session, number, None)

        return _Render(key, page)

    def _render(self, job: _Render) -> Answer:
        """Render on the threadpool (a page takes milliseconds), keep the answer."""
        with self._runtime.sessions() as session:
            answer = Answer.of(job.render(session))
        self._cache.put(job.key, answer)
        return answer


@dataclass(frozen=True, slots=True)
class _Render:
    """A cache miss: ``render`` (called with a session) makes the answer kept under ``key``."""

    key: Any
    render: Callable[[Any], Response]


# A hot route's answer from the request's look-ups, its workspace, its path ids, If-None-Match.
_Handler = Callable[
    [Reads, int, tuple[int, ...], str | None], Awaitable[Answer | Response | _Render]
]


def _board_json(row: tuple[Any, ...]) -> bytes:
    """A board row as ``BoardPublic`` JSON, as ``boards.board_public`` makes it."""
    board_id, provider, external_id, name, source, latest, rules, created, updated = row
    return (
        BoardPublic(
            id=board_id,
            provider=provider,
            external_id=external_id,
            name=name,
            source=source,
            latest_revision=latest,
            has_rules=rules is not None,
            created_at=created,
            updated_at=updated,
        )
        .model_dump_json()
        .encode()
    )


_TRIGGER = re.compile(r"/v1/hooks/boards/([0-9]{1,18})")


class HotTrigger:
    """Pure ASGI middleware answering the signed trigger (``POST /v1/hooks/boards/{id}``)
    before FastAPI's routing, dependencies and response model, which cost about as much CPU as
    the trigger's own work (issue 16: at most 1 ms per trigger, bench/webhook_ack.py).

    The answer is :func:`service.api.routes.webhooks.answer_trigger`'s, the function the route
    calls; a refusal or an error is answered by the app's own exception handler for it (the
    same problem, the same background log write). A query string, a mounted app or an id past
    the id columns' range go on to the route.
    """

    def __init__(self, app: ASGIApp, *, runtime: Runtime, loop_reads: LoopReads) -> None:
        self.app = app
        self._loop_reads = loop_reads
        self._max_id = max_id(runtime.engine)
        self._template = _Template(webhooks.TRIGGER_PATH)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        matched = None
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and not scope.get("query_string")
            and not scope.get("root_path")
        ):
            matched = _TRIGGER.fullmatch(scope["path"])
        if matched is None or int(matched.group(1)) > self._max_id:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        response: Response
        try:
            accepted = await webhooks.answer_trigger(
                request, int(matched.group(1)), self._loop_reads
            )
            response = Response(
                accepted.model_dump_json().encode(), 202, media_type="application/json"
            )
        except Exception as exc:
            handler = _exception_handler(scope["app"], exc)
            if handler is None:
                raise
            answered = handler(request, exc)
            response = await answered if inspect.isawaitable(answered) else answered
        scope["route"] = self._template
        await response(scope, receive, send)


def _exception_handler(app: Any, exc: Exception) -> Callable[..., Any] | None:
    """The app's handler for ``exc`` (the nearest class in its MRO), as Starlette looks it up."""
    handlers = getattr(app, "exception_handlers", {})
    for kind in type(exc).__mro__:
        if kind in handlers:
            handler: Callable[..., Any] = handlers[kind]
            return handler
    return None
