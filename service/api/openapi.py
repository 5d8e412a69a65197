"""The OpenAPI document as generated clients and readers need it: camelCase operation ids, an
example on every body, and each operation's own problem types as ``application/problem+json``.

Done once, centrally, on the document FastAPI generates (``install`` in the app factory), so
route modules stay thin and declare only the statuses they answer with (``responses(...)``).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from service.api.problems import MEDIA_TYPE, PROBLEM_BASE, PROBLEM_TYPES, ProblemType
from service.domain.export import CSV_COLUMNS
from service.domain.portfolio_export import COLUMNS as PORTFOLIO_COLUMNS
from service.rules_file import RulesetFile

# Bodies that routes read themselves (YAML or JSON rules files) and reference by ``$ref``.
EXTRA_MODELS: tuple[type[BaseModel], ...] = (RulesetFile,)

RULES_EXAMPLE: dict[str, Any] = {
    "version": 1,
    "colors": {"blue": "step", "violet": "data", "gray": None},
    "tags": {"Blocker": "problem"},
    "streams": {"current": ["Ist", "Heute"], "target": ["Soll", "Morgen"]},
    "time": {"hours_per_day": 7.5},
    "precedence": "rules",
}

# Route function names that read badly as operation ids; the others are camelCased as they are
# (``get_stream`` -> ``getStream``, ``list_boards`` -> ``listBoards``).
OPERATION_IDS: dict[str, str] = {
    "trigger_board": "triggerBoardImport",
    "create_live_board": "connectLiveBoard",
    "get_rules": "getBoardRules",
    "put_rules": "replaceBoardRules",
    "get_labels": "getBoardLabels",
    "put_labels": "replaceBoardLabels",
    "classify": "classifyDump",
    "portfolio_chart": "getPortfolioChart",
    "board_diff": "getBoardDiff",
    "create_subscription_route": "createSubscription",
    "remote_boards": "listRemoteBoards",
    "remote_murals": "listRemoteMurals",
    "remove_connection": "deleteConnection",
    "healthz": "getHealth",
    "readyz": "getReadiness",
    "metrics": "getMetrics",
}

# Problem types an operation returns beyond those its statuses and parameters imply (see
# ``problem_slugs``), keyed by operation id. Found by reading the routes and their use cases.
EXTRA_PROBLEMS: dict[str, tuple[str, ...]] = {
    "createImport": ("invalid-dump", "idempotency-key-reused"),
    "classifyDump": ("invalid-dump", "invalid-rules"),
    "replaceBoardRules": ("invalid-rules",),
    "connectLiveBoard": ("provider-not-configured", "connection-needs-reauth"),
    "listRemoteBoards": ("provider-not-configured", "connection-needs-reauth"),
    "listRemoteMurals": ("provider-not-configured", "connection-needs-reauth"),
    "authorizeConnection": ("provider-not-configured",),
    "completeConnection": ("invalid-oauth-state", "oauth-refused", "provider-not-configured"),
    "getBoardSync": ("provider-not-configured",),
    "deleteConnection": ("provider-not-configured",),
}

# The one problem type of a status when nothing more specific applies.
_DEFAULT_SLUG = {
    400: "invalid-json",
    401: "unauthorized",
    403: "provider-forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    410: "link-expired",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    429: "too-many-requests",
    500: "internal-error",
    502: "provider-unavailable",
    503: "not-ready",
}

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

_MINUTES = {"process": 15.0, "lead": 2880.0, "wait": 2865.0}
# One contract v1 stream (schema/contract-v1.json ``$defs/stream``), as ``GET /v1/streams/{id}``
# serves it inside its storage envelope; tests check it against the JSON Schema.
STREAM_EXAMPLE: dict[str, Any] = {
    "id": "s-27cbaaf3f51f",
    "name": "Ist-Zustand",
    "state": "current",
    "frame_id": "3458764514023",
    "persona": "Lena, 34, beantragt online",
    "lanes": ["Kundin", "Backoffice"],
    "steps": [
        {
            "id": "st-d0306473a9fa",
            "order": 1,
            "title": "Antrag stellen",
            "lane": "Kundin",
            "value_adding": True,
            "process_time_min": 10.0,
            "lead_time_min": 10.0,
            "wait_time_min": 0.0,
            "complete_accurate_pct": 80.0,
            "source_item_ids": ["3458764514101"],
            "problem_ids": [],
        },
        {
            "id": "st-173145cf92e5",
            "order": 2,
            "title": "Antrag prüfen",
            "lane": "Backoffice",
            "value_adding": False,
            "process_time_min": _MINUTES["process"],
            "lead_time_min": _MINUTES["lead"],
            "wait_time_min": _MINUTES["wait"],
            "complete_accurate_pct": None,
            "source_item_ids": ["3458764514102"],
            "problem_ids": ["p-1e3012cb6234"],
        },
    ],
    "problems": [
        {
            "id": "p-1e3012cb6234",
            "text": "Freigabe dauert ewig",
            "step_id": "st-173145cf92e5",
            "weight": 5,
            "source_item_ids": ["3458764514201"],
        }
    ],
    "ideas": [
        {
            "id": "i-5b1f0c2d9e77",
            "text": "Self-Service-Portal",
            "step_id": "st-173145cf92e5",
            "source_item_ids": ["3458764514301"],
        }
    ],
    "metrics": {
        "step_count": 2,
        "value_adding_steps": 1,
        "non_value_adding_steps": 1,
        "total_process_time_min": 25.0,
        "total_lead_time_min": 2890.0,
        "activity_ratio": 0.0087,
        "rolled_complete_accurate": 0.8,
        "handoffs": 1,
        "problem_count": 1,
        "problem_weight": 5,
    },
}
_CAMEL_BREAK = re.compile(r"_+([a-z0-9])")


def operation_id(route: APIRoute) -> str:
    """``generate_unique_id_function`` of the app: a camelCase id that reads well in clients."""
    return OPERATION_IDS.get(route.name) or _CAMEL_BREAK.sub(
        lambda m: m.group(1).upper(), route.name
    )


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the polished document (built once, then cached)."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None or not app.openapi_schema.get("x-polished"):
            document = generate()
            polish(document)
            document["x-polished"] = True
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def polish(document: dict[str, Any]) -> None:
    """Problem responses per operation, examples on every body, no FastAPI 422 schema."""
    components = document.setdefault("components", {}).setdefault("schemas", {})
    _, extra = models_json_schema(
        [(model, "validation") for model in EXTRA_MODELS],
        ref_template="#/components/schemas/{model}",
    )
    for name, model_schema in extra.get("$defs", {}).items():
        components.setdefault(name, model_schema)
    components["RulesetFile"]["examples"] = [RULES_EXAMPLE]
    for name, model in components.items():
        stream = model.get("properties", {}).get("stream")
        if name.startswith("StreamPublic") and stream is not None:
            stream["examples"] = [STREAM_EXAMPLE]
    for operations in document.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in ("get", "put", "post", "delete", "patch"):
                continue
            _problems(operation)
            _body_examples(operation, components)
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)


def problem_slugs(operation: Mapping[str, Any], status: int) -> list[str]:
    """The problem types ``operation`` can answer with ``status``, most common first."""
    names = {p.get("name", "").lower() for p in operation.get("parameters", [])}
    body = operation.get("requestBody", {}).get("content", {})
    extra = EXTRA_PROBLEMS.get(operation.get("operationId", ""), ())
    slugs: list[str] = []
    if status == 400:
        if "cursor" in names:
            slugs.append("invalid-cursor")
        if any("json" in media or "multipart" in media for media in body):
            slugs.append("invalid-json")
    elif status == 422 and (names or body):
        slugs.append("validation-error")
    elif status in _DEFAULT_SLUG and status not in (400, 422):
        slugs.append(_DEFAULT_SLUG[status])
    slugs += [slug for slug in extra if PROBLEM_TYPES[slug].status == status]
    if not slugs and status in _DEFAULT_SLUG:
        slugs.append(_DEFAULT_SLUG[status])
    return list(dict.fromkeys(slugs))


def _problems(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    has_input = bool(operation.get("parameters") or operation.get("requestBody"))
    if not has_input:
        responses.pop("422", None)  # nothing to validate: FastAPI's default 422 cannot happen
    elif "422" not in responses:
        responses["422"] = {}
    for extra in EXTRA_PROBLEMS.get(operation.get("operationId", ""), ()):
        status = str(PROBLEM_TYPES[extra].status)
        if status not in responses and status in ("409", "503"):
            responses[status] = {}
    for status, response in list(responses.items()):
        if not status.isdigit() or int(status) < 400:
            continue
        kinds = [PROBLEM_TYPES[slug] for slug in problem_slugs(operation, int(status))]
        if not kinds:
            kinds = [ProblemType("internal-error", int(status), "Problem", "")]
        response["description"] = "; ".join(f"`{k.slug}`: {k.meaning}" for k in kinds)
        response["content"] = {
            MEDIA_TYPE: {
                "schema": dict(_PROBLEM_REF),
                "examples": {k.slug: _problem_example(k, operation) for k in kinds},
            }
        }


def _problem_example(kind: ProblemType, operation: Mapping[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = {
        "type": PROBLEM_BASE + kind.slug,
        "title": kind.title,
        "status": kind.status,
        "detail": kind.meaning.replace("`", ""),
        "instance": "/v1/boards/17",
        "request_id": "410843722c124c5ab8aefe85ffbf9da4",
    }
    if kind.slug in ("validation-error", "invalid-rules"):
        names = [p.get("name") for p in operation.get("parameters", []) if p.get("name")]
        where = f"query.{names[0]}" if names else "body"
        value["errors"] = [{"field": where, "message": "must be a positive integer"}]
    return {"summary": kind.title, "value": value}


_TEXT_EXAMPLES = {
    "text/csv": ",".join(CSV_COLUMNS) + "\r\n",
    "text/markdown": "## Ist-Zustand\n\n| # | Step | PT | LT |\n|---|---|---|---|\n"
    "| 1 | Antrag prüfen | 15 min | 2 d |\n",
    "image/svg+xml": '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 760 420" '
    'role="img"><title>Value stream map: Ist-Zustand</title>...</svg>',
    "text/html": '<!doctype html><html lang="en"><head><title>Onboarding: report</title>'
    "</head><body>...</body></html>",
    "text/plain": "# HELP vsm_http_requests_total Requests answered.\n"
    "# TYPE vsm_http_requests_total counter\n"
    'vsm_http_requests_total{method="GET",route="/v1/boards",status="200"} 42\n',
}


def _body_examples(operation: dict[str, Any], components: Mapping[str, Any]) -> None:
    contents: list[tuple[str, dict[str, Any]]] = []
    contents += operation.get("requestBody", {}).get("content", {}).items()
    for status, response in operation.get("responses", {}).items():
        if status.isdigit() and int(status) < 400:
            contents += response.get("content", {}).items()
    for media, content in contents:
        if "example" in content or "examples" in content:
            continue
        schema = content.get("schema") or {}
        if media.startswith("text/csv") and "portfolio" in operation.get("operationId", "").lower():
            content["example"] = ",".join(PORTFOLIO_COLUMNS) + "\r\n"
        elif media in _TEXT_EXAMPLES and not schema.get("$ref"):
            content["example"] = _TEXT_EXAMPLES[media]
        elif "json" in media or media.startswith("multipart/"):
            content["example"] = example_of(schema, components)
        elif media.startswith("application/vnd.openxmlformats"):
            # a workbook is binary: described, not shown
            content["schema"] = {"type": "string", "format": "binary"}


def example_of(
    schema: Mapping[str, Any], components: Mapping[str, Any], name: str = "", depth: int = 0
) -> Any:
    """A plausible value valid against ``schema``: its own ``examples``/``default`` where it
    declares them, else one built from types, formats, bounds and the property's name."""
    if depth > 12:
        return None
    if "$ref" in schema:
        target = components.get(schema["$ref"].rsplit("/", 1)[-1], {})
        return example_of(target, components, name, depth + 1)
    for key in ("examples", "example"):
        if key in schema:
            found = schema[key]
            first = found[0] if key == "examples" and isinstance(found, list) else found
            return copy.deepcopy(first)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if schema.get("default") is not None:
        return copy.deepcopy(schema["default"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            branches = [b for b in schema[key] if b.get("type") != "null"] or schema[key]
            return example_of(branches[0], components, name, depth + 1)
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = example_of(part, components, name, depth + 1)
            if isinstance(value, dict):
                merged.update(value)
        extra = {k: v for k, v in schema.items() if k != "allOf"}
        if extra.get("properties"):
            merged.update(example_of(extra, components, name, depth + 1) or {})
        return merged
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None and "properties" in schema:
        kind = "object"
    if kind == "object":
        properties = schema.get("properties", {})
        if properties:
            return {
                key: example_of(sub, components, key, depth + 1) for key, sub in properties.items()
            }
        extra_schema = schema.get("additionalProperties")
        if isinstance(extra_schema, dict) and extra_schema:
            return {"team": example_of(extra_schema, components, "team", depth + 1)}
        return {}
    if kind == "array":
        item = example_of(schema.get("items", {}), components, name, depth + 1)
        return [item] * max(1, int(schema.get("minItems", 1)))
    if kind == "string":
        return _string(schema, name)
    if kind == "integer":
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)
        return max(int(low), 1 if low <= 1 else int(low))
    if kind == "number":
        low = float(schema.get("minimum", schema.get("exclusiveMinimum", 0)))
        high = float(schema.get("maximum", schema.get("exclusiveMaximum", low + 100)))
        return round(low + (high - low) / 4, 2)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _string(schema, name) if name else {}


_NAMED_STRINGS = {
    "name": "Onboarding",
    "board_name": "Onboarding VSM",
    "title": "Antrag prüfen",
    "text": "Freigabe dauert ewig",
    "key": "s-27cbaaf3f51f",
    "provider": "miro",
    "external_id": "uXjVN1234567=",
    "next_cursor": "eyJhZnRlciI6Mn0",
    "cursor": "eyJhZnRlciI6Mn0",
    "state": "current",
    "url": "https://hooks.example.com/valuestream",
    "secret": "whsec_3q2-example",
    "token": "eyJib2FyZCI6MTd9.example",
}


def _string(schema: Mapping[str, Any], name: str) -> str:
    fmt = schema.get("format")
    if fmt == "date-time":
        return "2026-03-02T09:30:00Z"
    if fmt == "date":
        return "2026-03-02"
    if fmt in ("uri", "url"):
        return "https://valuestream.example/v1/boards/17"
    if fmt == "binary":
        return "(the file's bytes)"
    text = _NAMED_STRINGS.get(name) or (
        "s-27cbaaf3f51f" if name.endswith("id") else name.replace("_", " ") or "text"
    )
    low, high = int(schema.get("minLength", 0)), int(schema.get("maxLength", 10_000))
    return (text * (low // max(1, len(text)) + 1))[: max(high, low)]
