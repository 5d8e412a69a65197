"""Streaming a request body into the upload folder: whole files only, nothing left behind."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import ClientDisconnect, Request

from service.api.problems import ProblemError
from service.api.uploads import stream_upload
from service.usecases.uploads import UploadFolder


def request_of(messages: list[dict[str, Any]], headers: dict[str, str]) -> Request:
    """A request whose body arrives as ``messages`` (ASGI ``http.request``/``http.disconnect``)."""
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/imports",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    return Request(scope, receive)


def body(*pieces: bytes) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": piece, "more_body": True} for piece in pieces
    ]
    messages.append({"type": "http.request", "body": b"", "more_body": False})
    return messages


JSON = {"Content-Type": "application/json"}


def run(request: Request, folder: UploadFolder, limit: int = 10_000, hashed: bool = False) -> Any:
    return asyncio.run(stream_upload(request, folder, limit, hashed=hashed))


def files(folder: UploadFolder) -> list[str]:
    return sorted(p.name for p in folder.path.iterdir()) if folder.path.exists() else []


def test_the_pieces_become_one_file_with_its_size_and_hash(tmp_path: Path) -> None:
    folder = UploadFolder(tmp_path)

    stored = run(request_of(body(b'{"a": ', b"1}"), JSON), folder, hashed=True)

    assert folder.read(stored.name) == b'{"a": 1}'
    assert stored.size_bytes == 8
    assert stored.sha256 is not None
    assert files(folder) == [stored.name]


def test_a_client_that_disconnects_mid_transfer_leaves_no_file(tmp_path: Path) -> None:
    folder = UploadFolder(tmp_path)
    messages = [*body(b"x" * 3000)[:1], {"type": "http.disconnect"}]

    with pytest.raises(ClientDisconnect):
        run(request_of(messages, JSON), folder)

    assert files(folder) == []


def test_a_body_past_the_limit_without_a_length_is_refused_and_leaves_no_file(
    tmp_path: Path,
) -> None:
    folder = UploadFolder(tmp_path)

    with pytest.raises(ProblemError) as refused:
        run(request_of(body(b"x" * 600, b"x" * 600), JSON), folder, limit=1000)

    assert refused.value.kind.slug == "payload-too-large"
    assert files(folder) == []
