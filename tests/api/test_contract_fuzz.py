"""The API under a fuzzer: schemathesis generates requests from the app's own OpenAPI document
and every answer must be a documented, schema-valid answer, never a server error.

Bounded and reproducible: a fixed seed (derandomized Hypothesis) and a few examples per
operation. Runs on SQLite here and on PostgreSQL too where it is available (CI).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import MakeClient, Workspace

MAX_EXAMPLES = 8
# The slowest single test (every operation, twice per backend): out of the quick loop, in CI.
pytestmark = pytest.mark.slow


@schemathesis.check
def no_internal_error(ctx, response, case):  # type: ignore[no-untyped-def]
    """A 500 is a bug. Other 5xx are deliberate, documented answers (503 provider not
    configured, database unreachable; 502 provider failed), which status_code_conformance and
    response_schema_conformance check like any other answer."""
    if response.status_code == 500:
        raise AssertionError(f"500 Internal Server Error: {response.text[:300]}")


@pytest.fixture
def fuzzed(make_client: MakeClient) -> Iterator[TestClient]:
    with make_client(encryption_keys=[Fernet.generate_key().decode()]) as client:
        yield client


def test_every_operation_answers_as_documented_and_never_with_a_server_error(
    fuzzed: TestClient, alice: Workspace
) -> None:
    api = schemathesis.openapi.from_asgi("/openapi.json", fuzzed.app)
    failures: dict[str, str] = {}
    for result in api.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(
                headers=alice.headers,
                checks=[
                    no_internal_error,
                    status_code_conformance,
                    content_type_conformance,
                    response_schema_conformance,
                ],
            )

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:
            failures[operation.label] = " ".join(str(exc).split())[:3000]

    assert failures == {}
