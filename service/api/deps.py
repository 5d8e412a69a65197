"""Route dependencies: the request's session, its workspace (bearer key), paging, body reading."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from connectors.errors import DumpError
from service.api.problems import ProblemError
from service.api.ratelimit import RateLimiter
from service.bootstrap import Runtime
from service.db.engine import SessionFactory, max_id
from service.dispatch import Dispatcher
from service.domain.board import Board as BoardModel
from service.rules_file import RulesError, RulesetFile, parse_rules, read_rules_text
from service.settings import Settings
from service.usecases.imports import parse_dump
from service.usecases.keys import KeyCache, authenticate
from service.web.session import COOKIE, workspace_from_cookie

# multipart framing (boundaries, part headers) on top of the dump itself
MULTIPART_OVERHEAD = 64 * 1024

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="`Authorization: Bearer <key>`; create keys with `vsm keys create`.",
)


# Dependencies that only read app state are async: FastAPI runs a plain ``def`` dependency on
# the threadpool, a hop per dependency per request.
def runtime_of(request: Request) -> Runtime:
    """The process's runtime, which the app factory hands to the app (one typed value)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_runtime(request: Request) -> Runtime:
    return runtime_of(request)


async def get_settings(request: Request) -> Settings:
    return runtime_of(request).settings


# Query parameters that hold an id or a revision number (compared with INTEGER columns).
_ID_QUERY_PARAMS = ("revision", "from", "to")
_INT_LITERAL = re.compile(r"[+-]?[0-9]+")


async def ids_in_range(request: Request) -> None:
    """404 for an id (path ``*_id``/``number``, query ``revision``/``from``/``to``) past the
    range of the id columns: no row has it, and the database driver would fail on it.

    An app-wide dependency, so every route (the unauthenticated trigger route too) answers the
    same way, before the request's own parameters are parsed.
    """
    limit = max_id(runtime_of(request).engine)
    candidates = [
        (name, raw)
        for name, raw in request.path_params.items()
        if name.endswith("_id") or name == "number"
    ]
    candidates += [
        (name, request.query_params[name])
        for name in _ID_QUERY_PARAMS
        if name in request.query_params
    ]
    for name, raw in candidates:
        text = str(raw).strip()
        if _INT_LITERAL.fullmatch(text) and not -limit - 1 <= int(text) <= limit:
            raise ProblemError("not-found", f"No object has the {name} {text[:40]}.")


async def get_dispatcher(request: Request) -> Dispatcher:
    return runtime_of(request).dispatcher


def get_session(request: Request) -> Iterator[Session]:
    """One session per request; the route commits (entry points own transactions)."""
    with runtime_of(request).sessions() as session:
        yield session


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
DispatcherDep = Annotated[Dispatcher, Depends(get_dispatcher)]


async def require_workspace(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> int:
    """The workspace id of the request's API key; 401 problem without a valid key, 429 past
    the key's rate limit (``VSM_RATE_LIMIT``)."""
    return await workspace_of(request, credentials)


async def workspace_of(request: Request, credentials: HTTPAuthorizationCredentials | None) -> int:
    """``require_workspace`` for routes that read their credentials themselves.

    Async, with the process's ``KeyCache`` in front: a remembered key costs no thread hop and
    no query (bench/api_read.py), a miss one hop with a session of its own.

    A GET or HEAD without a key may use a signed-in browser's session cookie instead (the web
    front door links the report and the maps), never a write.
    """
    challenge = {"WWW-Authenticate": 'Bearer realm="valuestream"'}
    if credentials is None and COOKIE in request.cookies:
        from_cookie = await run_in_threadpool(
            _cookie_workspace, runtime_of(request).sessions, request
        )
        if from_cookie is not None:
            return from_cookie
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ProblemError(
            "unauthorized", "Send Authorization: Bearer <API key>.", headers=challenge
        )
    secret = credentials.credentials
    cache: KeyCache = request.app.state.key_cache
    workspace_id = cache.workspace_of(secret)
    if workspace_id is None:
        workspace_id = await run_in_threadpool(_read_key, runtime_of(request).sessions, secret)
        if workspace_id is None:
            raise ProblemError(
                "unauthorized", "The API key is unknown or revoked.", headers=challenge
            )
        cache.remember(secret, workspace_id)
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    wait_s = await limiter.wait(credentials.credentials) if limiter is not None else None
    if wait_s is not None:
        raise ProblemError(
            "too-many-requests",
            f"This API key made more requests than its limit; try again in {wait_s} s.",
            headers={"Retry-After": str(wait_s)},
        )
    return workspace_id


async def request_workspace(request: Request) -> int:
    """``require_workspace`` called by a route itself instead of declared as a dependency."""
    return await workspace_of(request, await _bearer(request))


def _cookie_workspace(factory: SessionFactory, request: Request) -> int | None:
    with factory() as session:
        return workspace_from_cookie(request, session)


def _read_key(factory: SessionFactory, secret: str) -> int | None:
    with factory() as session:
        return authenticate(session, secret)


WorkspaceDep = Annotated[int, Depends(require_workspace)]


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    cursor: dict[str, Any] | None


def encode_cursor(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def page_params(
    settings: SettingsDep,
    limit: Annotated[
        int | None,
        Query(ge=1, description="Page size: default 50, at most 200 (`VSM_PAGE_SIZE_MAX`)."),
    ] = None,
    cursor: Annotated[
        str | None, Query(max_length=500, description="`next_cursor` of the previous page.")
    ] = None,
) -> PageParams:
    size = settings.page_size_default if limit is None else limit
    if size > settings.page_size_max:
        raise ProblemError(
            "validation-error",
            f"limit: at most {settings.page_size_max} items per page",
            errors=[
                {
                    "field": "query.limit",
                    "message": f"must be at most {settings.page_size_max}",
                }
            ],
        )
    return PageParams(limit=size, cursor=None if cursor is None else decode_cursor(cursor))


def decode_cursor(cursor: str) -> dict[str, Any]:
    """The position a ``next_cursor`` holds; anything else is an ``invalid-cursor`` problem."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        position = None
    if not isinstance(position, dict):
        raise ProblemError("invalid-cursor", "Pass the next_cursor of a previous page.")
    return position


PageDep = Annotated[PageParams, Depends(page_params)]


def cursor_int(page: PageParams, key: str) -> int | None:
    """The integer position ``key`` of the cursor; a forged cursor is a 400, not a 500."""
    if page.cursor is None:
        return None
    value = page.cursor.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 2**63:
        raise ProblemError("invalid-cursor", "Pass the next_cursor of a previous page.")
    return value


def keyset_page(
    session: Session,
    stmt: Any,
    key: Any,
    page: PageParams,
    *,
    newest_first: bool = False,
    position: Callable[[Any], Any] | None = None,
) -> tuple[list[Any], str | None]:
    """One page of ``stmt`` in the order of the integer column ``key``: the rows after the
    cursor's position (``after``; ``before`` when ``newest_first``) and the next page's cursor
    (None on the last page). ``position`` reads ``key`` from a row (default: the attribute of
    the same name; pass it for rows that are tuples)."""
    name = "before" if newest_first else "after"
    start = cursor_int(page, name)
    if start is not None:
        stmt = stmt.where(key < start if newest_first else key > start)
    order = key.desc() if newest_first else key
    rows = list(session.exec(stmt.order_by(order).limit(page.limit + 1)).all())
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    if not (more and rows):
        return rows, None
    read = position or (lambda row: getattr(row, key.key))
    return rows, encode_cursor({name: read(rows[-1])})


async def read_limited_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it grows past ``limit`` bytes."""
    too_large = ProblemError(
        "payload-too-large", f"The body is larger than the limit of {limit} bytes."
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True, slots=True)
class UploadedBody:
    """A JSON document from the body or from a multipart part, plus the other form fields."""

    raw: bytes
    fields: dict[str, bytes]


async def read_json_upload(request: Request, limit: int, *, file_field: str) -> UploadedBody:
    """Read a JSON body, or a multipart form whose ``file_field`` part holds the JSON.

    Other multipart parts (files or fields) come back in ``fields``. Raises 413 past ``limit``,
    415 for other media types, 422 when the form lacks ``file_field``.
    """
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        return UploadedBody(raw=await read_limited_body(request, limit), fields={})
    if media_type != "multipart/form-data":
        raise ProblemError(
            "unsupported-media-type",
            f"Send application/json or multipart/form-data with a {file_field!r} file.",
        )
    raw = await read_limited_body(request, limit + MULTIPART_OVERHEAD)

    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": raw, "more_body": False}

    form = await Request(request.scope, replay).form(max_files=4, max_fields=8)
    fields: dict[str, bytes] = {}
    try:
        for name, value in form.multi_items():
            if isinstance(value, str):
                fields[name] = value.encode()
            else:
                fields[name] = await value.read()
    finally:
        await form.close()
    document = fields.pop(file_field, None)
    if document is None:
        raise ProblemError(
            "validation-error",
            f"The form has no {file_field!r} part.",
            errors=[{"field": f"body.{file_field}", "message": "field required"}],
        )
    if len(document) > limit:
        raise ProblemError(
            "payload-too-large", f"The file is larger than the limit of {limit} bytes."
        )
    return UploadedBody(raw=document, fields=fields)


def parse_json(raw: bytes, what: str = "body") -> Any:
    """Decoded JSON or a 400 ``invalid-json`` problem saying where it broke."""
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ProblemError("invalid-json", f"The {what} is not UTF-8 text.") from exc
    except json.JSONDecodeError as exc:
        raise ProblemError(
            "invalid-json",
            f"The {what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}.",
        ) from exc
    except RecursionError as exc:
        raise ProblemError("invalid-json", f"The {what} is nested too deeply.") from exc


def to_board(data: Any) -> BoardModel:
    """The normalized board of a decoded dump, or a 422 ``invalid-dump`` problem."""
    try:
        return parse_dump(data)
    except DumpError as exc:
        raise ProblemError("invalid-dump", str(exc)) from exc
    except RecursionError as exc:
        raise ProblemError("invalid-dump", "The dump is nested too deeply.") from exc


async def decode_dump(raw: bytes) -> tuple[Any, BoardModel]:
    """Parse and normalize off the event loop: a 25 MB dump takes a moment."""
    return await run_in_threadpool(_decode_dump_sync, raw)


def _decode_dump_sync(raw: bytes) -> tuple[Any, BoardModel]:
    data = parse_json(raw, "dump")
    return data, to_board(data)


# Rules files as the docs write them (docs/rules.md); JSON is the same structure.
YAML_MEDIA_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"})


def read_yaml_rules(raw: bytes) -> object:
    """A YAML (or JSON) rules file's content, not yet validated; 422 ``invalid-rules`` when it
    does not parse."""
    try:
        return read_rules_text(raw, "the rules", is_json=False)
    except RulesError as exc:
        raise ProblemError("invalid-rules", exc.message) from exc


def rules_from(raw: bytes, *, is_yaml: bool, field: str) -> dict[str, Any]:
    """A rules file (YAML or JSON bytes) validated -> the dict to store, or the problem: 400
    ``invalid-json`` for broken JSON, 422 ``invalid-rules`` naming each bad field (``field`` is
    where the rules sit: ``body``, ``body.rules``)."""
    data = read_yaml_rules(raw) if is_yaml else parse_json(raw, field)
    return validated_rules(data, field)


def validated_rules(data: object, field: str) -> dict[str, Any]:
    """Decoded rules validated -> the dict to store, or 422 ``invalid-rules`` (``rules_from``)."""
    try:
        model = RulesetFile.model_validate(data)
    except ValidationError as exc:
        raise ProblemError(
            "invalid-rules",
            "The rules failed validation.",
            errors=[
                {"field": ".".join([field, *(str(p) for p in e["loc"])]), "message": e["msg"]}
                for e in exc.errors()[:20]
            ],
        ) from exc
    stored = model.model_dump(mode="json", exclude_unset=True)
    try:
        parse_rules(stored)  # what the schema cannot see: colour names, markers
    except RulesError as exc:
        raise ProblemError("invalid-rules", exc.message) from exc
    return stored


async def rules_body(request: Request) -> dict[str, Any]:
    """The request body as a rules file: ``application/json`` or ``application/yaml``."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    is_yaml = media in YAML_MEDIA_TYPES
    if media and not is_yaml and media != "application/json" and not media.endswith("+json"):
        raise ProblemError(
            "unsupported-media-type", "Send the rules as application/json or application/yaml."
        )
    raw = await request.body()
    return await run_in_threadpool(rules_from, raw, is_yaml=is_yaml, field="body")


RulesBody = Annotated[dict[str, Any], Depends(rules_body)]
