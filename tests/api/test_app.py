"""Cross-cutting behaviour: authentication, problem details, request ids, OpenAPI, health."""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from connectors.errors import (
    AuthError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    TransientError,
)
from service.api.app import create_app
from service.api.problems import PROBLEM_TYPES
from service.db.engine import create_db_engine, create_session_factory
from service.settings import MiroSettings, Settings
from service.usecases.keys import KeyCache, revoke_api_key
from tests.api.conftest import MakeClient, Workspace
from tests.conftest import TestDatabase


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer vsk_00000000_not-a-real-key"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer "},
    ],
    ids=["missing", "unknown", "other-scheme", "empty"],
)
@pytest.mark.parametrize("path", ["/v1/boards", "/v1/imports/1", "/v1/streams/1"])
def test_a_v1_route_without_a_valid_key_is_401(
    client: TestClient, headers: dict, path: str
) -> None:
    response = client.get(path, headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["type"] == "https://valuestream.dev/problems/unauthorized"


def test_a_revoked_key_stops_working_within_a_second(
    database: TestDatabase, engine: Engine, alice: Workspace
) -> None:
    now = [100.0]
    settings = Settings(database_url=database.url, log_format="console")
    app = create_app(
        settings,
        engine=engine,
        migrate=False,
        configure_logs=False,
        key_cache=KeyCache(ttl_s=1.0, clock=lambda: now[0]),
    )
    with TestClient(app) as client:
        before = client.get("/v1/boards", headers=alice.headers).status_code
        with create_session_factory(engine)() as session:
            revoke_api_key(session, "_".join(alice.key.split("_")[:2]))
            session.commit()
        now[0] += 0.5
        remembered = client.get("/v1/boards", headers=alice.headers).status_code
        now[0] += 0.5
        after = client.get("/v1/streams/1", headers=alice.headers).status_code

    assert (before, remembered, after) == (200, 200, 401)


def test_an_unknown_route_is_a_not_found_problem(client: TestClient) -> None:
    response = client.get("/v2/nothing")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == PROBLEM_TYPES["not-found"].uri


def test_a_wrong_method_is_a_problem(client: TestClient, alice: Workspace) -> None:
    response = client.delete("/v1/boards", headers=alice.headers)

    assert response.status_code == 405
    assert response.json()["type"].endswith("/method-not-allowed")


def test_a_path_id_that_is_not_a_number_names_the_field(
    client: TestClient, alice: Workspace
) -> None:
    response = client.get("/v1/boards/abc", headers=alice.headers)

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["path.board_id"]


def test_a_request_id_is_echoed_or_created(client: TestClient) -> None:
    sent = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    made = client.get("/healthz")
    forged = client.get("/healthz", headers={"X-Request-ID": "x\nlevel=error"})

    assert sent.headers["x-request-id"] == "abc-123"
    assert len(made.headers["x-request-id"]) == 32
    assert forged.headers["x-request-id"] != "x\nlevel=error"


def test_a_problem_carries_the_request_id(client: TestClient) -> None:
    response = client.get("/v1/boards", headers={"X-Request-ID": "req-7"})

    assert response.json()["request_id"] == "req-7"


def test_logs_never_contain_the_api_key(
    client: TestClient,
    alice: Workspace,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with caplog.at_level(logging.DEBUG):
        client.get("/v1/boards", headers=alice.headers)
        client.get("/v1/boards", headers={"Authorization": "Bearer vsk_bad_secret-value"})
    captured = capsys.readouterr()
    logs = caplog.text + captured.out + captured.err

    assert "/v1/boards" in logs  # the access lines were written
    assert alice.key not in logs
    assert "secret-value" not in logs


def test_the_openapi_document_lists_every_v1_route_and_the_docs_page_is_served(
    client: TestClient,
) -> None:
    spec = client.get("/openapi.json").json()

    assert {
        "/v1/imports",
        "/v1/imports/{job_id}",
        "/v1/boards",
        "/v1/boards/{board_id}",
        "/v1/boards/{board_id}/revisions",
        "/v1/boards/{board_id}/revisions/{number}",
        "/v1/boards/{board_id}/streams",
        "/v1/boards/{board_id}/report",
        "/v1/boards/{board_id}/rules",
        "/v1/streams/{stream_id}",
        "/v1/streams/{stream_id}/export",
        "/v1/classify",
    } <= set(spec["paths"])
    assert "ApiKey" in spec["components"]["securitySchemes"]
    assert {"BoardPublic", "StreamPublic", "ImportJobPublic", "Problem"} <= set(
        spec["components"]["schemas"]
    )
    assert client.get("/docs").status_code == 200


def test_health_and_readiness_answer_ok(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["checks"] == {"database": "ok", "broker": "ok"}


def test_readiness_is_503_when_the_broker_is_unreachable(database: TestDatabase) -> None:
    settings = Settings(
        database_url=database.url, broker_url="redis://127.0.0.1:1/0", log_format="console"
    )
    app = create_app(settings, engine=database.engine, migrate=False, configure_logs=False)

    with TestClient(app) as client:
        response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["type"] == PROBLEM_TYPES["not-ready"].uri
    assert "broker" in response.json()["detail"]


def test_readiness_is_503_when_the_database_is_unreachable(tmp_path) -> None:
    engine = create_db_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    settings = Settings(database_url="sqlite:///unused.db", log_format="console")
    app = create_app(settings, engine=engine, migrate=False, configure_logs=False)

    with TestClient(app) as client:
        response = client.get("/readyz")

    assert response.status_code == 503
    assert "database" in response.json()["detail"]


def test_a_crash_is_a_500_problem_with_the_request_id_and_no_details(
    make_client, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with make_client() as client:

        def explode() -> None:
            raise RuntimeError("secret internals")

        client.app.add_api_route("/v1/explode", explode)
        with caplog.at_level(logging.ERROR):
            response = client.get("/v1/explode", headers={"X-Request-ID": "crash-1"})

    assert response.status_code == 500
    assert response.headers["x-request-id"] == "crash-1"
    assert response.json()["type"] == PROBLEM_TYPES["internal-error"].uri
    assert response.json()["request_id"] == "crash-1"
    assert "secret internals" not in response.text
    captured = capsys.readouterr()
    # the traceback is in the log, not in the answer
    assert "secret internals" in caplog.text + captured.out + captured.err


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_any_body_over_the_limit_is_refused_with_413(
    make_client, alice: Workspace, declared: bool
) -> None:
    body = b'{"colors": {}, "x": "' + b"a" * 200_000 + b'"}'

    def chunks():
        for start in range(0, len(body), 10_000):
            yield body[start : start + 10_000]

    with make_client(max_dump_bytes=100_000) as client:
        response = client.put(
            "/v1/boards/1/rules",
            content=body if declared else chunks(),
            headers={**alice.headers, "Content-Type": "application/json", "X-Request-ID": "big"},
        )

    assert response.status_code == 413
    assert response.json()["type"] == PROBLEM_TYPES["payload-too-large"].uri
    assert response.headers["x-request-id"] == "big"


@pytest.mark.parametrize(
    ("path", "setting"),
    [
        ("/v1/connections/miro/authorize", "VSM_MIRO__CLIENT_ID"),
        ("/v1/connections/mural/authorize", "VSM_MURAL__CLIENT_ID"),
    ],
    ids=["miro", "mural"],
)
def test_an_unconfigured_provider_answers_why_it_is_off(
    client: TestClient, alice: Workspace, path: str, setting: str
) -> None:
    response = client.get(path, headers=alice.headers)

    assert response.status_code == 503
    assert response.json()["type"] == PROBLEM_TYPES["provider-not-configured"].uri
    assert setting in response.json()["detail"]


def test_a_configured_provider_without_an_encryption_key_says_the_key_is_missing(
    make_client: MakeClient, alice: Workspace
) -> None:
    miro = MiroSettings(client_id="c", client_secret=SecretStr("s"))

    with make_client(miro=miro) as client:
        response = client.get("/v1/connections/miro/authorize", headers=alice.headers)

    assert response.status_code == 503
    assert "VSM_ENCRYPTION_KEYS" in response.json()["detail"]


@pytest.mark.parametrize(
    ("broker_url", "runs_live_thread"),
    [(None, True), ("redis://127.0.0.1:1/0", False)],
    ids=["embedded", "broker"],
)
def test_the_api_runs_the_jobs_itself_only_without_a_broker(
    database: TestDatabase, engine: Engine, broker_url: str | None, runs_live_thread: bool
) -> None:
    settings = Settings(
        database_url=database.url,
        broker_url=broker_url,
        log_format="console",
        encryption_keys=[Fernet.generate_key().decode()],
        miro=MiroSettings(client_id="c", client_secret=SecretStr("s")),
    )
    app = create_app(settings, engine=engine, migrate=False, configure_logs=False)

    with TestClient(app):
        job_threads = [t for t in threading.enumerate() if t.name == "vsm-dispatcher"]

    assert bool(job_threads) is runs_live_thread


def test_every_problem_type_is_documented_in_the_service_guide() -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs" / "service.md").read_text()
    documented = set(re.findall(r"^\| `([a-z-]+)` \| (\d{3}) \|", guide, flags=re.MULTILINE))

    assert documented == {(p.slug, str(p.status)) for p in PROBLEM_TYPES.values()}


@pytest.mark.parametrize(
    ("error", "status", "slug", "retry_after"),
    [
        (AuthError("token refused", status=401), 409, "connection-needs-reauth", None),
        (RateLimitedError("slow down", retry_after=41.6), 502, "provider-unavailable", "42"),
        (ForbiddenError("no access", status=403), 403, "provider-forbidden", None),
        (NotFoundError("no board", status=404), 404, "not-found", None),
        (TransientError("server error (502)", status=502), 502, "provider-unavailable", None),
    ],
)
def test_every_provider_error_of_any_route_is_answered_by_the_one_handler_as_a_problem(
    database: TestDatabase,
    engine: Engine,
    error: Exception,
    status: int,
    slug: str,
    retry_after: str | None,
) -> None:
    app = create_app(
        Settings(database_url=database.url), engine=engine, migrate=False, configure_logs=False
    )

    def provider_failed() -> None:
        raise error

    app.add_api_route("/v1/provider-test", provider_failed)
    with TestClient(app) as client:
        response = client.get("/v1/provider-test")

    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == PROBLEM_TYPES[slug].uri
    assert response.headers.get("Retry-After") == retry_after
    assert response.status_code == status
