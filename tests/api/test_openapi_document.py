"""The OpenAPI document as a generated client reads it: operation ids, examples, problem types."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from service.api.app import create_app
from service.api.openapi import STREAM_EXAMPLE
from service.api.problems import MEDIA_TYPE, PROBLEM_BASE, PROBLEM_TYPES
from service.settings import Settings

CONTRACT = json.loads(
    (Path(__file__).resolve().parents[2] / "schema" / "contract-v1.json").read_text("utf-8")
)
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    url = f"sqlite:///{tmp_path_factory.mktemp('openapi') / 'openapi.db'}"
    app = create_app(
        Settings(database_url=url, log_format="console"), migrate=False, configure_logs=False
    )
    return app.openapi()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def validator(document: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Validator:
    return jsonschema.Draft202012Validator({**schema, "components": document["components"]})


def test_every_operation_has_a_unique_camel_case_id(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(document)]

    assert [i for i in ids if not re.fullmatch(r"[a-z][a-zA-Z0-9]*", i)] == []
    assert len(ids) == len(set(ids))
    assert {"getStream", "listBoards", "createImport", "getImport", "replaceBoardRules"} <= set(ids)


def test_every_request_and_response_body_has_an_example_valid_against_its_schema(
    document: dict[str, Any],
) -> None:
    missing, invalid = [], []
    for method, path, operation in operations(document):
        bodies = list(operation.get("requestBody", {}).get("content", {}).items())
        for response in operation["responses"].values():
            bodies += list(response.get("content", {}).items())
        for media, content in bodies:
            schema = content.get("schema", {})
            if schema.get("format") == "binary":
                continue  # a workbook: described, not shown
            examples = (
                [e["value"] for e in content["examples"].values()]
                if "examples" in content
                else [content["example"]]
                if "example" in content
                else []
            )
            if not examples:
                missing.append(f"{method} {path} {media}")
            if "json" in media:
                for example in examples:
                    errors = list(validator(document, schema).iter_errors(example))
                    if errors:
                        where = list(errors[0].absolute_path)
                        invalid.append(f"{method} {path}: {errors[0].message[:99]} {where}")

    assert missing == []
    assert invalid == []


def test_errors_are_problem_json_with_the_types_of_their_status_and_no_fastapi_422(
    document: dict[str, Any],
) -> None:
    wrong = []
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            content = response.get("content", {})
            slugs = list(content.get(MEDIA_TYPE, {}).get("examples", {}))
            if list(content) != [MEDIA_TYPE] or not slugs:
                wrong.append(f"{method} {path} {status}: {list(content)}")
            if content.get(MEDIA_TYPE, {}).get("schema") != PROBLEM_REF:
                wrong.append(f"{method} {path} {status}: not the Problem schema")
            wrong += [
                f"{method} {path} {status}: {slug}"
                for slug in slugs
                if PROBLEM_TYPES[slug].status != int(status)
            ]

    assert wrong == []
    assert "HTTPValidationError" not in json.dumps(document)


def by_id(document: dict[str, Any], operation_id: str) -> dict[str, Any]:
    return next(op for _, _, op in operations(document) if op["operationId"] == operation_id)


def slugs(operation: dict[str, Any], status: str) -> set[str]:
    return set(operation["responses"][status]["content"][MEDIA_TYPE]["examples"])


def test_each_operation_documents_the_problem_types_it_can_really_return(
    document: dict[str, Any],
) -> None:
    create_import = by_id(document, "createImport")
    list_boards = by_id(document, "listBoards")
    get_board = by_id(document, "getBoard")
    rules = by_id(document, "replaceBoardRules")

    assert slugs(create_import, "422") == {
        "validation-error",
        "invalid-dump",
        "idempotency-key-reused",
    }
    assert slugs(create_import, "400") == {"invalid-json"}
    assert slugs(list_boards, "400") == {"invalid-cursor"}
    assert slugs(get_board, "422") == {"validation-error"}
    assert slugs(rules, "422") == {"validation-error", "invalid-rules"}
    assert "422" not in by_id(document, "listConnections")["responses"]  # nothing to validate
    example = create_import["responses"]["422"]["content"][MEDIA_TYPE]["examples"]
    assert example["invalid-dump"]["value"]["type"] == PROBLEM_BASE + "invalid-dump"


def test_the_stream_example_is_a_contract_v1_stream(document: dict[str, Any]) -> None:
    schema = {"$defs": CONTRACT["$defs"], "$ref": "#/$defs/stream"}
    example = by_id(document, "getStream")["responses"]["200"]["content"]["application/json"]

    jsonschema.Draft202012Validator(schema).validate(STREAM_EXAMPLE)
    assert example["example"]["stream"] == STREAM_EXAMPLE
