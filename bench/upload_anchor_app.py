"""The anchor of bench/upload.py: a minimal FastAPI app that streams a request body to a file.

One plain ``async`` route, ``POST /v1/imports``, writing the body as it arrives to a new file in
``VSM_BENCH_UPLOAD_DIR`` (1 MB writes, fsync at the end) and answering 202: what "stream the
upload to disk" costs through the same HTTP stack, with no database, key or middleware.

    uvicorn --factory bench.upload_anchor_app:app_from_env
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from fastapi import FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

CHUNK = 1 << 20


def app_from_env() -> FastAPI:
    folder = Path(os.environ["VSM_BENCH_UPLOAD_DIR"])
    app = FastAPI()

    @app.post("/v1/imports")
    async def upload(request: Request) -> Response:
        path = folder / uuid.uuid4().hex
        with path.open("wb") as handle:
            pending = bytearray()
            async for piece in request.stream():
                pending += piece
                if len(pending) >= CHUNK:
                    await run_in_threadpool(handle.write, bytes(pending))
                    pending.clear()
            await run_in_threadpool(handle.write, bytes(pending))
            await run_in_threadpool(os.fsync, handle.fileno())
        path.unlink()
        return Response(b'{"status":"queued"}', status_code=202, media_type="application/json")

    return app
