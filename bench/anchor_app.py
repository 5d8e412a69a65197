"""The anchor of the read benches: a minimal FastAPI app serving recorded bodies at our paths.

``VSM_BENCH_BODIES`` names a JSON file ``{path: body}`` recorded from the API. Each route is
one plain ``async`` handler with its path parameter typed, as a minimal app would write it,
answering the recorded bytes: no database, no key, no middleware. Started with the same
uvicorn options as the API:

    uvicorn --factory bench.anchor_app:app_from_env
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from fastapi import FastAPI, Request, Response


def app_from_env() -> FastAPI:
    recorded = json.loads(Path(os.environ["VSM_BENCH_BODIES"]).read_text())
    bodies = {path: body.encode() for path, body in recorded.items()}
    app = FastAPI()

    def answer(request: Request) -> Response:
        return Response(bodies[request.url.path], media_type="application/json")

    @app.get("/v1/streams/{stream_id}")
    async def stream(stream_id: int, request: Request) -> Response:
        return answer(request)

    @app.get("/v1/boards/{board_id}")
    async def board(board_id: int, request: Request) -> Response:
        return answer(request)

    @app.get("/v1/boards/{board_id}/streams")
    async def streams(board_id: int, request: Request) -> Response:
        return answer(request)

    @app.get("/v1/boards/{board_id}/report")
    async def report(board_id: int, request: Request) -> Response:
        return answer(request)

    return app
