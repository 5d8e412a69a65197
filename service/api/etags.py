"""Entity tags: matching ``If-None-Match``, and JSON answers that carry a tag of their bytes."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import Header, Response
from pydantic import BaseModel

IfNoneMatch = Annotated[
    str | None,
    Header(description="An ETag of an earlier answer: 304 while the resource is unchanged."),
]

NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified (If-None-Match)"}
}


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (or ``*``); weak comparison (RFC
    9110 13.1.2), so weak and strong forms of one tag match."""
    if not if_none_match:
        return False
    candidates = [part.strip() for part in if_none_match.split(",")]
    opaque = etag.removeprefix("W/")
    return "*" in candidates or any(c.removeprefix("W/") == opaque for c in candidates)


def json_with_etag(model: BaseModel, if_none_match: str | None) -> Response:
    """``model`` as JSON with a weak ETag of its bytes, or 304 when ``If-None-Match`` names it.

    Saves the transfer, not the work: for answers assembled from several rows (boards, lists,
    reports), where no stored tag covers everything the body shows.
    """
    return json_bytes_with_etag(model.model_dump_json().encode(), if_none_match)


def json_bytes_with_etag(body: bytes, if_none_match: str | None) -> Response:
    """``json_with_etag`` for a body already serialized."""
    etag = f'W/"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)
