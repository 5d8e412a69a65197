"""``GET /metrics``: Prometheus figures behind a token, per route template, jobs, the queue."""

from __future__ import annotations

from pydantic import SecretStr

from testkit.service_dumps import stream_dump
from tests.api.conftest import MakeClient, Workspace, import_dump

TOKEN = "metrics-token-for-tests"


def test_metrics_do_not_exist_without_a_token_setting(make_client: MakeClient) -> None:
    with make_client() as client:
        response = client.get("/metrics")

    assert response.status_code == 404


def test_metrics_refuse_a_wrong_token(make_client: MakeClient) -> None:
    with make_client(metrics_token=SecretStr(TOKEN)) as client:
        response = client.get("/metrics", headers={"Authorization": "Bearer wrong"})

    assert response.status_code == 401
    assert TOKEN not in response.text


def test_metrics_show_requests_per_route_template_jobs_and_process_memory(
    make_client: MakeClient, alice: Workspace
) -> None:
    with make_client(metrics_token=SecretStr(TOKEN)) as client:
        job = import_dump(client, alice, stream_dump(3))
        client.get(f"/v1/boards/{job['board_id']}", headers=alice.headers)
        text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text

    assert (
        'vsm_http_request_duration_seconds_count{method="GET",route="/v1/boards/{board_id}",'
        'status="200"} 1.0'
    ) in text
    assert f"/v1/boards/{job['board_id']}" not in text
    assert 'vsm_import_jobs{status="succeeded"} 1.0' in text
    assert 'vsm_import_jobs{status="queued"} 0.0' in text
    assert "vsm_import_queue_oldest_age_seconds 0.0" in text
    assert 'vsm_import_job_duration_seconds_count{outcome="succeeded"} 1.0' in text
    assert "process_resident_memory_bytes" in text
