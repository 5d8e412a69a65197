"""The anchor of the read benches: a minimal FastAPI app serving recorded bodies at our paths.

``VSM_BENCH_BODIES`` names a JSON file ``{path: [body, content type]}`` recorded from the API;
the signed trigger's route answers 202 after reading the body (bench/webhook_ack.py). Each route is
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
    source = os.environ.get("VSM_BENCH_BODIES")
    recorded = json.loads(Path(source).read_text()) if source else {}
    bodies = {path: (body.encode(), media) for path, (body, media) in recorded.items()}
    app = FastAPI()

    def answer(request: Request) -> Response:
        body, media = bodies[request.url.path]
        return Response(body, media_type=media)

    @app.get("/v1/streams/{stream_id}")
    async def stream(stream_id: int, request: Request) -> Response:
        return answer(request)

    @app.get("/v1/streams/{stream_id}/map.svg")
    async def stream_map(stream_id: int, request: Request) -> Response:
        return answer(request)

    @app.get("/v1/boards")
    async def boards(request: Request) -> Response:
        return answer(request)

    @app.get("/v1/boards/{board_id}")
    async def board(board_id: int, request: Request) -> Response:
        return answer(request)

    @app.get("/v1/boards/{board_id}/streams")
    async def streams(board_id: int, request: Request) -> Response:
        return answer(request)

    @app.get("/v1/boards/{board_id}/revisions/{number}")
    async def revision(board_id: int, number: int, request: Request) -> Response:
        return answer(request)

    @app.get("/v1/boards/{board_id}/report")
    async def report(board_id: int, request: Request) -> Response:
        return answer(request)

    @app.get("/v1/boards/{board_id}/report.html")
    async def report_page(board_id: int, request: Request) -> Response:
        return answer(request)

    @app.post("/v1/hooks/boards/{board_id}", status_code=202)
    async def trigger(board_id: int, request: Request) -> Response:
        await request.body()
        return Response(ACCEPTED, status_code=202, media_type="application/json")

    return app


# The anchor of bench/webhook_ack.py: reads the body, answers 202 (no signature, no database).
ACCEPTED = b'{"outcome":"accepted"}'
