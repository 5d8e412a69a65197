"""``POST /v1/classify``: digitize a dump with optional rules and store nothing (a preview)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from service.api.deps import (
    SettingsDep,
    WorkspaceDep,
    parse_json,
    read_json_upload,
    read_yaml_rules,
    to_board,
    validated_rules,
)
from service.api.problems import ProblemError, responses
from service.api.schemas import ClassifyCreate
from service.domain.digitize import digitize
from service.domain.ruleset import Ruleset
from service.rules_file import parse_rules

router = APIRouter(tags=["classify"])

_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["dump"],
                    "properties": {
                        "dump": {"type": "object", "description": "A Miro or Mural dump"},
                        "rules": {"$ref": "#/components/schemas/RulesetFile"},
                    },
                }
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "rules": {
                            "type": "string",
                            "format": "binary",
                            "description": "Rules file as YAML or JSON (docs/rules.md)",
                        },
                    },
                }
            },
        },
    }
}


def _rules(data: object, field: str) -> Ruleset | None:
    if data is None:
        return None
    return parse_rules(validated_rules(data, field))  # validated: parses without error


def _preview(raw: bytes, rules_raw: bytes | None, multipart: bool) -> dict[str, Any]:
    body = parse_json(raw, "dump" if multipart else "body")
    if multipart:
        # the rules part is a rules file as the docs write it: YAML (JSON is YAML too)
        dump, rules = body, read_yaml_rules(rules_raw) if rules_raw else None
    else:
        try:
            request = ClassifyCreate.model_validate(body)
        except ValidationError as exc:
            raise ProblemError(
                "validation-error",
                "The body must be an object with a 'dump' (and optional 'rules').",
                errors=[
                    {"field": ".".join(["body", *(str(p) for p in e["loc"])]), "message": e["msg"]}
                    for e in exc.errors()[:20]
                ],
            ) from exc
        dump, rules = request.dump, request.rules
    ruleset = _rules(rules, "body.rules")
    board = to_board(dump)
    result: dict[str, Any] = digitize(board, ruleset)
    return result


@router.post(
    "/classify",
    summary="Preview the digitized streams of a dump",
    description="Classifies a dump with optional rules and returns contract v1. Stores nothing.",
    responses=responses(400, 401, 413, 415, 422),
    openapi_extra=_BODY,
)
async def classify(request: Request, settings: SettingsDep, _: WorkspaceDep) -> dict[str, Any]:
    upload = await read_json_upload(request, settings.max_dump_bytes, file_field="file")
    multipart = request.headers.get("content-type", "").lower().startswith("multipart/")
    if not multipart:
        upload_raw, rules_raw = upload.raw, None
    else:
        upload_raw, rules_raw = upload.raw, upload.fields.get("rules")
    result: dict[str, Any] = await run_in_threadpool(_preview, upload_raw, rules_raw, multipart)
    return result
